// The one dev-server-and-Chromium fixture of the e2e suite and the benchmark. It starts
// `wrangler dev` on free ports with a fresh persisted state dir and waits for /healthz, and
// (when asked) Debian's /usr/bin/chromium, headless, with a fresh --user-data-dir, driven by
// playwright-core over CDP; phone pages are 390×844 contexts with no cookies; screenshots go to
// test-results/screenshots/. Invariants: each process runs in its own process group, and stop()
// always kills both groups (SIGTERM, then SIGKILL) and removes their temporary dirs, also when
// start-up failed halfway; a test process that exits without its after() hooks still kills them.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { access, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { fetchWithTimeout, freePort, sleep, withTimeout } from "./util.mjs";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const WRANGLER_BIN = join(REPO_ROOT, "node_modules/wrangler/bin/wrangler.js");
export const CHROMIUM_PATH = "/usr/bin/chromium";
const LOG_DIR = join(REPO_ROOT, "test-results/logs");
const SCREENSHOT_DIR = join(REPO_ROOT, "test-results/screenshots");

/** Environment every wrangler invocation gets: no network calls home, no banner. */
export const WRANGLER_ENV = {
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_HIDE_BANNER: "true",
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_SEND_ERROR_REPORTS: "false",
};

/** The flags Debian's Chromium needs in this container (no sandbox, no GPU, nothing phoning home). */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  // As under Playwright's own launch: a goBack() restored from the back/forward cache fires no
  // load event, which the tests' waits for navigation rely on.
  "--disable-back-forward-cache",
];

export const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

/**
 * @typedef {object} DevServer
 * @property {string} origin        `http://localhost:<port>`: the only origin tokens are bound to
 * @property {string} resource      `<origin>/mcp`
 * @property {number} port
 * @property {string} cookieSecret
 * @property {string} vaultKeys
 * @property {string} logPath
 * @property {() => string} logs    everything wrangler printed so far (stdout + stderr)
 * @property {string} persistDir   the --persist-to dir (removed by stop() unless it was given in `state`)
 * @property {() => Promise<void>} stop
 * @property {() => Promise<void>} kill   SIGKILL the whole process group at once (a crash), then clean up as stop()
 */

/**
 * What a restarted dev server must reuse to serve the same persisted state to the same clients:
 * tokens are bound to the origin (so the port), vault records to the vault keys, cookies to the
 * cookie secret. A server started with `state` leaves `persistDir` in place when it stops.
 * @typedef {object} DevServerState
 * @property {number} port
 * @property {string} cookieSecret
 * @property {string} vaultKeys
 * @property {string} persistDir
 */

/**
 * @typedef {object} Fixture
 * @property {DevServer} server
 * @property {import("playwright-core").Browser | undefined} browser   set when started with `chromium: true`
 * @property {() => Promise<PhonePage>} openPhone   a fresh phone-sized context (no cookies) and its page
 * @property {(page: import("playwright-core").Page, name: string) => Promise<void>} screenshot
 *   a full-page screenshot to test-results/screenshots/<name>.png
 * @property {() => Promise<void>} stop   kills Chromium and the dev server; safe to call twice
 */

/**
 * @typedef {object} PhonePage
 * @property {import("playwright-core").BrowserContext} context
 * @property {import("playwright-core").Page} page
 * @property {string[]} dialogs      every dialog's message (each is dismissed)
 * @property {string[]} pageErrors   every uncaught page error
 */

/**
 * Start the dev server and, with `chromium: true`, the browser, at once. If either fails, the
 * other is stopped before the error is thrown.
 * @param {{ label: string, vars?: Record<string, string>, chromium?: boolean }} options
 * @returns {Promise<Fixture>}
 */
export async function startFixture({ label, vars = {}, chromium: withChromium = false }) {
  const started = await Promise.allSettled([
    startDevServer({ label, vars }),
    withChromium ? launchChromium(label) : Promise.resolve(undefined),
    mkdir(SCREENSHOT_DIR, { recursive: true }),
  ]);
  const [server, chromiumProcess] = started.map((result) => (result.status === "fulfilled" ? result.value : undefined));
  const stop = async () => {
    const stopped = await Promise.allSettled([chromiumProcess?.stop(), server?.stop()]);
    const failed = stopped.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
  };
  const failed = started.find((result) => result.status === "rejected");
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return {
    server,
    browser: chromiumProcess?.browser,
    openPhone: () => {
      if (!chromiumProcess) throw new Error(`fixture ${label} was started without chromium`);
      return openPhonePage(chromiumProcess.browser);
    },
    screenshot: (page, name) => page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true }),
    stop,
  };
}

/**
 * Start a dev server. Rejects (after killing it) if /healthz is not 200 within `readyTimeoutMs`
 * or if wrangler exits first.
 * @param {{ label: string, readyTimeoutMs?: number, vars?: Record<string, string>, state?: DevServerState }} options
 *   state: reuse this port, secrets and persisted state (a restart) instead of fresh ones
 * @returns {Promise<DevServer>}
 */
export async function startDevServer({ label, readyTimeoutMs = 60_000, vars = {}, state }) {
  const port = state?.port ?? (await freePort());
  const inspectorPort = await freePort();
  const origin = `http://localhost:${port}`;
  const cookieSecret = state?.cookieSecret ?? randomBytes(32).toString("base64url");
  const vaultKeys = state?.vaultKeys ?? `e2e:${randomBytes(32).toString("base64url")}`;
  const persistDir = state?.persistDir ?? (await mkdtemp(join(tmpdir(), `countersign-${label}-`)));
  const settings = { PUBLIC_URL: origin, DEV_SIGNIN: "enabled", COOKIE_SECRET: cookieSecret, VAULT_KEYS: vaultKeys };
  const args = [
    WRANGLER_BIN,
    ...["dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort)],
    ...["--persist-to", persistDir, "--show-interactive-dev-session=false"],
    // E2E_MINIFY=1 serves the minified build `npm run size` measures (and keep_names = false
    // leaves it without function names), to run any e2e file against that code.
    ...(process.env.E2E_MINIFY === "1" ? ["--minify"] : []),
    ...Object.entries({ ...settings, ...vars }).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
  ];
  const child = await startGroup(process.execPath, args, {
    logName: `${label}.wrangler.log`,
    tempDir: state ? null : persistDir,
    // wrangler's own debug log file goes to the persistence dir, not the user's home.
    env: { ...WRANGLER_ENV, WRANGLER_LOG_PATH: join(persistDir, "wrangler-debug-logs"), CI: "1" },
  });
  const server = {
    origin,
    resource: `${origin}/mcp`,
    port,
    cookieSecret,
    vaultKeys,
    logPath: child.logPath,
    logs: child.output,
    persistDir,
    stop: child.stop,
    kill: child.kill,
  };
  try {
    await waitForHealth(origin, readyTimeoutMs, child.isAlive);
  } catch (error) {
    await child.stop();
    throw new Error(`${error.message}\n--- wrangler output (${child.logPath}) ---\n${child.output().slice(-4000)}`);
  }
  return server;
}

/**
 * Launch Chromium with our flags and a fresh profile, and connect playwright-core to it.
 * @param {string} label   names the log file
 */
async function launchChromium(label, readyTimeoutMs = 30_000) {
  const found = await access(CHROMIUM_PATH).then(
    () => true,
    () => false,
  );
  if (!found) throw new Error(`${CHROMIUM_PATH} is missing`);
  const profile = await mkdtemp(join(tmpdir(), `countersign-chromium-${label}-`));
  const args = [...CHROMIUM_ARGS, `--user-data-dir=${profile}`, "--remote-debugging-port=0", "about:blank"];
  const child = await startGroup(CHROMIUM_PATH, args, { logName: `${label}.chromium.log`, tempDir: profile, env: {} });
  try {
    const endpoint = await waitForDevTools(child, readyTimeoutMs);
    const browser = await chromium.connectOverCDP(endpoint, { timeout: readyTimeoutMs });
    const stop = async () => {
      await withTimeout(browser.close(), 5_000, "closing Chromium").catch(() => {});
      await child.stop();
    };
    return { browser, stop };
  } catch (error) {
    await child.stop();
    throw new Error(`${error.message}\n--- chromium output (${child.logPath}) ---\n${child.output().slice(-4000)}`);
  }
}

/** @param {import("playwright-core").Browser} browser @returns {Promise<PhonePage>} */
async function openPhonePage(browser) {
  const context = await browser.newContext(PHONE);
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  /** @type {string[]} */
  const dialogs = [];
  /** @type {string[]} */
  const pageErrors = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    dialog.dismiss().catch(() => {});
  });
  page.on("pageerror", (error) => pageErrors.push(error.message));
  return { context, page, dialogs, pageErrors };
}

/**
 * Spawn `command` as the leader of a new process group, its output kept in memory and in
 * test-results/logs/<logName>. stop() kills the whole group and then removes `tempDir` (if any);
 * kill() sends SIGKILL to the group first, with no SIGTERM grace.
 * @param {string} command
 * @param {string[]} args
 * @param {{ logName: string, tempDir: string | null, env: Record<string, string> }} options
 */
async function startGroup(command, args, { logName, tempDir, env }) {
  await mkdir(LOG_DIR, { recursive: true });
  const logPath = join(LOG_DIR, logName);
  const logFile = createWriteStream(logPath);
  let output = "";
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  const capture = (chunk) => {
    output += chunk.toString();
    logFile.write(chunk);
  };
  child.stdout.on("data", capture);
  child.stderr.on("data", capture);
  let alive = true;
  /** @type {Promise<void>} */
  const exited = new Promise((resolveExit) => child.once("exit", () => resolveExit()));
  exited.then(() => {
    alive = false;
  });
  // Last resort if the test process exits without running its after() hooks.
  const killOnExit = () => child.pid && signalGroup(child.pid, "SIGKILL");
  process.once("exit", killOnExit);

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
    // Children (workerd, Chromium's renderers) share the group; none may outlive the leader.
    if (child.pid) signalGroup(child.pid, "SIGKILL");
    process.off("exit", killOnExit);
    await new Promise((done) => logFile.end(done));
    if (tempDir) await rm(tempDir, { recursive: true, force: true, maxRetries: 3 });
  };
  const kill = async () => {
    if (alive && child.pid) {
      signalGroup(child.pid, "SIGKILL");
      await Promise.race([exited, sleep(5_000)]);
    }
    await stop();
  };
  return { logPath, output: () => output, isAlive: () => alive, stop, kill };
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

/** Wait until Chromium prints its DevTools endpoint (it picks the port: --remote-debugging-port=0). */
async function waitForDevTools(child, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = /DevTools listening on (ws:\/\/\S+)/.exec(child.output());
    if (match) return match[1];
    if (!child.isAlive()) throw new Error(`${CHROMIUM_PATH} exited before it was ready`);
    await sleep(100);
  }
  throw new Error(`${CHROMIUM_PATH} printed no DevTools endpoint within ${timeoutMs} ms`);
}
