// The soak, start to end, shared by `npm run soak` (test/soak/soak.mjs) and its CI-sized variant
// (test/e2e/soak.test.mjs). On loopback only: a fake provider API (test/e2e/lib/soak-api.mjs), a
// fake upstream MCP server with its own OAuth (test/e2e/lib/upstream-mcp.mjs) and one `wrangler
// dev` on a persisted state dir. People are set up, then each runs `calls` steps of the load mix
// one after another while every call waits for a slot of one global bound (2 cores: the bound
// keeps wrangler fed, not starved). Faults: the server's process group is SIGKILLed halfway and
// restarted on the same state; the provider answers 500, drips, or hangs; the upstream drops
// connections, has its access tokens expired (every person refreshes) and fails a refresh.
// Afterwards everything is read back through the app and the figures are computed.
import { soakApiProviders, startSoakApi } from "../e2e/lib/soak-api.mjs";
import { startUpstreamMcp } from "../e2e/lib/upstream-mcp.mjs";
import { ACTIONS, parallelUses, pick } from "./actions.mjs";
import { collectFigures } from "./checks.mjs";
import { Person } from "./person.mjs";
import { ServerLife } from "./server-life.mjs";
import { Tally } from "./tally.mjs";
import { teeResponses } from "./wire.mjs";

/**
 * @typedef {object} SoakOptions
 * @property {number} people
 * @property {number} calls          steps per person
 * @property {number} concurrency    calls in flight at once, across all people
 * @property {number} hangs          provider calls that hang (each takes Countersign's 20 s deadline)
 * @property {number} parallelUses   parallel uses of one one-call approval, once before and once after the restart
 * @property {boolean} waitForExpiry wait until the 5-minute grant and the 10-minute pending request made
 *   before the restart have both reached their expiry
 * @property {number} upstreamFaultEvery  one upstream fault (token expiry, failed refresh, dropped connection) per this many steps
 * @property {(line: string) => void} log
 */

/** A bound on concurrent tasks. @param {number} max */
function semaphore(max) {
  let active = 0;
  /** @type {Array<() => void>} */
  const queue = [];
  return async (/** @type {() => Promise<any>} */ task) => {
    if (active >= max) await new Promise((resolve) => queue.push(() => resolve(undefined)));
    active++;
    try {
      return await task();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}

/** A small seeded PRNG (mulberry32), so a run's mix is reproducible. @param {number} seed */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** @param {SoakOptions} options */
export async function runSoak(options) {
  const { log } = options;
  const started = performance.now();
  const api = await startSoakApi();
  const upstream = await startUpstreamMcp();
  const life = new ServerLife({
    label: "soak",
    vars: { CUSTOM_PROVIDERS: soakApiProviders(api), UPSTREAM_DEV_LOOPBACK: "enabled" },
  });
  const tally = new Tally();
  /** @type {ReturnType<typeof teeResponses> | undefined} */
  let tee;
  try {
    await life.start();
    tee = teeResponses(life.origin);
    const ctx = { life, api, upstream, tally, limit: semaphore(options.concurrency) };
    const people = Array.from(
      { length: options.people },
      // Half the people hold 5-minute grants, which end during a long run and are asked for again.
      (_, index) => new Person(ctx, { id: `p${index}`, index, grantMinutes: index % 2 === 0 ? 5 : 60 }),
    );
    const checker = new Person(ctx, { id: "checker", index: options.people, grantMinutes: 60 });
    const expiry = new Person(ctx, { id: "expiry", index: options.people + 1, grantMinutes: 5 });
    log(`# dev server on ${life.origin}; setting up ${options.people} people`);
    await Promise.all([
      ...people.map((p) => p.setUp()),
      checker.setUp({ upstream: false }),
      expiry.setUp({ upstream: false }),
    ]);
    // A request nobody decides: after its 10 minutes the alarm must have expired it.
    const left = await expiry.call("request_elevated_access", {
      kind: "call",
      method: "DELETE",
      url: `${api.origin}/v1/items?soak=left-pending`,
      reason: "Soak: a request left undecided",
    });
    if (left.kind !== "ok") throw new Error("the undecided request was not created");
    const pendingId = left.result.structuredContent.request_id;
    const setupMs = performance.now() - started;
    log(`# set up in ${(setupMs / 1000).toFixed(1)} s`);

    /** @type {Array<{ successes: number, hits: number, refused: string[] }>} */
    const trials = [];
    trials.push(await parallelUses(checker, "checker-parallel-1", options.parallelUses));

    const total = options.people * options.calls;
    const restartAt = Math.floor(total / 2);
    let done = 0;
    /** @type {Promise<void> | undefined} */
    let restarting;
    const hangSteps = new Set(
      Array.from(
        { length: options.hangs },
        (_, i) => `p${i % options.people}:${Math.floor(((i + 1) * options.calls) / (options.hangs + 2))}`,
      ),
    );
    const upstreamFaults = ["expire tokens", "fail a refresh", "drop connections"];
    let nextFault = 0;
    const injectUpstreamFault = () => {
      const fault = upstreamFaults[nextFault++ % upstreamFaults.length];
      tally.ran(`fault: ${fault}`);
      if (fault === "expire tokens") upstream.expireAllAccessTokens();
      if (fault === "fail a refresh") {
        upstream.failNextRefreshes(1);
        upstream.expireAllAccessTokens();
      }
      if (fault === "drop connections") upstream.dropNextMcpRequests(2);
    };
    const loadStarted = performance.now();
    await Promise.all(
      people.map(async (p, index) => {
        const draw = random(1000 + index);
        for (let step = 0; step < options.calls; step++) {
          const action = hangSteps.has(`${p.id}:${step}`) ? "hang" : pick(draw());
          tally.ran(action);
          const generation = life.generation;
          try {
            await ACTIONS[action](p, `${p.id}-${step}`);
          } catch (error) {
            // A page request cut off by the crash; on a server that stayed up it is a finding.
            const down =
              life.generation !== generation &&
              /fetch failed|ECONNREFUSED|other side closed/i.test(`${error.message} ${error.cause?.message}`);
            if (down) tally.failure(action, "server down (restart)");
            else tally.surprise(`${p.id} step ${step} ${action}: ${error.message}`);
          }
          tally.calls++;
          done++;
          if (done % options.upstreamFaultEvery === 0) injectUpstreamFault();
          if (done === restartAt) {
            log(`# ${done}/${total} steps: SIGKILL the dev server's process group and restart it`);
            restarting = life.crashAndRestart();
            restarting.then(() => log(`# restarted in ${life.downtimesMs.at(-1)} ms`));
          }
          if (done % Math.max(1, Math.floor(total / 10)) === 0) log(`# ${done}/${total} steps`);
        }
      }),
    );
    await restarting;
    const loadMs = performance.now() - loadStarted;
    trials.push(await parallelUses(checker, "checker-parallel-2", options.parallelUses));

    const expiryGrant = expiry.grantId;
    const figures = await collectFigures({
      ...options,
      life,
      api,
      upstream,
      tally,
      tee,
      people: [...people, checker, expiry],
      expiry,
      expiryGrant,
      pendingId,
      trials,
    });
    return {
      figures,
      tally,
      setupMs,
      loadMs,
      wallMs: performance.now() - started,
      restarts: life.restarts,
      downtimesMs: life.downtimesMs,
    };
  } finally {
    await tee?.restore();
    await life.dispose();
    await api.close();
    await upstream.close();
  }
}
