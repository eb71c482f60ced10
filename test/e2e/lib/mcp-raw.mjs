// Hand-made MCP calls over fetch, the way a stateless 2025-06-18 client talks to /mcp: one
// JSON-RPC POST per call, no initialize, the answer as JSON or as a single SSE message.
import { fetchWithTimeout } from "./util.mjs";

export const RAW_PROTOCOL_VERSION = "2025-06-18";

/**
 * Headers of an authenticated MCP POST.
 * @param {string} accessToken
 * @param {Record<string, string>} [extra]
 */
export function mcpHeaders(accessToken, extra = {}) {
  return {
    Accept: "application/json, text/event-stream",
    "Content-Type": "application/json",
    Authorization: `Bearer ${accessToken}`,
    "MCP-Protocol-Version": RAW_PROTOCOL_VERSION,
    ...extra,
  };
}

/** The JSON-RPC body of a `tools/call`. */
export function toolCallBody(name, args = {}, id = 1) {
  return JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } });
}

/**
 * The JSON-RPC message in a response body, whether sent as application/json or as SSE.
 * @param {Response} res
 */
export async function readJsonRpc(res) {
  const text = await res.text();
  if ((res.headers.get("Content-Type") ?? "").startsWith("text/event-stream")) {
    const data = text
      .split(/\r?\n/)
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).trim());
    if (data.length !== 1) throw new Error(`expected one SSE message, got ${data.length}: ${text.slice(0, 300)}`);
    return JSON.parse(data[0]);
  }
  return JSON.parse(text);
}

/**
 * POST one `tools/call` to /mcp. Returns the raw response (body unread) so callers can check
 * status and headers; use `readJsonRpc` for the message.
 * @param {string} origin
 * @param {{ accessToken: string, tool?: string, args?: object, headers?: Record<string, string> }} options
 */
export function postToolCall(origin, { accessToken, tool = "whoami", args = {}, headers = {} }) {
  return fetchWithTimeout(`${origin}/mcp`, {
    method: "POST",
    headers: mcpHeaders(accessToken, headers),
    body: toolCallBody(tool, args),
  });
}

/**
 * Call `whoami` and return its structuredContent (throws on any HTTP or JSON-RPC error).
 * @param {string} origin
 * @param {string} accessToken
 */
export async function rawWhoami(origin, accessToken) {
  const res = await postToolCall(origin, { accessToken });
  if (res.status !== 200) throw new Error(`whoami: HTTP ${res.status} ${await res.text()}`);
  const message = await readJsonRpc(res);
  if (message.error || message.result?.isError) throw new Error(`whoami failed: ${JSON.stringify(message)}`);
  return message.result.structuredContent;
}
