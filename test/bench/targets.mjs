// The "Done when" table of issue 11, computed from one `npm run bench` run: each target is a row
// (what is compared, the measured ratio, the limit, whether it is met), every ratio taken
// against baselines measured on the same wrangler dev in the same run. To add a target, add a
// row to TARGETS: `measure` gets the run's results and returns { value, detail }.

/** @typedef {{ n: number, p50: number, p99: number, mean: number }} Summary */
/**
 * @typedef {{
 *   latency: { health: Summary, tool: Summary },
 *   calls: { sequential: { through: Summary, direct: Summary, whoami: Summary },
 *            concurrent: { users: number, whoami: { wall: Summary }, healthz: { wall: Summary } } },
 *   upstream: { through: Summary, direct: Summary, whoami: Summary },
 *   bundle: { gzipKiB: number },
 * }} BenchRun
 */

const ms = (x) => `${x.toFixed(2)} ms`;
const perSecond = (users, wall) => (users / wall.mean) * 1000;

/**
 * @type {Array<{ name: string, limit: string, ok: (value: number) => boolean,
 *                 measure: (run: BenchRun) => { value: number, shown: string, detail: string } }>}
 */
export const TARGETS = [
  {
    name: "whoami p50 / GET /healthz p50",
    limit: "<= 1.5x",
    ok: (value) => value <= 1.5,
    measure: ({ latency: { tool, health } }) => ({
      value: tool.p50 / health.p50,
      shown: `${(tool.p50 / health.p50).toFixed(2)}x`,
      detail: `${ms(tool.p50)} / ${ms(health.p50)}`,
    }),
  },
  {
    name: "call_integration_api p50 / (whoami p50 + direct p50)",
    limit: "<= 1.1x",
    ok: (value) => value <= 1.1,
    measure: ({ calls: { sequential: s } }) => {
      const value = s.through.p50 / (s.whoami.p50 + s.direct.p50);
      return {
        value,
        shown: `${value.toFixed(2)}x`,
        detail: `${ms(s.through.p50)} / (${ms(s.whoami.p50)} + ${ms(s.direct.p50)})`,
      };
    },
  },
  {
    name: "whoami, 50 people at once: throughput / GET /healthz with 50 in flight",
    limit: ">= 50%",
    ok: (value) => value >= 0.5,
    measure: ({ calls: { concurrent: c } }) => {
      const whoami = perSecond(c.users, c.whoami.wall);
      const health = perSecond(c.users, c.healthz.wall);
      return {
        value: whoami / health,
        shown: `${((whoami / health) * 100).toFixed(0)}%`,
        detail: `${whoami.toFixed(0)} calls/s / ${health.toFixed(0)} requests/s (${c.users} in flight)`,
      };
    },
  },
  {
    name: "upstream tool call p50 / (whoami p50 + direct upstream p50)",
    limit: "<= 1.1x",
    ok: (value) => value <= 1.1,
    measure: ({ upstream: u }) => {
      const value = u.through.p50 / (u.whoami.p50 + u.direct.p50);
      return {
        value,
        shown: `${value.toFixed(2)}x`,
        detail: `${ms(u.through.p50)} / (${ms(u.whoami.p50)} + ${ms(u.direct.p50)})`,
      };
    },
  },
  {
    name: "bundle, gzip of the minified deploy",
    limit: "<= 300 KiB",
    ok: (value) => value <= 300,
    measure: ({ bundle }) => ({ value: bundle.gzipKiB, shown: `${bundle.gzipKiB.toFixed(1)} KiB`, detail: "" }),
  },
];

/**
 * The Done-when rows for one run, ready for `table()`.
 * @param {BenchRun} run
 */
export function targetRows(run) {
  return [
    ["Done when (issue 11)", "measured", "target", "met", "from"],
    ...TARGETS.map((target) => {
      const { value, shown, detail } = target.measure(run);
      return [target.name, shown, target.limit, target.ok(value) ? "PASS" : "FAIL", detail];
    }),
  ];
}
