// Floors (a script, not a test; no thresholds): what a `tools/call whoami` costs up to each stage
// of /mcp, so a target can be checked against the least that the required checks cost.
//
// It copies this checkout's HEAD (`git archive`) to a temporary directory, applies
// `test/bench/floors.patch` there (never here: the patch adds an `x-ablate` header that answers a
// whoami early, which must never ship), starts that copy's `wrangler dev`, signs one person in
// and times whoami stopped after each stage, every stage in turn within each round so that load
// falls on all alike, against `GET /healthz` in the same rounds. With --people=N it then times
// rounds of N people at once per stage, as throughput against `/healthz` at N in flight.
//
// Stages, each containing the ones before it (the patch raises TOOL_LIMITER's limit, which
// changes nothing of what a check costs):
//   entry    the Worker's entry answers (the POST and its body through wrangler dev; no check)
//   oauth    the OAuth provider has verified the token (KV lookup, props decryption, audience)
//   floor    + one read-only RPC to the person's object; no rate limit, no guard, no MCP SDK
//   limiter  oauth + props, scope and the TOOL_LIMITER check (no RPC)
//   guard    + the input guard and the upstream listing decision
//   sdk      + agents' handler, the SDK's server and transport, whoami's answer remembered (no RPC)
//   sdkrpc   sdk + one read-only RPC
//   nolimit  the whole whoami without the TOOL_LIMITER check
//   full     the whole whoami, as shipped
// `floor` is the least a whoami can cost while it still verifies its token and reads the grants
// it reports from the person's object.
//
// If the patch no longer applies (src changed where it hooks in), refresh it: make the same edits
// in a copy and `diff -ru` it against the original (paths a/ and b/).
// Usage: node test/bench/floors.mjs [--requests=300] [--people=50] [--rounds=20] [--stages=a,b]
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { acmeProviders, startFakeApi } from "../e2e/lib/fake-api.mjs";
import { postToolCall, readJsonRpc } from "../e2e/lib/mcp-raw.mjs";
import { signInRawClient } from "../e2e/lib/oauth.mjs";
import { fetchWithTimeout } from "../e2e/lib/util.mjs";
import { readyPerson } from "./calls-bench.mjs";
import { summarize, table } from "./stats.mjs";

const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const REQUESTS = Number(arg("requests") ?? 300);
const WARMUP = 20;
const PEOPLE = Number(arg("people") ?? 0);
const ROUNDS = Number(arg("rounds") ?? 20);
const ALL = ["entry", "oauth", "floor", "limiter", "guard", "sdk", "sdkrpc", "nolimit", "full"];
const STAGES = (arg("stages") ?? ALL.join(",")).split(",");
for (const stage of STAGES) if (!ALL.includes(stage)) throw new Error(`unknown stage ${stage}: one of ${ALL}`);
if (!Number.isInteger(PEOPLE) || PEOPLE < 0 || PEOPLE > 254) throw new Error("--people must be 0 to 254");

const root = resolve(import.meta.dirname, "../..");
const copy = mkdtempSync(join(tmpdir(), "countersign-floors-"));
const run = (cmd, args, options) => {
  const done = spawnSync(cmd, args, { ...options, encoding: "utf8" });
  if (done.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${done.stderr || done.stdout}`);
};
run("bash", ["-c", `git -C ${JSON.stringify(root)} archive HEAD | tar -x -C ${JSON.stringify(copy)}`]);
symlinkSync(join(root, "node_modules"), join(copy, "node_modules"));
try {
  run("git", ["apply", join(root, "test/bench/floors.patch")], { cwd: copy });
} catch (error) {
  rmSync(copy, { recursive: true, force: true });
  throw new Error(`test/bench/floors.patch no longer applies to HEAD; refresh it (see the header). ${error.message}`);
}
const { startDevServer } = await import(pathToFileURL(join(copy, "test/e2e/lib/fixture.mjs")).href);

const api = await startFakeApi({ record: false });
const server = await startDevServer({ label: "floors", vars: { CUSTOM_PROVIDERS: acmeProviders(api) } });
const whoami = async (accessToken, stage) => {
  const res = await postToolCall(server.origin, {
    accessToken,
    headers: stage === "full" ? {} : { "x-ablate": stage },
  });
  const message = await readJsonRpc(res);
  if (res.status !== 200 || message.error || message.result?.isError) throw new Error(`${stage}: HTTP ${res.status}`);
};
const healthz = async () => {
  const res = await fetchWithTimeout(`${server.origin}/healthz`);
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`healthz: HTTP ${res.status}`);
};

try {
  const person = await readyPerson(server.origin, `${api.origin}/v1/items`, {
    email: "floors@example.com",
    ip: "198.18.254.1",
  });
  await whoami(person.token, "full"); // the answer the sdk stages remember
  const names = ["healthz", ...STAGES];
  const op = (name) => (name === "healthz" ? healthz() : whoami(person.token, name));
  const times = Object.fromEntries(names.map((name) => [name, []]));
  for (let i = 0; i < WARMUP + REQUESTS; i++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(i + k) % names.length];
      const started = performance.now();
      await op(name);
      if (i >= WARMUP) times[name].push(performance.now() - started);
    }
  }
  const base = summarize(times.healthz).p50;
  const rows = [["sequential, p50", "ms", "× /healthz"]];
  for (const name of names) {
    const { p50 } = summarize(times[name]);
    rows.push([name, p50.toFixed(2), (p50 / base).toFixed(2)]);
  }
  console.log(table(rows));

  if (PEOPLE > 0) {
    const tokens = [];
    for (let i = 0; i < PEOPLE; i++) {
      const { tokens: issued } = await signInRawClient(server.origin, {
        email: `floors-crowd-${i}@example.com`,
        clientName: `Floors crowd ${i}`,
        headers: { "CF-Connecting-IP": `198.18.253.${i + 1}` },
      });
      tokens.push(issued.access_token);
    }
    const round = async (name) => {
      const started = performance.now();
      await Promise.all(tokens.map((token) => (name === "healthz" ? healthz() : whoami(token, name))));
      return performance.now() - started;
    };
    const rounds = Object.fromEntries(names.map((name) => [name, []]));
    for (let i = 0; i < 3 + ROUNDS; i++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(i + k) % names.length];
        const took = await round(name);
        if (i >= 3) rounds[name].push(took);
      }
    }
    const baseRound = summarize(rounds.healthz).p50;
    const crowd = [[`${PEOPLE} at once, median round`, "ms", "per s", "% of /healthz"]];
    for (const name of names) {
      const { p50 } = summarize(rounds[name]);
      crowd.push([name, p50.toFixed(1), ((1000 * PEOPLE) / p50).toFixed(0), ((100 * baseRound) / p50).toFixed(0)]);
    }
    console.log(`\n${table(crowd)}`);
  }
} finally {
  await server.stop();
  await api.close();
  rmSync(copy, { recursive: true, force: true });
}
