/**
 * The MCP client package's Workers shims, in place of its own (`@modelcontextprotocol/client/_shims`,
 * swapped in by wrangler.toml [alias] and test/vitest.config.ts). The client and the server
 * package each bundle a copy of the same JSON Schema validator (`@cfworker/json-schema` behind
 * `CfWorkerJsonSchemaValidator`, identical files in 2.4.0); this hands the client the server's
 * copy, so the Worker carries one (about 6 KiB of the gzip bundle). Exports exactly what the
 * client's `shimsWorkerd` exports, with the same values; an SDK that changes them fails the build
 * ("No matching export"), not a request. The client's own shim also builds its wire schemas at
 * load: `mcp-client.ts` calls `preloadSchemas()` for that.
 */
export { CfWorkerJsonSchemaValidator as DefaultJsonSchemaValidator } from "@modelcontextprotocol/server/validators/cf-worker";

/** In workerd a `TypeError` from `fetch` is a real network error, never CORS (as the client's shim says). */
export const CORS_IS_POSSIBLE = false;
