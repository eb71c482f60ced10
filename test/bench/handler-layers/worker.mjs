// The worker of test/bench/handler-layers.mjs: GET /?layer=NAME&n=N runs one layer of the /mcp
// stack N times and answers with the last answer's first bytes. Inside workerd the clock only
// moves on I/O, so the timing is done outside, by the script (n=N against n=0). The server is a
// stand-in for src/mcp/server.ts: eight tools with zod input and output schemas, `whoami`'s
// output shaped as ours, schemas converted once as ours are (src/mcp/json-schema-once.ts), and a
// tool that answers at once (no Durable Object), so what is measured is the agents handler, the
// SDK transport and the SDK server, not our tools.
import {
  createMcpHandler as createSdkHandler,
  isLegacyRequest,
  McpServer,
  WebStandardStreamableHTTPServerTransport,
} from "@modelcontextprotocol/server";
import { createMcpHandler } from "agents/mcp/server";
import * as z from "zod";
import { jsonSchemaOnce } from "../../../src/mcp/json-schema-once.ts";

const Output = jsonSchemaOnce(
  z.object({
    user: z.object({ id: z.string(), issuer: z.string(), subject: z.string(), email: z.string().optional() }),
    client: z.object({
      id: z.string(),
      name: z.string(),
      connection_id: z.string(),
      connected_at: z.string(),
      last_seen_at: z.string().nullable(),
    }),
    scopes: z.array(z.string()),
    authority: z.object({ grants: z.array(z.object({ id: z.string() })), summary: z.string() }),
  }),
);
const RESULT = {
  user: { id: "u1", issuer: "https://issuer.example", subject: "s1", email: "a@example.com" },
  client: {
    id: "c1",
    name: "Client",
    connection_id: "k1",
    connected_at: "2026-12-03T00:00:00.000Z",
    last_seen_at: null,
  },
  scopes: ["mcp"],
  authority: { grants: [], summary: "No access is approved for this connection." },
};
const WhoamiInput = jsonSchemaOnce(z.object({}));
// Built once, as our tools' schemas are (module level in src/mcp/tools/*).
const OTHERS = Array.from({ length: 7 }, (_, i) => ({
  name: `tool_${i}`,
  input: jsonSchemaOnce(z.object({ a: z.string(), b: z.number().optional() })),
  output: jsonSchemaOnce(z.object({ ok: z.boolean() })),
}));

function server() {
  const s = new McpServer({ name: "countersign", version: "0.1.0" }, { instructions: "Call whoami." });
  s.registerTool("whoami", { description: "Who am I", inputSchema: WhoamiInput, outputSchema: Output }, async () => ({
    content: [{ type: "text", text: "Signed in." }],
    structuredContent: RESULT,
  }));
  for (const { name, input, output } of OTHERS) {
    s.registerTool(name, { description: name, inputSchema: input, outputSchema: output }, async () => ({
      content: [],
      structuredContent: { ok: true },
    }));
  }
  return s;
}

const ORIGIN = "http://localhost:8787";
const AUTH = { token: "t", clientId: "c1", scopes: ["mcp"], resource: new URL(`${ORIGIN}/mcp`), extra: {} };
const BODY = { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "whoami", arguments: {} } };
const HEADERS = {
  Accept: "application/json, text/event-stream",
  "Content-Type": "application/json",
  "MCP-Protocol-Version": "2025-11-25",
  Host: "localhost:8787",
};
const request = () => new Request(`${ORIGIN}/mcp`, { method: "POST", headers: HEADERS, body: JSON.stringify(BODY) });

/** As src/mcp/api.ts configures it. */
const agents = createMcpHandler(() => server(), {
  route: "/mcp",
  allowedHostnames: ["localhost"],
  allowedOriginHostnames: ["localhost"],
});
const sdk = createSdkHandler(() => server());

/** A bare transport, read to the end and closed, as agents' adapter does after the last byte. */
async function transport(enableJsonResponse) {
  const s = server();
  const t = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse });
  await s.connect(t);
  const response = await t.handleRequest(request(), { authInfo: AUTH, parsedBody: BODY });
  const text = await response.text();
  await Promise.all([t.close(), s.close()]);
  return new Response(text, { headers: response.headers });
}

const LAYERS = {
  "agents handler (as /mcp uses it)": () => agents.fetch(request(), { authInfo: AUTH, parsedBody: BODY }),
  "SDK createMcpHandler (legacy: stateless)": () => sdk.fetch(request(), { authInfo: AUTH, parsedBody: BODY }),
  "SDK transport, SSE answer": () => transport(false),
  "SDK transport, enableJsonResponse": () => transport(true),
  "isLegacyRequest (parsed body)": async () => {
    await isLegacyRequest(request(), BODY);
    return new Response("ok");
  },
  "McpServer + 8 tools, constructed": async () => {
    server();
    return new Response("ok");
  },
  "Request only": async () => {
    request();
    return new Response("ok");
  },
};
export const LAYER_NAMES = Object.keys(LAYERS);

export default {
  async fetch(incoming) {
    const url = new URL(incoming.url);
    if (url.pathname === "/layers") return Response.json(LAYER_NAMES);
    const layer = LAYERS[url.searchParams.get("layer") ?? ""];
    if (!layer) return new Response("unknown layer", { status: 404 });
    const n = Number(url.searchParams.get("n") ?? 1);
    let last = "";
    for (let i = 0; i < n; i++) last = await (await layer()).text();
    return new Response(last.slice(0, 200));
  },
};
