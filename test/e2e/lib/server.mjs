// Starts `wrangler dev` for one test file on free ports with a fresh persistence directory,
// waits for /healthz, captures its output (memory + a log file), and stops its process group.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { fetchWithTimeout, freePort, sleep } from "./util.mjs";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const WRANGLER_BIN = join(REPO_ROOT, "node_modules/wrangler/bin/wrangler.js");
const LOG_DIR = join(REPO_ROOT, "test-results/logs");

/** Environment every wrangler invocation gets: no network calls home, no banner. */
export const WRANGLER_ENV = {
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_HIDE_BANNER: "true",
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_SEND_ERROR_REPORTS: "false",
};

/**
 * @typedef {object} DevServer
 * @property {string} origin        `http://localhost:<port>`: the only origin tokens are bound to
 * @property {string} resource      `<origin>/mcp`
 * @property {number} port
 * @property {string} cookieSecret
 * @property {string} vaultKeys
 * @property {string} logPath
 * @property {() => string} logs    everything wrangler printed so far (stdout + stderr)
 * @property {() => Promise<void>} stop
 */

/**
 * Start a dev server. Rejects (after killing it) if /healthz is not 200 within `readyTimeoutMs`
 * or if wrangler exits first.
 * @param {{ label: string, readyTimeoutMs?: number, vars?: Record<string, string> }} options
 * @returns {Promise<DevServer>}
 */
export async function startDevServer({ label, readyTimeoutMs = 60_000, vars = {} }) {
  const port = await freePort();
  const inspectorPort = await freePort();
  const origin = `http://localhost:${port}`;
  const cookieSecret = randomBytes(32).toString("base64url");
  const vaultKeys = `e2e:${randomBytes(32).toString("base64url")}`;
  const persistDir = await mkdtemp(join(tmpdir(), `countersign-${label}-`));
  await mkdir(LOG_DIR, { recursive: true });
  const logPath = join(LOG_DIR, `${label}.wrangler.log`);
  const logFile = createWriteStream(logPath);
  let output = "";

  const args = [
    WRANGLER_BIN,
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(inspectorPort),
    "--persist-to",
    persistDir,
    "--show-interactive-dev-session=false",
    "--var",
    `PUBLIC_URL:${origin}`,
    "--var",
    "DEV_SIGNIN:enabled",
    "--var",
    `COOKIE_SECRET:${cookieSecret}`,
    "--var",
    `VAULT_KEYS:${vaultKeys}`,
    ...Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
  ];
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    // wrangler's own debug log file goes to the persistence dir, not the user's home.
    env: { ...process.env, ...WRANGLER_ENV, WRANGLER_LOG_PATH: join(persistDir, "wrangler-debug-logs"), CI: "1" },
  });
  const capture = (chunk) => {
    output += chunk.toString();
    logFile.write(chunk);
  };
  child.stdout.on("data", capture);
  child.stderr.on("data", capture);
  /** @type {Promise<void>} */
  const exited = new Promise((resolveExit) => child.once("exit", () => resolveExit()));
  let alive = true;
  // Last resort if the test process exits without running its after() hooks.
  const killOnExit = () => child.pid && signalGroup(child.pid, "SIGKILL");
  process.once("exit", killOnExit);
  exited.then(() => {
    alive = false;
  });

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (alive && child.pid) {
      signalGroup(child.pid, "SIGTERM");
      const gone = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
      if (!gone) {
        signalGroup(child.pid, "SIGKILL");
        await Promise.race([exited, sleep(2_000)]);
      }
    }
    // workerd children share the group; make sure none outlives wrangler.
    if (child.pid) signalGroup(child.pid, "SIGKILL");
    process.off("exit", killOnExit);
    await new Promise((done) => logFile.end(done));
    await rm(persistDir, { recursive: true, force: true, maxRetries: 3 });
  };

  const server = {
    origin,
    resource: `${origin}/mcp`,
    port,
    cookieSecret,
    vaultKeys,
    logPath,
    logs: () => output,
    stop,
  };
  try {
    await waitForHealth(origin, readyTimeoutMs, () => alive);
  } catch (error) {
    await stop();
    throw new Error(`${error.message}\n--- wrangler output (${logPath}) ---\n${output.slice(-4000)}`);
  }
  return server;
}

/** Send a signal to a whole process group; a group that is already gone is not an error. */
function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if (error.code !== "ESRCH") throw error;
  }
}

/** Poll GET /healthz until `{"status":"ok"}`, the deadline, or the process dying. */
async function waitForHealth(origin, timeoutMs, isAlive) {
  const deadline = Date.now() + timeoutMs;
  let last = "no response yet";
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error("wrangler dev exited before it was ready");
    try {
      const res = await fetchWithTimeout(`${origin}/healthz`, {}, 2_000);
      const body = await res.text();
      if (res.status === 200 && JSON.parse(body).status === "ok") return;
      last = `HTTP ${res.status}: ${body.slice(0, 200)}`;
    } catch (error) {
      last = error.message;
    }
    await sleep(250);
  }
  throw new Error(`wrangler dev not healthy after ${timeoutMs} ms (last: ${last})`);
}
