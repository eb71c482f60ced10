/**
 * The only way upstream code reaches the network: one request to one vetted URL, answered as
 * status, headers and text. Every hop (metadata, registration, token, revocation, MCP probe)
 * goes through here, so the SSRF gate runs on each of them.
 *
 * Invariants: the URL passes `parseEndpoint` before any request exists; redirects are never
 * followed (a 3xx is the error `redirect_refused`, its Location never read, so an upstream
 * cannot bounce us to another host); the whole exchange, body included, ends within
 * `timeoutMs`, enforced here rather than trusted to the fetcher; at most `maxBytes` of
 * (decompressed) body are read. Errors carry a code and at most a status, never a body, header
 * or URL, so a token in a request or response cannot leak through them.
 */
import { err, ok, type Result } from "../../lib/result";
import { type CappedRead, type FetchLike, raceAbort, readCapped } from "../../lib/streams";
import { isJsonObject } from "../../providers/strict-json";
import { type EndpointErrorCode, parseEndpoint } from "./endpoint";

export type { FetchLike } from "../../lib/streams";

export type SafeFetchErrorCode = EndpointErrorCode | "timeout" | "unreachable" | "redirect_refused" | "too_large";

export interface SafeFetchError {
  code: SafeFetchErrorCode;
  /** The upstream status, for `redirect_refused` only. */
  status?: number;
}

export interface SafeFetchInit {
  method?: "GET" | "POST" | "DELETE";
  headers?: Record<string, string>;
  body?: string | URLSearchParams;
}

export interface SafeFetchOptions {
  allowLoopback: boolean;
  timeoutMs: number;
  maxBytes: number;
  /** Cut the body at `maxBytes` (and say so) instead of failing with `too_large`. */
  truncate?: boolean;
  /** Cancel the body unread: for answers that matter only by status and headers (an SSE stream may never end). */
  discardBody?: boolean;
  fetcher?: FetchLike;
}

export interface SafeResponse {
  status: number;
  headers: Headers;
  text: string;
  truncated: boolean;
}

/** Send one request to a vetted upstream URL; never follows redirects, bounded in time and bytes. */
export async function safeFetch(
  url: string,
  init: SafeFetchInit,
  options: SafeFetchOptions,
): Promise<Result<SafeResponse, SafeFetchError>> {
  const endpoint = parseEndpoint(url, options);
  if (!endpoint.ok) return endpoint;
  const signal = AbortSignal.timeout(options.timeoutMs);
  const fetcher = options.fetcher ?? ((request: Request) => fetch(request));
  const failed = (): Result<never, SafeFetchError> => err({ code: signal.aborted ? "timeout" : "unreachable" });
  let response: Response;
  try {
    const request = new Request(endpoint.value.href, {
      method: init.method ?? "GET",
      headers: init.headers,
      body: init.body,
      redirect: "manual",
      signal,
    });
    response = await raceAbort(fetcher(request), signal);
  } catch {
    return failed();
  }
  const discard = () => response.body?.cancel().catch(() => {});
  // 3xx, and the opaque status 0 some runtimes give a manual redirect.
  if ((response.status >= 300 && response.status < 400) || response.status === 0) {
    discard();
    return err({ code: "redirect_refused", status: response.status });
  }
  if (options.discardBody || !response.body) {
    discard();
    return ok({ status: response.status, headers: response.headers, text: "", truncated: false });
  }
  const declared = Number(response.headers.get("content-length"));
  if (!options.truncate && Number.isFinite(declared) && declared > options.maxBytes) {
    discard();
    return err({ code: "too_large" });
  }
  let read: CappedRead;
  try {
    read = await readCapped(response.body, options.maxBytes, { truncate: options.truncate ?? false, signal });
  } catch {
    return failed();
  }
  if (read.kind === "too_large") return err({ code: "too_large" });
  const text = new TextDecoder().decode(read.bytes);
  return ok({ status: response.status, headers: response.headers, text, truncated: read.truncated });
}

/** Caps for small JSON documents (metadata, registration, tokens). */
export const JSON_MAX_BYTES = 64 * 1024;
export const UPSTREAM_TIMEOUT_MS = 10_000;

/** What every upstream call takes: the dev loopback switch, and overrides for tests. */
export interface UpstreamOptions {
  allowLoopback: boolean;
  timeoutMs?: number;
  maxBytes?: number;
  fetcher?: FetchLike;
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  /** The body when it is a JSON object, else null (not JSON, an array, truncated, empty). */
  json: Record<string, unknown> | null;
}

/** `safeFetch` with the small-document caps, parsing the answer as a JSON object when it is one. */
export async function fetchJson(
  url: string,
  init: SafeFetchInit,
  options: UpstreamOptions,
): Promise<Result<JsonResponse, SafeFetchError>> {
  const response = await safeFetch(url, init, {
    allowLoopback: options.allowLoopback,
    timeoutMs: options.timeoutMs ?? UPSTREAM_TIMEOUT_MS,
    maxBytes: options.maxBytes ?? JSON_MAX_BYTES,
    ...(options.fetcher ? { fetcher: options.fetcher } : {}),
  });
  if (!response.ok) return response;
  let json: Record<string, unknown> | null = null;
  try {
    const parsed: unknown = JSON.parse(response.value.text);
    if (isJsonObject(parsed)) json = parsed;
  } catch {
    json = null;
  }
  return ok({ status: response.value.status, headers: response.value.headers, json });
}
