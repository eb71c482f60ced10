// The stages of one authenticated tool call, as profile.mjs folds a CPU profile: each stage is
// the functions (by name, and by source package or file where a name is common) whose inclusive
// time makes it up. Names come from the unminified wrangler dev bundle and its source map: the
// OAuth provider's `handleApiRequest` (token lookup, `unwrapKeyWithToken`, `decryptProps`),
// our /mcp handler in src/mcp/api.ts, the agents package's stateless handler, the MCP SDK's
// McpServer, our tools, and the Durable Object's RPC methods. Stages overlap where one calls
// another (the MCP handler contains McpServer construction); the table says so. There is no
// row for serialisation: JSON.parse/stringify and the RPC stubs' structured clone are builtins
// with no frame of their own, so V8 charges them to the calling function's self time.

const named =
  (...names) =>
  (frame) =>
    names.includes(frame.functionName);
const inSource =
  (pattern, ...names) =>
  (frame) =>
    pattern.test(frame.source ?? "") && (names.length === 0 || names.includes(frame.functionName));

export const STAGES = [
  { name: "Worker fetch, all of it (src/index.ts)", match: inSource(/src\/index\.ts$/, "fetch") },
  { name: "config and flood guard (loadConfig, floodGuard)", match: named("loadConfig", "floodGuard") },
  { name: "OAuth provider: handleApiRequest (token lookup + props)", match: named("handleApiRequest") },
  { name: "  token id hash (generateTokenId)", match: named("generateTokenId") },
  { name: "  props decryption (unwrapKeyWithToken, decryptProps)", match: named("unwrapKeyWithToken", "decryptProps") },
  { name: "/mcp handler, src/mcp/api.ts (guards + MCP)", match: inSource(/src\/mcp\/api\.ts$/, "fetch") },
  { name: "  Origin check (originAllowed)", match: named("originAllowed") },
  { name: "  props parse (parseAuthProps)", match: named("parseAuthProps") },
  { name: "  input guard (guardMcpRequest)", match: named("guardMcpRequest") },
  { name: "McpServer construction + tool registration (createServer)", match: named("createServer") },
  { name: "  registerTool (SDK)", match: named("registerTool") },
  { name: "agents stateless handler + SDK transport", match: inSource(/node_modules\/agents\//) },
  { name: "MCP SDK server code (all)", match: inSource(/@modelcontextprotocol\/(server|core)/) },
  { name: "zod (all: schema building, parsing, JSON Schema)", match: inSource(/node_modules\/zod\//) },
  {
    name: "  JSON Schema conversion (standardSchemaToJsonSchema, zod json-schema-*)",
    match: (f) =>
      ["standardSchemaToJsonSchema", "toJSONSchema"].includes(f.functionName) ||
      /zod\/v4\/core\/(json-schema|to-json-schema)/.test(f.source ?? ""),
  },
  { name: "  safeParse / parse (zod)", match: named("safeParse", "safeParseAsync", "parse", "parseAsync") },
  { name: "tool handlers, src/mcp/tools/*", match: inSource(/src\/mcp\/tools\//) },
  { name: "Durable Object: UserSession methods", match: inSource(/src\/session\//) },
  { name: "  touchConnection", match: named("touchConnection") },
  { name: "  connectionAuthority (whoami's one call)", match: named("connectionAuthority") },
  { name: "  authority", match: named("authority") },
  { name: "  callProvider (begin, send, record: one round trip)", match: named("callProvider") },
  { name: "  beginCall", match: named("beginCall") },
  { name: "  recordCallOutcome", match: named("recordCallOutcome", "recordOutcome") },
  { name: "  upstreamTools (the named tool, for registration)", match: named("upstreamTools") },
  { name: "  callUpstreamTool (decide, send, audit)", match: named("callUpstreamTool") },
  { name: "upstream feature (src/upstream/*.ts, in the object)", match: inSource(/src\/upstream\/[a-z-]+\.ts$/) },
  { name: "  upstream MCP client (src/upstream/client)", match: inSource(/src\/upstream\/client\//) },
  { name: "  MCP SDK client code (all)", match: inSource(/@modelcontextprotocol\/client/) },
  { name: "outbound call (src/calls, src/http, src/providers)", match: inSource(/src\/(calls|http|providers)\//) },
  { name: "vault (src/vault)", match: inSource(/src\/vault\//) },
  { name: "garbage collector", match: named("(garbage collector)") },
  { name: "(program): native runtime outside JS", match: named("(program)") },
];
