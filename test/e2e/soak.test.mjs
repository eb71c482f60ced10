// The soak's CI-sized variant (the full one is `npm run soak`, test/soak/soak.mjs): the same code
// with 4 people x 20 steps, one SIGKILL and restart of the dev server on its persisted state,
// and every fault at least once (provider 500, slow body, one hang ended by Countersign's 20 s
// deadline, upstream access tokens expired so every person refreshes, a failed refresh, dropped
// upstream connections). Every figure must be zero or ok, except the three that need a deadline
// to pass: the shortest grant lasts 5 minutes and a request stays pending 10, longer than this
// run may take, so those are "not measured" here unless something did reach its deadline, and
// then they must be ok. The full run waits for both and measures them.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatFigures } from "../soak/figures.mjs";
import { runSoak } from "../soak/run.mjs";

const PEOPLE = 4;
const CALLS = 20;
/** Figures measured only once a 5-minute grant or a 10-minute pending request has reached its deadline. */
const NEEDS_A_DEADLINE = new Set([
  "grants usable after expiry",
  "pending requests past their expiry",
  "approved grants past their end",
]);

test("the soak, CI-sized: every figure is zero or ok", { timeout: 180_000 }, async () => {
  const lines = [];
  const result = await runSoak({
    people: PEOPLE,
    calls: CALLS,
    concurrency: 4,
    hangs: 1,
    parallelUses: 20,
    waitForExpiry: false,
    // 80 steps: each of the three upstream faults happens at least twice.
    upstreamFaultEvery: 12,
    log: (line) => lines.push(line),
  });
  const report = formatFigures(result.figures);
  console.log(`soak ${PEOPLE}x${CALLS} in ${(result.wallMs / 1000).toFixed(1)} s\n${report}`);
  assert.equal(result.tally.calls, PEOPLE * CALLS, "every step ran");
  assert.equal(result.restarts, 1, "the dev server was killed and restarted once");
  for (const action of [
    "read",
    "upstream",
    "fail500",
    "hang",
    "fault: expire tokens",
    "fault: fail a refresh",
    "fault: drop connections",
  ]) {
    assert.ok(
      (result.tally.actions.get(action) ?? 0) >= 1,
      `${action} happened: ${JSON.stringify([...result.tally.actions])}`,
    );
  }
  for (const figure of result.figures) {
    if (NEEDS_A_DEADLINE.has(figure.name)) assert.notEqual(figure.ok, false, `${figure.name}: ${figure.detail}`);
    else assert.equal(figure.ok, true, `${figure.name} = ${figure.value}: ${figure.detail}\n${lines.join("\n")}`);
  }
});
