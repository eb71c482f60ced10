/**
 * Input limits for /mcp, applied before any JSON-RPC parsing by the SDK: body size (413),
 * UTF-8 validity and JSON syntax (JSON-RPC -32700), nesting depth (400), and tool arguments
 * with prototype keys (-32602). The SDK's request schema silently drops an own `__proto__` key,
 * so the raw body is the only place a call that differs on the wire from what a tool sees can
 * be caught; such a call never reaches a tool and never consumes an approval. Errors never
 * carry a stack trace or echo the input. The body is read and parsed here once: the SDK gets the
 * parsed value (`parsedBody`) and never reads the request body again.
 */
import { readCapped } from "../lib/streams";
import type { ToolsNeeded } from "../upstream/listing-cache";

export const MAX_BODY_BYTES = 1024 * 1024;
export const MAX_JSON_DEPTH = 64;

/** Keys a JavaScript object model may swallow or treat specially: never allowed in tool arguments. */
export const PROTOTYPE_KEYS: readonly string[] = ["__proto__", "constructor", "prototype"];
/** The stable reason carried in `error.data.reason` for a refused prototype key. */
export const PROTOTYPE_KEY_REASON = "argument_key_not_allowed";

function jsonRpcError(
  status: number,
  code: number,
  message: string,
  id: string | number | null = null,
  data?: Record<string, unknown>,
): Response {
  return new Response(JSON.stringify({ jsonrpc: "2.0", id, error: { code, message, ...(data ? { data } : {}) } }), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

/** Deepest nesting of arrays/objects in JSON text, ignoring brackets inside strings. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92)
        i++; // backslash: skip the escaped character
      else if (ch === 34) inString = false;
    } else if (ch === 34) inString = true;
    else if (ch === 123 || ch === 91) max = Math.max(max, ++depth);
    else if (ch === 125 || ch === 93) depth--;
  }
  return max;
}

/**
 * DNS-rebinding and cross-site defence (MCP transport security): a browser Origin, when present,
 * must be http(s) and name one of our hostnames. Non-browser clients send no Origin.
 */
export function originAllowed(request: Request, hostnames: readonly string[]): boolean {
  const origin = request.headers.get("Origin");
  if (origin === null) return true;
  try {
    const url = new URL(origin);
    return (url.protocol === "https:" || url.protocol === "http:") && hostnames.includes(url.hostname);
  } catch {
    return false;
  }
}

/** A request that passed the guard, with its body as parsed here (undefined when it has none). */
export interface GuardedRequest {
  request: Request;
  body: unknown;
}

/**
 * Which upstream tools a JSON-RPC message (or batch) needs: `"all"` for a `tools/list` or a
 * batch that calls a namespaced upstream tool, the one name for a single `tools/call` of such a
 * tool (`retry` when it carries a request state: an elicited call coming back), `"none"` otherwise.
 */
export function upstreamToolsNeeded(body: unknown): ToolsNeeded {
  const messages = Array.isArray(body) ? body : [body];
  const names: string[] = [];
  let retry = false;
  for (const message of messages) {
    if (message === null || typeof message !== "object") continue;
    const { method, params } = message as { method?: unknown; params?: { name?: unknown; requestState?: unknown } };
    if (method === "tools/list") return "all";
    if (method === "tools/call" && typeof params?.name === "string" && params.name.includes("__")) {
      names.push(params.name);
      retry = params.requestState !== undefined;
    }
  }
  if (names.length === 0) return "none";
  return !Array.isArray(body) && names.length === 1 ? { only: names[0] as string, retry } : "all";
}

/** The first prototype key at any depth of a JSON value, or null. Iterative: depth is already capped. */
export function prototypeKey(value: unknown): string | null {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const next = stack.pop();
    if (next === null || typeof next !== "object") continue;
    if (Array.isArray(next)) {
      stack.push(...next);
      continue;
    }
    for (const key of Object.keys(next)) {
      if (PROTOTYPE_KEYS.includes(key)) return key;
      stack.push((next as Record<string, unknown>)[key]);
    }
  }
  return null;
}

/** The refusal for a tools/call (single or batched) whose arguments carry a prototype key. */
function refusePrototypeKeys(body: unknown): Response | null {
  const messages = Array.isArray(body) ? body : [body];
  for (const message of messages) {
    if (message === null || typeof message !== "object") continue;
    const { method, params, id } = message as { method?: unknown; params?: unknown; id?: unknown };
    if (method !== "tools/call" || params === null || typeof params !== "object") continue;
    // `Object.keys` sees an own `__proto__` that JSON.parse created; property access would not.
    const key = prototypeKey(Object.hasOwn(params, "arguments") ? (params as { arguments: unknown }).arguments : null);
    if (key === null) continue;
    const single = !Array.isArray(body) && (typeof id === "string" || typeof id === "number");
    return jsonRpcError(
      single ? 200 : 400,
      -32602,
      `Invalid params: tool arguments may not contain the key "${key}"`,
      single ? (id as string | number) : null,
      { reason: PROTOTYPE_KEY_REASON, key },
    );
  }
  return null;
}

/**
 * Either a rejection to send, or the request with its validated, parsed body. A POST's body
 * stream is consumed: hand `body` on, never the request's body.
 */
export async function guardMcpRequest(request: Request): Promise<Response | GuardedRequest> {
  if (request.method !== "POST" || !request.body) return { request, body: undefined };
  const declared = Number(request.headers.get("Content-Length") ?? "0");
  if (declared > MAX_BODY_BYTES) return jsonRpcError(413, -32600, "Request body too large");
  const read = await readCapped(request.body, MAX_BODY_BYTES, { truncate: false });
  if (read.kind === "too_large") return jsonRpcError(413, -32600, "Request body too large");
  const bytes = read.bytes;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return jsonRpcError(400, -32700, "Parse error: body is not valid UTF-8");
  }
  if (jsonDepth(text) > MAX_JSON_DEPTH) return jsonRpcError(400, -32600, "Invalid Request: JSON nested too deeply");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return jsonRpcError(400, -32700, "Parse error: body is not valid JSON");
  }
  const refused = refusePrototypeKeys(parsed);
  if (refused) return refused;
  return { request, body: parsed };
}
