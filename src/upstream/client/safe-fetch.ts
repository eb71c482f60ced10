/**
 * The only way upstream code reaches the network outside an MCP operation: one request to one
 * vetted URL, answered as status, headers and text. Every hop (metadata, registration, token,
 * revocation, MCP probe) goes through here, so the SSRF gate runs on each of them; the fetch
 * itself is `guardedFetch` (src/http/guarded-fetch.ts) with `parseEndpoint` as its vet.
 *
 * Invariants: the URL passes `parseEndpoint` before any request exists; redirects are never
 * followed (a 3xx is the error `redirect_refused`, its Location never read, so an upstream
 * cannot bounce us to another host); the whole exchange, body included, ends within
 * `timeoutMs`, enforced rather than trusted to the fetcher; at most `maxBytes` of
 * (decompressed) body are read. Errors carry a code and at most a status, never a body, header
 * or URL, so a token in a request or response cannot leak through them.
 */
import { type FetchFailure, guardedFetch } from "../../http/guarded-fetch";
import { ok, type Result } from "../../lib/result";
import type { FetchLike } from "../../lib/streams";
import { isJsonObject } from "../../providers/strict-json";
import { type EndpointErrorCode, parseEndpoint } from "./endpoint";

export type { FetchLike } from "../../lib/streams";

/** The URL gate's refusal, or the guarded fetch's failure. */
export type SafeFetchErrorCode = EndpointErrorCode | FetchFailure["code"];

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
  const fetched = await guardedFetch(url, init, {
    vet: (raw) => parseEndpoint(raw, options),
    timeoutMs: options.timeoutMs,
    maxBytes: options.maxBytes,
    body: options.discardBody ? "discard" : options.truncate ? "truncate" : "read",
    fetcher: options.fetcher,
  });
  if (!fetched.ok) return fetched;
  const { status, headers, bytes, truncated } = fetched.value;
  return ok({ status, headers, text: new TextDecoder().decode(bytes), truncated });
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
