// Benchmark part: the pure grant decision. Bundles src/grants/decide.ts for Node with esbuild's JS
// API and times `decide(grants, call, connectionId, now)` with 1, 100 and 10 000 grants shaped
// like src/grants/types.ts: all but one closed, expired by the clock, or another connection's;
// the one live grant that allows the call is last, so every grant is looked at.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { REPO_ROOT } from "../e2e/lib/fixture.mjs";

const ME = "conn_bench_me";
const NOW = Date.UTC(2026, 0, 1);
const BATCH_MS = 100;
const BATCHES = 7;

/** Bundle decide.ts (and what it imports) to a temporary ES module and import it. */
async function loadDecide() {
  const outdir = await mkdtemp(join(tmpdir(), "countersign-decide-"));
  try {
    const outfile = join(outdir, "decide.mjs");
    await build({
      entryPoints: [join(REPO_ROOT, "src/grants/decide.ts")],
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      outfile,
      logLevel: "silent",
    });
    const module = await import(pathToFileURL(outfile).href);
    if (typeof module.decide !== "function") throw new Error("decide.ts does not export decide()");
    return module.decide;
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}

/** One grant as the Durable Object holds it (src/grants/types.ts `Grant`). */
function grant(i, overrides) {
  return {
    id: `req_${String(i).padStart(22, "0")}`,
    kind: "broad",
    status: "approved",
    connectionId: ME,
    clientName: "Benchmark client",
    reason: "benchmark",
    requestedLevel: "write",
    requestedProviders: ["github", "linear"],
    requestedDurationSeconds: 300,
    call: null,
    callFingerprint: null,
    level: "read",
    providers: ["github"],
    durationSeconds: 300,
    note: null,
    requestedAt: NOW - 60_000,
    pendingExpiresAt: NOW + 540_000,
    decidedAt: NOW - 30_000,
    expiresAt: NOW + 270_000,
    endedAt: null,
    ...overrides,
  };
}

/** A grant that must not allow the call, cycling through the ways a grant can be out of play. */
function nonMatching(i) {
  switch (i % 6) {
    case 0:
      return grant(i, { status: "expired", endedAt: NOW - 1_000, expiresAt: NOW - 1_000 });
    case 1:
      return grant(i, { status: "denied", level: null, providers: [], decidedAt: NOW - 5_000, endedAt: NOW - 5_000 });
    case 2:
      return grant(i, { status: "revoked", endedAt: NOW - 2_000 });
    case 3:
      return grant(i, { connectionId: `conn_other_${i}` }); // live, but another client's
    case 4:
      return grant(i, { expiresAt: NOW - 1 }); // approved, but its time has passed (alarm not run yet)
    default:
      return grant(i, {
        kind: "call",
        status: "consumed",
        call: { method: "GET", url: "https://api.github.com/user", body: "", headers: [] },
        callFingerprint: "f".repeat(64),
        endedAt: NOW - 3_000,
      });
  }
}

/** `count` grants, the only live match last. */
function grantsOf(count) {
  const grants = [];
  for (let i = 0; i < count - 1; i++) grants.push(nonMatching(i));
  grants.push(grant(count - 1, {}));
  return grants;
}

const CALL = {
  provider: "github",
  access: "read",
  call: { method: "GET", url: "https://api.github.com/user", body: "", headers: [] },
  fingerprint: "a".repeat(64),
};

/**
 * ns per decide() call: the median of BATCHES timed batches of about BATCH_MS each.
 * @param {Function} decide
 * @param {object[]} grants
 */
function time(decide, grants) {
  const expected = grants.at(-1).id;
  const once = () => {
    const decision = decide(grants, CALL, ME, NOW);
    if (!decision.allow || decision.grant.id !== expected) throw new Error("decide() did not allow via the last grant");
  };
  once();
  // Calibrate a batch size that takes about BATCH_MS, warming up the JIT on the way.
  let ops = 1;
  for (;;) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) once();
    const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
    if (elapsedMs >= BATCH_MS / 4) {
      ops = Math.max(1, Math.round((ops * BATCH_MS) / elapsedMs));
      break;
    }
    ops *= 4;
  }
  const perOp = [];
  for (let b = 0; b < BATCHES; b++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) once();
    perOp.push(Number(process.hrtime.bigint() - start) / ops);
  }
  perOp.sort((x, y) => x - y);
  return { ns: perOp[Math.floor(perOp.length / 2)], ops: ops * BATCHES };
}

/** @param {number[]} sizes */
export async function measureDecide(sizes = [1, 100, 10_000]) {
  const decide = await loadDecide();
  return sizes.map((count) => ({ count, ...time(decide, grantsOf(count)) }));
}
