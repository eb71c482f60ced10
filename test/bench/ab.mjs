// A/B benchmark (a script, not a test; no thresholds) for a machine whose load drifts: this
// checkout (A) and another checkout of the project (B, --base=DIR, with its own node_modules or
// a symlink) each on their own wrangler dev at the same time, and every measured request made
// to A and to B in alternating order, so load that comes and goes falls on both alike. Measures
// GET /healthz, tools/call whoami, an authorised call_integration_api GET to a local API (the
// acme custom provider, as calls-bench.mjs) and an upstream tool call by a v2 SDK client to one
// open local upstream MCP server (as upstream-bench.mjs), then prints the p50s and each side's
// ratios; and a 2025-11-25 `initialize` declaring URL-mode elicitation (--ops=initialize). --ops
// picks a subset, in that order.
// With --people=N it then also signs N more people in on each side and times rounds of N
// `whoami` at once (one per person), the sides' rounds alternating, and prints each side's
// median round and throughput. Run it once with --base pointing at a copy of this same code to
// see the noise floor: identical code has come out up to ±7% apart on the shared machine.
// Usage: node test/bench/ab.mjs --base=DIR [--requests=200] [--warmup=20] [--ops=healthz,whoami,call,upstream,initialize]
//        [--people=20] [--rounds=30]
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { acmeProviders, startFakeApi } from "../e2e/lib/fake-api.mjs";
import { startDevServer } from "../e2e/lib/fixture.mjs";
import { mcpHeaders, postToolCall, readJsonRpc } from "../e2e/lib/mcp-raw.mjs";
import { signInRawClient } from "../e2e/lib/oauth.mjs";
import { startUpstreamMcp } from "../e2e/lib/upstream-mcp.mjs";
import { fetchWithTimeout } from "../e2e/lib/util.mjs";
import { callThrough, readyPerson } from "./calls-bench.mjs";
import { summarize, table } from "./stats.mjs";
import { NAMESPACED, readyUpstreamCaller, search } from "./upstream-bench.mjs";

const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const BASE = arg("base");
if (!BASE) throw new Error("--base=DIR (another checkout of the project) is required");
const REQUESTS = Number(arg("requests") ?? 200);
const WARMUP = Number(arg("warmup") ?? 20);
const OPS = (arg("ops") ?? "healthz,whoami,call,upstream").split(",");
const PEOPLE = Number(arg("people") ?? 0);
const ROUNDS = Number(arg("rounds") ?? 30);
// Each crowd member gets its own CF-Connecting-IP in 198.18.253.0/24 (the sign-in flood limit).
if (!Number.isInteger(PEOPLE) || PEOPLE < 0 || PEOPLE > 254) throw new Error("--people must be 0 to 254");

const baseFixture = await import(pathToFileURL(resolve(BASE, "test/e2e/lib/fixture.mjs")).href);

async function side(label, start, api, upstream) {
  const server = await start({
    label,
    vars: { CUSTOM_PROVIDERS: acmeProviders(api), UPSTREAM_DEV_LOOPBACK: "enabled" },
  });
  const itemsUrl = `${api.origin}/v1/items`;
  const person = await readyPerson(server.origin, itemsUrl, { email: `${label}@example.com`, ip: "198.18.254.1" });
  const caller = await readyPerson(server.origin, itemsUrl, { email: `${label}-c@example.com`, ip: "198.18.254.2" });
  const upstreamClient = OPS.includes("upstream")
    ? await readyUpstreamCaller(server, upstream, `${label}-u@example.com`)
    : null;
  const ops = {
    healthz: async () => {
      const res = await fetchWithTimeout(`${server.origin}/healthz`);
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`healthz: HTTP ${res.status}`);
    },
    whoami: async () => {
      const res = await postToolCall(server.origin, { accessToken: person.token });
      const message = await readJsonRpc(res);
      if (res.status !== 200 || message.error || message.result?.isError) throw new Error(`whoami: HTTP ${res.status}`);
    },
    call: () => callThrough(server.origin, caller.token, itemsUrl),
    // A 2025-11-25 initialize declaring URL-mode elicitation: stored in the person's object before it is answered.
    initialize: async () => {
      const res = await fetchWithTimeout(`${server.origin}/mcp`, {
        method: "POST",
        headers: mcpHeaders(person.token, { "MCP-Protocol-Version": "2025-11-25" }),
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: {
            protocolVersion: "2025-11-25",
            capabilities: { elicitation: { url: {} } },
            clientInfo: { name: "ab-bench", version: "1" },
          },
        }),
      });
      const message = await readJsonRpc(res);
      if (res.status !== 200 || message.error) throw new Error(`initialize: HTTP ${res.status}`);
    },
    upstream: () => search(upstreamClient, NAMESPACED),
  };
  return { server, ops, close: () => upstreamClient?.close() };
}

/** Time `op` on both sides, alternating which goes first. */
async function alternate(a, b, op) {
  const times = { a: [], b: [] };
  for (let i = 0; i < WARMUP + REQUESTS; i++) {
    const order = i % 2 === 0 ? ["a", "b"] : ["b", "a"];
    for (const key of order) {
      const started = performance.now();
      await (key === "a" ? a : b).ops[op]();
      if (i >= WARMUP) times[key].push(performance.now() - started);
    }
  }
  return { a: summarize(times.a), b: summarize(times.b) };
}

/** N more people on one side, each with their own token and CF-Connecting-IP. */
async function crowd(side, label) {
  const tokens = [];
  for (let i = 0; i < PEOPLE; i++) {
    const { tokens: issued } = await signInRawClient(side.server.origin, {
      email: `${label}-crowd-${i}@example.com`,
      clientName: `Benchmark crowd ${i}`,
      headers: { "CF-Connecting-IP": `198.18.253.${i + 1}` },
    });
    tokens.push(issued.access_token);
  }
  return async () => {
    const started = performance.now();
    await Promise.all(
      tokens.map(async (accessToken) => {
        const res = await postToolCall(side.server.origin, { accessToken });
        const message = await readJsonRpc(res);
        if (res.status !== 200 || message.error || message.result?.isError)
          throw new Error(`whoami: HTTP ${res.status}`);
      }),
    );
    return performance.now() - started;
  };
}

/** Rounds of PEOPLE at once on both sides, alternating which side goes first. */
async function crowdRounds(a, b) {
  const roundA = await crowd(a, "ab-this");
  const roundB = await crowd(b, "ab-base");
  await roundA();
  await roundB();
  const times = { a: [], b: [] };
  for (let i = 0; i < ROUNDS; i++) {
    const order = i % 2 === 0 ? ["a", "b"] : ["b", "a"];
    for (const key of order) times[key].push(await (key === "a" ? roundA : roundB)());
  }
  return { a: summarize(times.a), b: summarize(times.b) };
}

const api = await startFakeApi({ record: false });
const upstream = await startUpstreamMcp({ requireAuth: false });
let a;
let b;
try {
  a = await side("ab-this", startDevServer, api, upstream);
  b = await side("ab-base", baseFixture.startDevServer, api, upstream);
  const results = {};
  for (const op of OPS) results[op] = await alternate(a, b, op);
  const ms = (x) => `${x.toFixed(2)} ms`;
  const rows = [["p50 (n each side)", `A: this checkout`, `B: ${BASE}`, "A / B"]];
  for (const op of OPS) {
    const { a: x, b: y } = results[op];
    rows.push([`${op} (${x.n})`, ms(x.p50), ms(y.p50), `${(x.p50 / y.p50).toFixed(2)}x`]);
  }
  const ratio = (s, op) => (results[op][s].p50 / results.healthz[s].p50).toFixed(2);
  if (results.healthz) {
    for (const op of OPS.filter((op) => op !== "healthz")) {
      rows.push([`${op} / healthz`, `${ratio("a", op)}x`, `${ratio("b", op)}x`, ""]);
    }
  }
  console.log(table(rows));
  if (PEOPLE > 0) {
    const { a: x, b: y } = await crowdRounds(a, b);
    const perSecond = (round) => `${((PEOPLE / round.p50) * 1000).toFixed(0)} calls/s`;
    console.log(
      `\n${table([
        [`${PEOPLE} whoami at once, median round (${x.n} rounds)`, "A: this checkout", `B: ${BASE}`, "A / B"],
        ["round", ms(x.p50), ms(y.p50), `${(x.p50 / y.p50).toFixed(2)}x`],
        ["throughput", perSecond(x), perSecond(y), ""],
      ])}`,
    );
  }
} finally {
  await a?.close();
  await b?.close();
  await a?.server.stop();
  await b?.server.stop();
  await api.close();
  await upstream.close();
}
