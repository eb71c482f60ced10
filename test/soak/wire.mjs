// The soak's side of the wire: one MCP tool call as a stateless JSON-RPC POST to /mcp, read into
// one of three outcomes (a result, a tool error with its code, or a transport failure), and a
// tee on the global fetch that keeps every body Countersign sent and every cookie value it set,
// for the leak scan. Nothing here retries: a call whose fate is unknown is never sent twice.
import { mcpHeaders, readJsonRpc, toolCallBody } from "../e2e/lib/mcp-raw.mjs";
import { fetchWithTimeout } from "../e2e/lib/util.mjs";

/** Longer than Countersign's own provider deadline (20 s), so a hang shows Countersign's code. */
export const CALL_TIMEOUT_MS = 45_000;

/**
 * @typedef {{ kind: "ok", result: any, ms: number }
 *   | { kind: "tool_error", code: string, error: any, ms: number }
 *   | { kind: "transport", code: string, message: string, ms: number }} CallOutcome
 */

/**
 * One tools/call; never throws.
 * @param {string} origin
 * @param {string} accessToken
 * @param {string} tool
 * @param {object} args
 * @returns {Promise<CallOutcome>}
 */
export async function callTool(origin, accessToken, tool, args) {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  try {
    const res = await fetchWithTimeout(
      `${origin}/mcp`,
      { method: "POST", headers: mcpHeaders(accessToken), body: toolCallBody(tool, args) },
      CALL_TIMEOUT_MS,
    );
    if (res.status !== 200) {
      await res.arrayBuffer();
      return { kind: "transport", code: `http_${res.status}`, message: `HTTP ${res.status}`, ms: ms() };
    }
    const message = await readJsonRpc(res);
    if (message.error)
      return { kind: "transport", code: `jsonrpc_${message.error.code}`, message: message.error.message, ms: ms() };
    const result = message.result;
    if (result?.isError) {
      const text = result.content?.find((block) => block.type === "text")?.text ?? "";
      let error;
      try {
        error = JSON.parse(text).error;
      } catch {
        error = { code: "upstream_tool_error", message: text };
      }
      return { kind: "tool_error", code: String(error?.code ?? "unknown"), error, ms: ms() };
    }
    return { kind: "ok", result, ms: ms() };
  } catch (error) {
    const cause = /** @type {any} */ (error).cause;
    const code = error.name === "TimeoutError" ? "client_timeout" : (cause?.code ?? error.name ?? "error");
    return { kind: "transport", code: String(code), message: String(error.message), ms: ms() };
  }
}

/**
 * Wrap globalThis.fetch so every response from `origin` has its body copied and its Set-Cookie
 * values collected. Returns what was seen and a function that puts the original fetch back.
 * @param {string} origin
 */
export function teeResponses(origin) {
  const original = globalThis.fetch;
  /** @type {string[]} */
  const bodies = [];
  /** @type {Set<string>} */
  const cookieValues = new Set();
  /** @type {Set<Promise<void>>} */
  const reading = new Set();
  globalThis.fetch = async (input, init) => {
    const res = await original(input, init);
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    // The token endpoint's job is to hand out tokens: its answers are the one place they belong.
    if (url.startsWith(origin) && !url.startsWith(`${origin}/oauth/token`)) {
      for (const line of res.headers.getSetCookie()) {
        const value = line.split(";")[0].split("=").slice(1).join("=").trim();
        if (value.length >= 16) cookieValues.add(value);
      }
      const copy = res
        .clone()
        .text()
        .then(
          (text) => void bodies.push(text),
          () => {},
        );
      reading.add(copy);
      copy.finally(() => reading.delete(copy));
    }
    return res;
  };
  return {
    bodies,
    cookieValues,
    /** Wait for the copies still being read, then restore fetch. */
    async restore() {
      await Promise.allSettled([...reading]);
      globalThis.fetch = original;
    },
  };
}
