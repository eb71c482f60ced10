// DevTools plumbing for profile.mjs: finding the inspector of a running wrangler dev, a minimal
// Chrome DevTools protocol session to it, and mapping a V8 CPU profile's call frames back to
// their original sources through the dev bundle's source map. Reads only; changes nothing in the
// Worker it inspects.
import { execFile } from "node:child_process";
import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import WebSocket from "ws";
import { REPO_ROOT } from "../e2e/lib/fixture.mjs";
import { fetchWithTimeout } from "../e2e/lib/util.mjs";
import { decodeMappings, packageOf } from "./bundle-shares.mjs";

/**
 * The inspector port of the wrangler dev serving `port`: the fixture picks it and does not say,
 * so find the other TCP ports the same process listens on and ask each for DevTools targets.
 */
export async function inspectorTarget(port) {
  const { stdout } = await promisify(execFile)("ss", ["-ltnpH"]);
  const owner = stdout.split("\n").find((line) => line.includes(`:${port} `));
  const pid = owner && /pid=(\d+)/.exec(owner)?.[1];
  if (!pid) throw new Error(`no process found listening on ${port}`);
  const ports = stdout
    .split("\n")
    .filter((line) => line.includes(`pid=${pid},`))
    .map((line) => Number(/:(\d+)\s/.exec(line)?.[1]))
    .filter((p) => p && p !== port);
  for (const candidate of ports) {
    try {
      const res = await fetchWithTimeout(`http://127.0.0.1:${candidate}/json`, {}, 2_000);
      const targets = await res.json();
      const target = targets.find((t) => t.webSocketDebuggerUrl);
      if (target) return target.webSocketDebuggerUrl;
    } catch {
      // not the inspector
    }
  }
  throw new Error(`no DevTools target on the ports of pid ${pid}: ${ports.join(", ")}`);
}

/**
 * A minimal CDP session. Over the `ws` package (wrangler's and miniflare's own dependency, so
 * always installed with them): Node's built-in WebSocket is refused by wrangler's inspector
 * proxy's handshake, which answers it with a 101 that undici does not accept.
 */
export async function devtools(url) {
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  let nextId = 1;
  const pending = new Map();
  socket.on("message", (data) => {
    const message = JSON.parse(String(data));
    const waiter = message.id && pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(`${waiter.method}: ${message.error.message}`));
    else waiter.resolve(message.result);
  });
  return {
    send: (method, params = {}) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject, method });
        socket.send(JSON.stringify({ id, method, params }));
      }),
    close: () => socket.close(),
  };
}

/**
 * wrangler dev names its bundle by a bare file name (`index.js`); the file and its map are in
 * the newest .wrangler/tmp/dev-* of the repository while the dev server runs.
 */
async function devBundle(name) {
  const root = join(REPO_ROOT, ".wrangler/tmp");
  const dirs = (await readdir(root)).filter((d) => d.startsWith("dev-"));
  const stamped = await Promise.all(
    dirs.map(async (d) => ({ path: join(root, d, name), mtime: (await stat(join(root, d))).mtimeMs })),
  );
  const newest = stamped.sort((a, b) => b.mtime - a.mtime)[0];
  if (!newest) throw new Error(`no wrangler dev bundle in ${root}`);
  return newest.path;
}

/**
 * Give every call frame of the profile its original source path (`frame.source`, relative to
 * the repository where it is ours), from the dev bundle's source map next to the script.
 */
export async function attachSources(profile) {
  const maps = new Map();
  for (const node of profile.nodes) {
    const { url } = node.callFrame;
    if (!url || maps.has(url)) continue;
    maps.set(url, null);
    try {
      const path = url.startsWith("file:") ? fileURLToPath(url) : isAbsolute(url) ? url : await devBundle(url);
      const map = JSON.parse(await readFile(`${path}.map`, "utf8"));
      maps.set(url, { map, lines: decodeMappings(map.mappings), base: dirname(path) });
    } catch {
      // no map: the frame keeps no source
    }
  }
  for (const node of profile.nodes) {
    const frame = node.callFrame;
    const found = maps.get(frame.url);
    if (!found) continue;
    const segments = found.lines[frame.lineNumber] ?? [];
    let hit = -1;
    for (const [column, source] of segments) {
      if (column > frame.columnNumber) break;
      if (source >= 0) hit = source;
    }
    if (hit < 0) continue;
    frame.source = found.map.sources[hit];
    frame.package = packageOf(frame.source, found.base);
  }
}
