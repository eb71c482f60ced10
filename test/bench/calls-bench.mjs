// Benchmark part: the cost of an authorised `call_integration_api` through Countersign. A local
// JSON API (node:http on 127.0.0.1, GET /v1/items) is declared as custom provider "acme"
// (dev_loopback) on its own wrangler dev; people connect it with an API key on /connections and
// approve read access once. Then, in the same run:
//   1. sequential: one person, N calls through Countersign (raw stateless JSON-RPC POST /mcp)
//      vs N direct GETs to the same API server;
//      and N sequential `whoami` of the same person (the MCP pipeline alone, for the Done-when
//      ratio call / (whoami + direct));
//   2. concurrent: U people (dev sign-in u1..uU, each its own MCP connection, key and grant),
//      R rounds of U simultaneous calls vs R rounds of U simultaneous direct GETs, plus R rounds of
//      U simultaneous `whoami` on the same connections (the MCP pipeline alone, no provider call)
//      and R rounds of U simultaneous GET /healthz on the same Worker (the baseline throughput of
//      this wrangler dev with U requests in flight).
// The rate limits are per client IP (registration 20/min, sign-in/authorize 60/min). wrangler dev
// passes a client-sent CF-Connecting-IP through to the Worker (Cloudflare's edge overwrites it in
// production), so each simulated person gets their own address and bucket; should a 429 still
// come, setup waits out the minute window once and says so.
import { decideByFetch } from "../e2e/lib/approval.mjs";
import { saveApiKey } from "../e2e/lib/connections.mjs";
import { acmeProviders, startFakeApi } from "../e2e/lib/fake-api.mjs";
import { startDevServer } from "../e2e/lib/fixture.mjs";
import { mcpHeaders, readJsonRpc, toolCallBody } from "../e2e/lib/mcp-raw.mjs";
import { signInRawClient } from "../e2e/lib/oauth.mjs";
import { fetchWithTimeout, sleep } from "../e2e/lib/util.mjs";
import { callTool } from "./approval-wake.mjs";
import { sample, summarize } from "./stats.mjs";

/** People signed in at the same time during setup. */
const SETUP_CONCURRENCY = 5;
const RATE_WINDOW_MS = 61_000;

/**
 * One person, ready to call: signed in (own MCP connection), acme connected, read approved.
 * @param {string} origin
 * @param {string} itemsUrl
 * @param {{ email: string, ip: string }} who
 */
export async function readyPerson(origin, itemsUrl, { email, ip }) {
  const headers = { "CF-Connecting-IP": ip };
  const { tokens, browser } = await signInRawClient(origin, {
    email,
    clientName: `Benchmark calls client ${email}`,
    headers,
  });
  const saved = await saveApiKey(browser, "acme", `bench-key-${email}`);
  await saved.arrayBuffer();
  if (saved.status !== 303) throw new Error(`saving the API key for ${email}: HTTP ${saved.status}`);
  const asked = await callTool(origin, tokens.access_token, "request_elevated_access", {
    kind: "broad",
    level: "read",
    providers: ["acme"],
    duration_minutes: 60,
    reason: "Benchmark: read my Acme items",
  });
  const decided = await decideByFetch(browser, asked.approval_url, { decision: "approve", duration: "3600" });
  if (decided.status !== 200) throw new Error(`approving for ${email}: HTTP ${decided.status}`);
  const person = { email, token: tokens.access_token };
  await callThrough(origin, person.token, itemsUrl); // proves the grant works before timing anything
  return person;
}

/**
 * One authorised GET through Countersign; throws unless the API answered 200.
 * @param {string} origin
 * @param {string} token
 * @param {string} url
 */
export async function callThrough(origin, token, url) {
  const res = await fetchWithTimeout(
    `${origin}/mcp`,
    {
      method: "POST",
      headers: mcpHeaders(token),
      body: toolCallBody("call_integration_api", { method: "GET", url }),
    },
    60_000,
  );
  const message = await readJsonRpc(res);
  const result = message.result;
  if (res.status !== 200 || message.error || result?.isError || result?.structuredContent?.status !== 200) {
    throw new Error(`call_integration_api: HTTP ${res.status} ${JSON.stringify(message).slice(0, 300)}`);
  }
}

/**
 * One `whoami` on the same connection: the MCP pipeline without a provider call.
 * @param {string} origin
 * @param {string} token
 */
async function whoami(origin, token) {
  const res = await fetchWithTimeout(
    `${origin}/mcp`,
    { method: "POST", headers: mcpHeaders(token), body: toolCallBody("whoami", {}) },
    60_000,
  );
  const message = await readJsonRpc(res);
  if (res.status !== 200 || message.error || message.result?.isError) {
    throw new Error(`whoami: HTTP ${res.status} ${JSON.stringify(message).slice(0, 300)}`);
  }
}

/** @param {string} origin */
async function healthz(origin) {
  const res = await fetchWithTimeout(`${origin}/healthz`, {}, 60_000);
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`healthz: HTTP ${res.status}`);
}

/** @param {string} url */
async function callDirect(url) {
  const res = await fetchWithTimeout(url, {}, 60_000);
  await res.json();
  if (res.status !== 200) throw new Error(`direct GET: HTTP ${res.status}`);
}

/** Sign people in with a bounded number at a time; on a 429, wait out the window once. */
async function readyPeople(origin, itemsUrl, count, notes) {
  /** @type {Array<{ email: string, token: string }>} */
  const people = new Array(count);
  let next = 0;
  let waited = false;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const who = { email: `u${i + 1}@example.com`, ip: `198.18.${Math.floor((i + 1) / 250)}.${((i + 1) % 250) + 1}` };
      try {
        people[i] = await readyPerson(origin, itemsUrl, who);
      } catch (error) {
        if (!/HTTP 429|rate_limited/.test(String(error?.message)) || waited) throw error;
        waited = true;
        notes.push(`a 429 during setup of ${who.email}: waited ${RATE_WINDOW_MS / 1000} s for the window`);
        await sleep(RATE_WINDOW_MS);
        people[i] = await readyPerson(origin, itemsUrl, who);
      }
    }
  };
  await Promise.all(Array.from({ length: SETUP_CONCURRENCY }, worker));
  return people;
}

/**
 * `rounds` rounds of `fns` started together; per-call latencies and each round's wall time.
 * @param {Array<() => Promise<void>>} fns
 * @param {{ rounds: number, warmupRounds: number }} options
 */
async function concurrentRounds(fns, { rounds, warmupRounds }) {
  /** @type {number[]} */ const perCall = [];
  /** @type {number[]} */ const wall = [];
  for (let round = 0; round < warmupRounds + rounds; round++) {
    const started = performance.now();
    const times = await Promise.all(
      fns.map(async (fn) => {
        const t0 = performance.now();
        await fn();
        return performance.now() - t0;
      }),
    );
    if (round >= warmupRounds) {
      perCall.push(...times);
      wall.push(performance.now() - started);
    }
  }
  return { perCall: summarize(perCall), wall: summarize(wall) };
}

/**
 * @param {{ requests: number, warmup: number, users: number, rounds: number }} options
 * @param {{ onServer?: (server: import("../e2e/lib/fixture.mjs").DevServer | undefined) => void }} [hooks]
 */
export async function measureCalls({ requests, warmup, users, rounds }, { onServer } = {}) {
  const api = await startFakeApi({ record: false });
  /** @type {import("../e2e/lib/fixture.mjs").DevServer | undefined} */
  let server;
  /** @type {string[]} */
  const notes = [];
  try {
    server = await startDevServer({ label: "bench-calls", vars: { CUSTOM_PROVIDERS: acmeProviders(api) } });
    onServer?.(server);
    const { origin } = server;
    const itemsUrl = `${api.origin}/v1/items`;

    const solo = await readyPerson(origin, itemsUrl, { email: "bench-calls@example.com", ip: "198.18.255.1" });
    const servedBefore = api.served();
    const through = summarize(
      await sample(() => callThrough(origin, solo.token, itemsUrl), { count: requests, warmup }),
    );
    const throughServed = api.served() - servedBefore;
    const direct = summarize(await sample(() => callDirect(itemsUrl), { count: requests, warmup }));
    const soloWhoami = summarize(await sample(() => whoami(origin, solo.token), { count: requests, warmup }));
    if (throughServed !== requests + warmup) {
      throw new Error(`the API saw ${throughServed} requests for ${requests + warmup} calls through Countersign`);
    }

    const setupStarted = performance.now();
    const people = await readyPeople(origin, itemsUrl, users, notes);
    const setupMs = performance.now() - setupStarted;
    const concurrentThrough = await concurrentRounds(
      people.map((person) => () => callThrough(origin, person.token, itemsUrl)),
      { rounds, warmupRounds: 1 },
    );
    const concurrentWhoami = await concurrentRounds(
      people.map((person) => () => whoami(origin, person.token)),
      { rounds, warmupRounds: 1 },
    );
    const concurrentDirect = await concurrentRounds(
      people.map(() => () => callDirect(itemsUrl)),
      { rounds, warmupRounds: 1 },
    );
    const concurrentHealthz = await concurrentRounds(
      people.map(() => () => healthz(origin)),
      { rounds, warmupRounds: 1 },
    );
    return {
      sequential: { through, direct, whoami: soloWhoami },
      concurrent: {
        users: people.length,
        rounds,
        through: concurrentThrough,
        whoami: concurrentWhoami,
        direct: concurrentDirect,
        healthz: concurrentHealthz,
        setupMs,
      },
      notes,
    };
  } finally {
    await server?.stop();
    onServer?.(undefined);
    await api.close();
  }
}
