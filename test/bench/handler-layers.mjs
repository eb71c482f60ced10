// Benchmark part (a script, not a test; no thresholds): what each layer of the /mcp handling
// stack costs inside workerd, without the rest of the Worker. Starts `wrangler dev` on
// handler-layers/worker.mjs, then for each layer times GET /?layer=…&n=N against n=0 (the clock
// inside workerd only moves on I/O, so layers are timed from outside, many runs per request),
// layers interleaved round by round so a load that comes and goes falls on all of them.
// Prints microseconds per run (median and lowest of the rounds). Hot-loop figures: the JIT is
// warm and nothing else runs between two runs, so a layer costs more inside a real request;
// compare layers with each other, not with the profile.
// Usage: node test/bench/handler-layers.mjs [--runs=300] [--rounds=21]
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { REPO_ROOT, WRANGLER_BIN, WRANGLER_ENV } from "../e2e/lib/fixture.mjs";
import { fetchWithTimeout, freePort, sleep } from "../e2e/lib/util.mjs";
import { table } from "./stats.mjs";

const arg = (name, fallback) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);
const RUNS = arg("runs", 300);
const ROUNDS = arg("rounds", 21);

const port = await freePort();
const origin = `http://127.0.0.1:${port}`;
const config = join(dirname(fileURLToPath(import.meta.url)), "handler-layers/wrangler.toml");
const child = spawn(
  process.execPath,
  [
    WRANGLER_BIN,
    "dev",
    "--config",
    config,
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--show-interactive-dev-session=false",
  ],
  {
    cwd: REPO_ROOT,
    detached: true,
    stdio: "ignore",
    env: { ...process.env, ...WRANGLER_ENV, CI: "1" },
  },
);
const stop = () => {
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {}
};
process.once("exit", stop);

try {
  let names;
  for (let i = 0; i < 120 && !names; i++) {
    names = await fetchWithTimeout(`${origin}/layers`, {}, 2_000)
      .then((res) => (res.ok ? res.json() : undefined))
      .catch(() => undefined);
    if (!names) await sleep(500);
  }
  if (!names) throw new Error("the handler-layers worker did not start");
  const time = async (layer, n) => {
    const started = performance.now();
    const res = await fetchWithTimeout(`${origin}/?layer=${encodeURIComponent(layer)}&n=${n}`);
    await res.text();
    if (res.status !== 200) throw new Error(`${layer}: HTTP ${res.status}`);
    return performance.now() - started;
  };
  const perRun = Object.fromEntries(names.map((name) => [name, []]));
  for (const name of names) for (let i = 0; i < 3; i++) await time(name, RUNS); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of names) {
      const full = await time(name, RUNS);
      const empty = await time(name, 0);
      perRun[name].push(((full - empty) / RUNS) * 1000);
    }
  }
  const rows = [[`layer (${RUNS} runs a request, ${ROUNDS} rounds)`, "median", "lowest"]];
  for (const name of names) {
    const sorted = perRun[name].sort((a, b) => a - b);
    rows.push([name, `${sorted[Math.floor(sorted.length / 2)].toFixed(0)} µs`, `${sorted[0].toFixed(0)} µs`]);
  }
  console.log(table(rows));
} finally {
  stop();
}
