// Benchmark part (a script, not a test; no thresholds): where the time of one authenticated
// tool call goes. Starts a wrangler dev (with the acme custom provider on a local JSON API, as
// calls-bench.mjs), signs two people in, connects acme for the second and approves its read
// access, then for `whoami` (first person) and `call_integration_api` GET /v1/items (second):
// times N sequential calls (wall), and
// records a V8 CPU profile of another N calls through workerd's inspector (the Chrome DevTools
// protocol's Profiler domain, reached through wrangler's inspector proxy). The Worker and the
// person's Durable Object run in the same workerd isolate under wrangler dev, so the profile
// holds both. It prints, per call: CPU time, idle time (waiting on I/O: KV, the Durable Object's
// storage, the loopback network), self time per package, and inclusive time of the functions
// that make up each stage (a function's time counted once per sample, however deep it recurses).
// Nothing in src/ is changed or instrumented. The DevTools plumbing is in devtools.mjs, the
// stages in profile-stages.mjs.
// With --upstream it also profiles an upstream tool call (`bench__search_issues` on an open local
// upstream MCP server, set up as upstream-bench.mjs does) by a v2 SDK client.
// Usage: node test/bench/profile.mjs [--calls=250] [--interval-us=100] [--top=25] [--upstream]
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { decideByFetch } from "../e2e/lib/approval.mjs";
import { saveApiKey } from "../e2e/lib/connections.mjs";
import { acmeProviders, startFakeApi } from "../e2e/lib/fake-api.mjs";
import { startDevServer } from "../e2e/lib/fixture.mjs";
import { mcpHeaders, readJsonRpc, toolCallBody } from "../e2e/lib/mcp-raw.mjs";
import { signInRawClient } from "../e2e/lib/oauth.mjs";
import { startUpstreamMcp } from "../e2e/lib/upstream-mcp.mjs";
import { fetchWithTimeout } from "../e2e/lib/util.mjs";
import { callTool } from "./approval-wake.mjs";
import { attachSources, devtools, inspectorTarget } from "./devtools.mjs";
import { STAGES } from "./profile-stages.mjs";
import { sample, summarize, table } from "./stats.mjs";
import { NAMESPACED, readyUpstreamCaller, search } from "./upstream-bench.mjs";

function option(name, fallback) {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  const value = arg ? Number(arg.split("=")[1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
}

const CALLS = option("calls", 250);
const INTERVAL_US = option("interval-us", 100);
const TOP = option("top", 25);
const WARMUP = 30;
if (WARMUP + 2 * CALLS > 600)
  throw new Error("--calls: WARMUP + 2 × calls must stay within TOOL_LIMITER's 600 a minute");
/** --save=DIR writes each raw profile as DIR/<tool>.cpuprofile (opens in Chrome DevTools). */
const UPSTREAM = process.argv.includes("--upstream");
const SAVE_DIR = process.argv.find((a) => a.startsWith("--save="))?.slice("--save=".length);

/** One tools/call; throws unless it succeeded (and, with `status`, unless the API answered it). */
async function call(origin, token, tool, args, status) {
  const res = await fetchWithTimeout(`${origin}/mcp`, {
    method: "POST",
    headers: mcpHeaders(token),
    body: toolCallBody(tool, args),
  });
  const message = await readJsonRpc(res);
  const result = message.result;
  if (
    res.status !== 200 ||
    message.error ||
    result?.isError ||
    (status && result?.structuredContent?.status !== status)
  ) {
    throw new Error(`${tool}: HTTP ${res.status} ${JSON.stringify(message).slice(0, 300)}`);
  }
}

/**
 * Fold a CPU profile into per-package self time and per-stage inclusive time.
 * @param {{ nodes: any[], samples: number[], timeDeltas: number[] }} profile
 */
export function analyse(profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfByPackage = new Map();
  const selfByFunction = new Map();
  const stage = new Map(STAGES.map((s) => [s.name, 0]));
  let idle = 0;
  let total = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    total += us;
    const leaf = byId.get(id);
    const name = leaf.callFrame.functionName;
    if (name === "(idle)") {
      idle += us;
      return;
    }
    const where = leaf.callFrame.package ?? (name.startsWith("(") ? name : `(native or unmapped) ${name}`);
    selfByPackage.set(where, (selfByPackage.get(where) ?? 0) + us);
    const fn = `${name || "(anonymous)"} ${leaf.callFrame.source?.replace(/^.*node_modules\//, "").replace(/^(\.\.\/)+/, "") ?? ""}`;
    selfByFunction.set(fn, (selfByFunction.get(fn) ?? 0) + us);
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur).callFrame;
      for (const s of STAGES) {
        if (!seen.has(s.name) && s.match(frame)) {
          seen.add(s.name);
          stage.set(s.name, stage.get(s.name) + us);
        }
      }
    }
  });
  return { total, idle, cpu: total - idle, selfByPackage, selfByFunction, stage };
}

/** Profile `calls` sequential runs of `fn` and fold the result. */
async function profiled(session, fn, calls, label) {
  await session.send("Profiler.setSamplingInterval", { interval: INTERVAL_US });
  await session.send("Profiler.start");
  const started = performance.now();
  for (let i = 0; i < calls; i++) await fn();
  const wallMs = performance.now() - started;
  const { profile } = await session.send("Profiler.stop");
  if (SAVE_DIR) await writeFile(join(SAVE_DIR, `${label}.cpuprofile`), JSON.stringify(profile));
  await attachSources(profile);
  return { ...analyse(profile), wallMs };
}

function report(label, wall, folded) {
  const per = (us) => `${(us / 1000 / CALLS).toFixed(2)} ms`;
  console.log(
    `\n${label}: wall p50 ${wall.p50.toFixed(2)} ms, p99 ${wall.p99.toFixed(2)} ms (n ${wall.n}, unprofiled)`,
  );
  console.log(
    `profiled: ${CALLS} calls in ${(folded.wallMs / CALLS).toFixed(2)} ms each; isolate CPU ${per(folded.cpu)} per call, idle ${per(folded.idle)}`,
  );
  const packages = [...folded.selfByPackage].sort((a, b) => b[1] - a[1]).slice(0, TOP);
  console.log(
    table([
      ["self time by package", "per call", "of CPU"],
      ...packages.map(([p, us]) => [p, per(us), `${((us / folded.cpu) * 100).toFixed(1)}%`]),
    ]),
  );
  console.log();
  const functions = [...folded.selfByFunction].sort((a, b) => b[1] - a[1]).slice(0, TOP);
  console.log(
    table([
      ["self time by function", "per call", "of CPU"],
      ...functions.map(([f, us]) => [f.trim(), per(us), `${((us / folded.cpu) * 100).toFixed(1)}%`]),
    ]),
  );
  console.log();
  console.log(
    table([
      ["stage (inclusive)", "per call", "of CPU"],
      ...STAGES.map((s) => [
        s.name,
        per(folded.stage.get(s.name)),
        `${((folded.stage.get(s.name) / folded.cpu) * 100).toFixed(1)}%`,
      ]),
    ]),
  );
}

async function main() {
  const api = await startFakeApi({ record: false });
  const upstream = UPSTREAM ? await startUpstreamMcp({ requireAuth: false }) : null;
  let server;
  let session;
  let upstreamClient;
  try {
    server = await startDevServer({
      label: "bench-profile",
      vars: { CUSTOM_PROVIDERS: acmeProviders(api), ...(upstream ? { UPSTREAM_DEV_LOOPBACK: "enabled" } : {}) },
    });
    const { origin } = server;
    const itemsUrl = `${api.origin}/v1/items`;
    // Two connections: TOOL_LIMITER allows 600 calls a minute per connection, and each tool is
    // called WARMUP + 2 × CALLS times within about a minute.
    const watcher = await signInRawClient(origin, {
      email: "profile-whoami@example.com",
      clientName: "Profile whoami",
    });
    const { tokens, browser } = await signInRawClient(origin, { email: "profile@example.com", clientName: "Profile" });
    const saved = await saveApiKey(browser, "acme", "bench-key-profile");
    await saved.arrayBuffer();
    if (saved.status !== 303) throw new Error(`saving the API key: HTTP ${saved.status}`);
    const asked = await callTool(origin, tokens.access_token, "request_elevated_access", {
      kind: "broad",
      level: "read",
      providers: ["acme"],
      duration_minutes: 60,
      reason: "Profile: read my Acme items",
    });
    const decided = await decideByFetch(browser, asked.approval_url, { decision: "approve", duration: "3600" });
    if (decided.status !== 200) throw new Error(`approving: HTTP ${decided.status}`);

    const whoami = () => call(origin, watcher.tokens.access_token, "whoami", {});
    const through = () =>
      call(origin, tokens.access_token, "call_integration_api", { method: "GET", url: itemsUrl }, 200);
    const wallWhoami = summarize(await sample(whoami, { count: CALLS, warmup: WARMUP }));
    const wallThrough = summarize(await sample(through, { count: CALLS, warmup: WARMUP }));
    upstreamClient = upstream ? await readyUpstreamCaller(server, upstream, "profile-upstream@example.com") : null;
    const viaUpstream = () => search(upstreamClient, NAMESPACED);
    const wallUpstream = upstreamClient ? summarize(await sample(viaUpstream, { count: CALLS, warmup: WARMUP })) : null;

    session = await devtools(await inspectorTarget(server.port));
    await session.send("Profiler.enable");
    console.log(
      `Countersign CPU profile: ${CALLS} sequential calls each, V8 sampling every ${INTERVAL_US} µs, wrangler dev`,
    );
    report("tools/call whoami", wallWhoami, await profiled(session, whoami, CALLS, "whoami"));
    report(
      "tools/call call_integration_api GET /v1/items",
      wallThrough,
      await profiled(session, through, CALLS, "call_integration_api"),
    );
    if (wallUpstream) {
      report(
        `upstream tool call ${NAMESPACED}`,
        wallUpstream,
        await profiled(session, viaUpstream, CALLS, "upstream_tool_call"),
      );
    }
  } finally {
    session?.close();
    await upstreamClient?.close();
    await server?.stop();
    await api.close();
    await upstream?.close();
  }
}

await main();
