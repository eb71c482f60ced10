// Benchmark (a script, not a test; no thresholds): on a local wrangler dev, the latency of an
// authenticated stateless `tools/call whoami` against GET /healthz as the baseline; how fast a
// waiting `check_access_request` wakes after the Approve POST, against a wait_seconds 0 check of
// a decided request (approval-wake.mjs); the pure grant decision with 1, 100 and 10 000 grants
// (decide-bench.mjs); an authorised call_integration_api through Countersign against a direct
// request to the same local API, sequential and with many people at once (calls-bench.mjs); an
// upstream MCP tool call through Countersign against the same call made directly to the upstream
// MCP server, both with the v2 SDK client (upstream-bench.mjs); then the gzip size of the minified production bundle against the 300 KiB of issue 11;
// last, issue 11's Done-when table (targets.mjs) with every ratio from this one run.
// Usage: node test/bench/bench.mjs [--requests=200] [--warmup=20] [--approvals=30] [--users=50] [--rounds=10]
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { REPO_ROOT, startDevServer, WRANGLER_BIN, WRANGLER_ENV } from "../e2e/lib/fixture.mjs";
import { postToolCall, readJsonRpc } from "../e2e/lib/mcp-raw.mjs";
import { signInRawClient } from "../e2e/lib/oauth.mjs";
import { fetchWithTimeout } from "../e2e/lib/util.mjs";
import { measureApprovalWake } from "./approval-wake.mjs";
import { measureCalls } from "./calls-bench.mjs";
import { measureDecide } from "./decide-bench.mjs";
import { sample, summarize, table } from "./stats.mjs";
import { targetRows } from "./targets.mjs";
import { measureUpstream } from "./upstream-bench.mjs";

const BUDGET_KIB = 300;
const OVERALL_TIMEOUT_MS = 12 * 60_000;
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
const USERS = option("users", 50);
const ROUNDS = option("rounds", 10);

/** @type {import("../e2e/lib/fixture.mjs").DevServer | undefined} */
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
      [
        "Approve click -> the retried call returns (URL elicitation, v2)",
        String(approval.retried.n),
        ms(approval.retried.p50),
        ms(approval.retried.p99),
        ms(approval.retried.mean),
      ],
    ]),
  );
  console.log(
    `\n(each waiting check (wait_seconds=50) was started ${approval.settleMs} ms before the POST, after ${APPROVAL_WARMUP} warm-up rounds)`,
  );
  console.log(`ratio p50(wake) / p50(baseline check): ${(wake.p50 / baseline.p50).toFixed(2)}x`);
  console.log(`ratio p50(retried call) / p50(wake): ${(approval.retried.p50 / wake.p50).toFixed(2)}x`);

  const calls = await measureCalls(
    { requests: REQUESTS, warmup: WARMUP, users: USERS, rounds: ROUNDS },
    {
      onServer: (s) => {
        server = s;
      },
    },
  );
  printCalls(calls);

  const upstream = await measureUpstream(
    { requests: REQUESTS, warmup: WARMUP },
    {
      onServer: (s) => {
        server = s;
      },
    },
  );
  printUpstream(upstream);

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

  console.log();
  console.log(table(targetRows({ latency: { health, tool }, calls, upstream, bundle })));
}

/** @param {Awaited<ReturnType<typeof measureCalls>>} calls */
function printCalls({ sequential, concurrent, notes }) {
  const row = (label, x) => [label, String(x.n), ms(x.p50), ms(x.p99), ms(x.mean)];
  console.log();
  console.log(
    table([
      ["GET /v1/items on a local API, sequential", "n", "p50", "p99", "mean"],
      row("direct (baseline)", sequential.direct),
      row("call_integration_api through Countersign", sequential.through),
      row("whoami of the same person (no provider call)", sequential.whoami),
    ]),
  );
  console.log(
    `\nratio p50(through) / p50(direct): ${(sequential.through.p50 / sequential.direct.p50).toFixed(1)}x; ` +
      `overhead p50 ${ms(sequential.through.p50 - sequential.direct.p50)}, p99 ${ms(sequential.through.p99 - sequential.direct.p99)}`,
  );
  const { users, rounds, through, whoami, direct, healthz, setupMs } = concurrent;
  console.log();
  console.log(
    table([
      [`${users} people at once, ${rounds} rounds (after 1 warm-up round)`, "n", "p50", "p99", "mean"],
      row(`GET /healthz, ${users} in flight, per request (baseline)`, healthz.perCall),
      row("direct, per request (baseline)", direct.perCall),
      row("whoami on the same connections, per call", whoami.perCall),
      row("through Countersign, per call", through.perCall),
      row(`GET /healthz, ${users} in flight, whole round`, healthz.wall),
      row("direct, whole round", direct.wall),
      row("whoami, whole round", whoami.wall),
      row("through Countersign, whole round", through.wall),
    ]),
  );
  console.log(
    `\nratio p50 per call (through / direct): ${(through.perCall.p50 / direct.perCall.p50).toFixed(1)}x; ` +
      `throughput through Countersign ≈ ${((users / through.wall.mean) * 1000).toFixed(0)} calls/s, whoami ≈ ${((users / whoami.wall.mean) * 1000).toFixed(0)} calls/s, ` +
      `/healthz ≈ ${((users / healthz.wall.mean) * 1000).toFixed(0)} requests/s, direct ≈ ${((users / direct.wall.mean) * 1000).toFixed(0)} requests/s`,
  );
  console.log(
    `(setup of ${users} people: sign-in, API key, request, approval: ${(setupMs / 1000).toFixed(1)} s; each with its own CF-Connecting-IP)`,
  );
  for (const note of notes) console.log(`note: ${note}`);
}

/** @param {Awaited<ReturnType<typeof measureUpstream>>} upstream */
function printUpstream({ through, direct, whoami, eras }) {
  const row = (label, x) => [label, String(x.n), ms(x.p50), ms(x.p99), ms(x.mean)];
  console.log();
  console.log(
    table([
      ["upstream MCP tool search_issues (open server), sequential, v2 SDK client", "n", "p50", "p99", "mean"],
      row(`direct to the upstream (baseline; ${eras.direct} era)`, direct),
      row(`bench__search_issues through Countersign (upstream hop: ${eras.through} era)`, through),
      row("whoami by the same client on Countersign", whoami),
    ]),
  );
  console.log(
    `\nratio p50(through) / p50(direct): ${(through.p50 / direct.p50).toFixed(1)}x; ` +
      `overhead p50 ${ms(through.p50 - direct.p50)}, p99 ${ms(through.p99 - direct.p99)}`,
  );
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
