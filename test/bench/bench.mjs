// Benchmark (a script, not a test; no thresholds): on a local wrangler dev, the latency of an
// authenticated stateless `tools/call whoami` against GET /healthz as the baseline; how fast a
// waiting `check_access_request` wakes after the Approve POST, against a wait_seconds 0 check of
// a decided request (approval-wake.mjs); the pure grant decision with 1, 100 and 10 000 grants
// (decide-bench.mjs); then the gzip size of the minified production bundle against its 400 KiB budget.
// Usage: node test/bench/bench.mjs [--requests=200] [--warmup=20] [--approvals=30]
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { postToolCall, readJsonRpc } from "../e2e/lib/mcp-raw.mjs";
import { signInRawClient } from "../e2e/lib/oauth.mjs";
import { REPO_ROOT, startDevServer, WRANGLER_BIN, WRANGLER_ENV } from "../e2e/lib/server.mjs";
import { fetchWithTimeout } from "../e2e/lib/util.mjs";
import { measureApprovalWake } from "./approval-wake.mjs";
import { measureDecide } from "./decide-bench.mjs";
import { sample, summarize, table } from "./stats.mjs";

const BUDGET_KIB = 400;
const OVERALL_TIMEOUT_MS = 5 * 60_000;
const BUILD_TIMEOUT_MS = 120_000;

function option(name, fallback) {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  const value = arg ? Number(arg.split("=")[1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
}

const REQUESTS = option("requests", 200);
const WARMUP = option("warmup", 20);
const APPROVALS = option("approvals", 30);
const APPROVAL_WARMUP = 3;

/** @type {import("../e2e/lib/server.mjs").DevServer | undefined} */
let server;

async function measureLatency() {
  server = await startDevServer({ label: "bench" });
  const { origin } = server;
  const { tokens } = await signInRawClient(origin, { email: "bench@example.com", clientName: "Benchmark client" });

  const whoami = async () => {
    const res = await postToolCall(origin, { accessToken: tokens.access_token });
    const message = await readJsonRpc(res);
    if (res.status !== 200 || message.error || message.result?.isError) {
      throw new Error(`whoami failed: HTTP ${res.status} ${JSON.stringify(message).slice(0, 300)}`);
    }
  };
  const healthz = async () => {
    const res = await fetchWithTimeout(`${origin}/healthz`);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`healthz: HTTP ${res.status}`);
  };

  const health = summarize(await sample(healthz, { count: REQUESTS, warmup: WARMUP }));
  const tool = summarize(await sample(whoami, { count: REQUESTS, warmup: WARMUP }));
  const approval = await measureApprovalWake(origin, {
    iterations: APPROVALS,
    warmup: APPROVAL_WARMUP,
    baselineCount: REQUESTS,
    baselineWarmup: WARMUP,
    email: "bench@example.com",
  });
  await server.stop();
  server = undefined;
  return { health, tool, approval };
}

async function measureBundle() {
  const outdir = await mkdtemp(join(tmpdir(), "countersign-bundle-"));
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [WRANGLER_BIN, "deploy", "--dry-run", "--minify", "--outdir", outdir],
      { cwd: REPO_ROOT, env: { ...process.env, ...WRANGLER_ENV }, timeout: BUILD_TIMEOUT_MS, maxBuffer: 16 << 20 },
    );
    const scripts = (await readdir(outdir)).filter((name) => name.endsWith(".js"));
    if (scripts.length === 0) throw new Error(`no .js in ${outdir}`);
    let raw = 0;
    let gzip = 0;
    for (const name of scripts) {
      const bytes = await readFile(join(outdir, name));
      raw += bytes.length;
      gzip += gzipSync(bytes).length;
    }
    const reported = /gzip:\s*([\d.]+)\s*KiB/.exec(`${stdout}\n${stderr}`)?.[1];
    return { files: scripts.join(", "), rawKiB: raw / 1024, gzipKiB: gzip / 1024, wranglerGzipKiB: reported };
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}

const ms = (x) => `${x.toFixed(2)} ms`;

async function main() {
  console.log(`Countersign benchmark: ${REQUESTS} sequential requests each after ${WARMUP} warm-up, wrangler dev`);
  const { health, tool, approval } = await measureLatency();
  console.log();
  console.log(
    table([
      ["request", "n", "p50", "p99", "mean"],
      ["GET /healthz (baseline)", String(health.n), ms(health.p50), ms(health.p99), ms(health.mean)],
      ["POST /mcp tools/call whoami", String(tool.n), ms(tool.p50), ms(tool.p99), ms(tool.mean)],
    ]),
  );
  console.log(`\nratio p50(whoami) / p50(healthz): ${(tool.p50 / health.p50).toFixed(2)}x`);

  const { wake, post, baseline } = approval;
  console.log();
  console.log(
    table([
      ["approval (same user's cookie, raw JSON-RPC)", "n", "p50", "p99", "mean"],
      [
        "check wait_seconds=0, decided (baseline)",
        String(baseline.n),
        ms(baseline.p50),
        ms(baseline.p99),
        ms(baseline.mean),
      ],
      ["Approve POST round trip", String(post.n), ms(post.p50), ms(post.p99), ms(post.mean)],
      ["Approve POST -> waiting check returns", String(wake.n), ms(wake.p50), ms(wake.p99), ms(wake.mean)],
    ]),
  );
  console.log(
    `\n(each waiting check (wait_seconds=50) was started ${approval.settleMs} ms before the POST, after ${APPROVAL_WARMUP} warm-up rounds)`,
  );
  console.log(`ratio p50(wake) / p50(baseline check): ${(wake.p50 / baseline.p50).toFixed(2)}x`);

  const decisions = await measureDecide();
  const one = decisions[0].ns;
  console.log();
  console.log(
    table([
      ["decide() (esbuild bundle of src/grants/decide.ts)", "calls", "ns/op", "vs 1 grant"],
      ...decisions.map((d) => [
        `${d.count.toLocaleString("en-US")} grant${d.count === 1 ? "" : "s"}, live match last`,
        d.ops.toLocaleString("en-US"),
        d.ns.toFixed(1),
        `${(d.ns / one).toFixed(1)}x`,
      ]),
    ]),
  );

  const bundle = await measureBundle();
  console.log();
  console.log(
    table([
      ["bundle (wrangler deploy --dry-run --minify)", "raw", "gzip", "budget", "of budget"],
      [
        bundle.files,
        `${bundle.rawKiB.toFixed(1)} KiB`,
        `${bundle.gzipKiB.toFixed(1)} KiB`,
        `${BUDGET_KIB} KiB`,
        `${((bundle.gzipKiB / BUDGET_KIB) * 100).toFixed(0)}%`,
      ],
    ]),
  );
  if (bundle.wranglerGzipKiB) console.log(`(wrangler's own gzip figure: ${bundle.wranglerGzipKiB} KiB)`);
}

const watchdog = setTimeout(async () => {
  console.error(`benchmark exceeded ${OVERALL_TIMEOUT_MS / 1000} s; stopping`);
  await server?.stop();
  process.exit(1);
}, OVERALL_TIMEOUT_MS);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, async () => {
    await server?.stop();
    process.exit(130);
  });
}

try {
  await main();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  await server?.stop();
  clearTimeout(watchdog);
}
