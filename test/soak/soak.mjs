// `npm run soak`: the soak with crashes and faults against a local wrangler dev (see run.mjs),
// then its figures, each with its number and ok or FAIL; the exit code is 1 if any is not ok.
// Parameters, by flag or environment (flags win):
//   --people=50 (SOAK_PEOPLE)  --calls=200 (SOAK_CALLS)  --concurrency=6 (SOAK_CONCURRENCY)
//   --hangs=4 (SOAK_HANGS)     --no-expiry-wait (SOAK_EXPIRY_WAIT=0) skips waiting for the
//   5-minute grant and the 10-minute pending request made before the restart to reach their
//   deadlines (the figures that need a deadline are then "n/a", which counts as not ok).
import { formatFigures } from "./figures.mjs";
import { runSoak } from "./run.mjs";

/** @param {string} name @param {string} env @param {number} fallback */
function option(name, env, fallback) {
  const flag = process.argv.find((arg) => arg.startsWith(`--${name}=`));
  const raw = flag ? flag.slice(name.length + 3) : process.env[env];
  const value = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} (${env}) must be a whole number`);
  return value;
}

const people = option("people", "SOAK_PEOPLE", 50);
const calls = option("calls", "SOAK_CALLS", 200);
const options = {
  people,
  calls,
  concurrency: Math.max(1, option("concurrency", "SOAK_CONCURRENCY", 6)),
  hangs: option("hangs", "SOAK_HANGS", 4),
  parallelUses: 20,
  waitForExpiry: !process.argv.includes("--no-expiry-wait") && process.env.SOAK_EXPIRY_WAIT !== "0",
  upstreamFaultEvery: Math.max(10, Math.floor((people * calls) / 30)),
  log: (/** @type {string} */ line) => console.log(line),
};

const result = await runSoak(options);
const { tally } = result;
console.log(`\nsoak: ${people} people x ${calls} steps, concurrency ${options.concurrency}`);
console.log(
  `wall time ${(result.wallMs / 1000).toFixed(1)} s (set-up ${(result.setupMs / 1000).toFixed(1)} s, load ${(result.loadMs / 1000).toFixed(1)} s)`,
);
console.log(`steps ${tally.calls}, calls seen to succeed ${tally.successes.length}`);
console.log(`actions: ${[...tally.actions].map(([name, count]) => `${name} ${count}`).join(", ")}`);
console.log(
  `failures seen by clients: ${[...tally.failures].map(([what, count]) => `${what} x${count}`).join("; ") || "none"}`,
);
for (const line of tally.unexpected) console.log(`unexpected: ${line}`);
console.log(`\n${formatFigures(result.figures)}`);
const failed = result.figures.filter((figure) => figure.ok !== true);
process.exitCode = failed.length === 0 ? 0 : 1;
