// Benchmark part: the cost of an upstream MCP tool call through Countersign. An open SDK MCP
// server (test/e2e/lib/upstream-mcp.mjs with requireAuth: false, on 127.0.0.1) is added by the
// assistant with `add_mcp_server` on its own wrangler dev (UPSTREAM_DEV_LOOPBACK); the person
// accepts `search_issues` as a read on /connections and approves a read session on it. Then, in
// the same run, N sequential `bench__search_issues` calls by a v2 SDK client on our /mcp against
// N sequential `search_issues` calls by a v2 SDK client connected to the upstream directly, and
// N sequential `whoami` by the same client on our /mcp (for the ratio through / (whoami + direct)).
// Each call is checked (the right text came back), and the upstream must have seen exactly the
// calls made through Countersign, so a cached or short-circuited answer cannot pass as fast.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { decideByFetch } from "../e2e/lib/approval.mjs";
import { startDevServer } from "../e2e/lib/fixture.mjs";
import { signInRawClient } from "../e2e/lib/oauth.mjs";
import { serverPath, submitMcpForm } from "../e2e/lib/upstream-flow.mjs";
import { startUpstreamMcp } from "../e2e/lib/upstream-mcp.mjs";
import { sample, summarize } from "./stats.mjs";

const NAME = "bench";
const TOOL = "search_issues";
const ARGS = { query: "login" };
/** search_issues answers this for "login" (test/e2e/lib/upstream-mcp.mjs's seeded tracker). */
/** The upstream tool as our tools/list names it. */
export const NAMESPACED = `${NAME}__${TOOL}`;
const EXPECTED = /ISS-1 \[open\] Login button does nothing/;
const CALL_TIMEOUT = { timeout: 60_000 };

/**
 * A v2 SDK client on `url`, sending `headers` on every request.
 * @param {string} url
 * @param {Record<string, string>} [headers]
 */
async function connectClient(url, headers = {}) {
  const client = new Client({ name: "countersign-bench", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

/**
 * One tool call that must succeed; its result.
 * @param {Client} client
 * @param {string} name
 * @param {object} args
 */
async function callOk(client, name, args) {
  const result = await client.callTool({ name, arguments: args }, CALL_TIMEOUT);
  if (result.isError) throw new Error(`${name}: ${JSON.stringify(result.content).slice(0, 300)}`);
  return result;
}

/**
 * One timed search; throws unless the upstream's answer came back.
 * @param {Client} client
 * @param {string} name
 */
export async function search(client, name) {
  const result = await callOk(client, name, ARGS);
  const text = result.content?.find((block) => block.type === "text")?.text ?? "";
  if (!EXPECTED.test(text)) throw new Error(`${name}: unexpected answer ${text.slice(0, 200)}`);
}

/**
 * A person on `server` whose v2 SDK client has added the open `upstream` as "bench", accepted
 * `search_issues` as a read and holds an approved read session on it; the connected client.
 * @param {import("../e2e/lib/fixture.mjs").DevServer} server
 * @param {{ mcpUrl: string }} upstream
 * @param {string} email
 */
export async function readyUpstreamCaller(server, upstream, email) {
  const { origin, resource } = server;
  const { tokens, browser } = await signInRawClient(origin, {
    email,
    clientName: "Benchmark upstream client",
  });
  const ours = await connectClient(resource, { Authorization: `Bearer ${tokens.access_token}` });

  const added = (await callOk(ours, "add_mcp_server", { name: NAME, url: upstream.mcpUrl })).structuredContent;
  if (added?.status !== "connected" || added.auth !== "none") {
    throw new Error(`add_mcp_server: ${JSON.stringify(added)}`);
  }
  const reads = await submitMcpForm(browser, serverPath(NAME, "reads"), { tools: TOOL });
  await reads.arrayBuffer();
  if (reads.status !== 303) throw new Error(`accepting ${TOOL} as a read: HTTP ${reads.status}`);
  const asked = (
    await callOk(ours, "request_elevated_access", {
      kind: "broad",
      level: "read",
      providers: [NAME],
      duration_minutes: 60,
      reason: "Benchmark: search my issues",
    })
  ).structuredContent;
  const decided = await decideByFetch(browser, asked?.approval_url, { decision: "approve", duration: "3600" });
  if (decided.status !== 200) throw new Error(`approving the read session: HTTP ${decided.status}`);
  return ours;
}

/**
 * @param {{ requests: number, warmup: number }} options
 * @param {{ onServer?: (server: import("../e2e/lib/fixture.mjs").DevServer | undefined) => void }} [hooks]
 */
export async function measureUpstream({ requests, warmup }, { onServer } = {}) {
  const upstream = await startUpstreamMcp({ requireAuth: false });
  /** @type {import("../e2e/lib/fixture.mjs").DevServer | undefined} */
  let server;
  /** @type {Client[]} */
  const clients = [];
  try {
    server = await startDevServer({ label: "bench-upstream", vars: { UPSTREAM_DEV_LOOPBACK: "enabled" } });
    onServer?.(server);
    const ours = await readyUpstreamCaller(server, upstream, "bench-upstream@example.com");
    clients.push(ours);

    const direct = await connectClient(upstream.mcpUrl);
    clients.push(direct);
    await search(ours, NAMESPACED); // proves the grant works before timing anything
    await search(direct, TOOL);

    const callsBefore = upstream.stats().toolCalls.length;
    const through = summarize(await sample(() => search(ours, NAMESPACED), { count: requests, warmup }));
    const throughCalls = upstream.stats().toolCalls.slice(callsBefore);
    const directSamples = summarize(await sample(() => search(direct, TOOL), { count: requests, warmup }));
    const whoami = summarize(await sample(() => callOk(ours, "whoami", {}), { count: requests, warmup }));
    if (throughCalls.length !== requests + warmup) {
      throw new Error(`the upstream saw ${throughCalls.length} calls for ${requests + warmup} through Countersign`);
    }
    const directCalls = upstream.stats().toolCalls.slice(callsBefore + throughCalls.length);
    const eras = (/** @type {{ era: string }[]} */ calls) => [...new Set(calls.map((call) => call.era))].join("+");
    return {
      through,
      direct: directSamples,
      whoami,
      eras: { through: eras(throughCalls), direct: eras(directCalls) },
    };
  } finally {
    for (const client of clients) await client.close().catch(() => {});
    await server?.stop();
    onServer?.(undefined);
    await upstream.close();
  }
}
