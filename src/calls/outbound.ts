/**
 * The one outbound request of an allowed call: sent through `guardedFetch` (src/http) to the URL
 * parsed once by `prepareCall` and checked again by `parseCallUrl`, never following redirects (a 3xx
 * comes back as the answer), bounded in time and in bytes (counted after decompression, so a
 * decompression bomb stops at the cap), and answered as status + a safe subset of headers + body.
 * `fetchCall` is what the person's object runs (its answer carries the body as bytes, to cross
 * the RPC); `answerBody` decodes and parses it in the Worker; `sendCall` is the two in one.
 * It never logs or returns the credential headers it was given. Its failures say `provider_`:
 * in this project "upstream" names upstream MCP servers only.
 */
import { guardedFetch } from "../http/guarded-fetch";
import type { Coded } from "../lib/errors";
import type { FetchLike } from "../lib/streams";
import { parseCallUrl } from "./prepare";

export type { FetchLike } from "../lib/streams";

export const RESPONSE_BYTE_CAP = 1024 * 1024;
export const CALL_TIMEOUT_MS = 20_000;
export const TRUNCATION_MARKER = "\n…[countersign: response truncated at 1 MiB]";

/** Response headers worth showing the assistant; everything else (cookies above all) is dropped. */
const SAFE_HEADERS = new Set([
  "content-type",
  "content-length",
  "etag",
  "last-modified",
  "link",
  "location",
  "retry-after",
  "x-request-id",
  "x-ratelimit-limit",
  "x-ratelimit-remaining",
  "x-ratelimit-reset",
  "x-github-request-id",
]);

export interface OutboundRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
}

export interface CallResponse {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON when the response is complete JSON, else text. */
  body: unknown;
  truncated: boolean;
  bytes: number;
}

/**
 * A response as it crosses an RPC: the body as its bytes, decoded and parsed by `answerBody` on
 * the far side, so the person's object, which holds every answer in flight, never holds a
 * decoded copy (a binary body decodes to twice its size).
 */
export type CallAnswer = Omit<CallResponse, "body"> & { raw: Uint8Array };

export type OutboundError = Coded<"outbound", "provider_timeout"> | Coded<"outbound", "provider_unreachable">;

type Sent<T> = { ok: true; value: T } | { ok: false; error: OutboundError };

/** Send the call and shape the answer; redirects come back as 3xx with their Location. */
export async function sendCall(
  request: OutboundRequest,
  fetcher?: FetchLike,
  options: { timeoutMs?: number; byteCap?: number } = {},
): Promise<Sent<CallResponse>> {
  const sent = await fetchCall(request, fetcher, options);
  return sent.ok ? { ok: true, value: answerBody(sent.value) } : sent;
}

/** `sendCall` without the decode and parse: the answer with its body as bytes, safe to return over RPC. */
export async function fetchCall(
  request: OutboundRequest,
  fetcher: FetchLike = (input) => fetch(input),
  options: { timeoutMs?: number; byteCap?: number } = {},
): Promise<Sent<CallAnswer>> {
  const fetched = await guardedFetch(
    request.url,
    {
      method: request.method,
      headers: request.headers,
      body: request.method === "GET" || request.method === "HEAD" ? undefined : request.body,
    },
    {
      vet: parseCallUrl,
      fetcher,
      timeoutMs: options.timeoutMs ?? CALL_TIMEOUT_MS,
      maxBytes: options.byteCap ?? RESPONSE_BYTE_CAP,
      body: "truncate",
      // The assistant sees a 3xx and its Location; a new call there is prepared and granted anew.
      redirects: "report",
    },
  );
  // A refused URL (prepareCall already vetted it) or an opaque redirect is as good as no answer.
  if (!fetched.ok) {
    return {
      ok: false,
      error: { code: fetched.error.code === "timeout" ? "provider_timeout" : "provider_unreachable" },
    };
  }
  const read = fetched.value;
  const headers: Record<string, string> = {};
  for (const [name, value] of read.headers) if (SAFE_HEADERS.has(name)) headers[name] = value;
  return {
    ok: true,
    value: { status: read.status, headers, raw: read.bytes, truncated: read.truncated, bytes: read.bytes.byteLength },
  };
}

/** The answer's body: parsed when it is complete JSON, else its text (with the marker when cut). */
export function answerBody(answer: CallAnswer): CallResponse {
  const { raw, ...rest } = answer;
  const decoded = new TextDecoder().decode(raw);
  const text = answer.truncated ? `${decoded}${TRUNCATION_MARKER}` : decoded;
  let body: unknown = text;
  if (!answer.truncated && /json/i.test(answer.headers["content-type"] ?? "") && text !== "") {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  return { ...rest, body };
}
