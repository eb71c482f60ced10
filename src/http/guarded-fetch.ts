/**
 * The one way Countersign fetches a URL that came from outside its own code: provider API calls,
 * provider token endpoints, and every upstream MCP and OAuth hop. Callers choose the URL check,
 * the caps and what a body is for; the mechanism lives only here.
 *
 * Invariants: the caller's `vet` accepts the URL before any request exists, and only the URL it
 * returns is fetched; `redirect: "manual"`, and a 3xx (or the opaque status 0 some runtimes give
 * a manual redirect) is refused with its Location never read; only a caller that reports
 * redirects as answers (provider calls, whose 3xx the assistant sees) gets a 3xx back, and even
 * then nothing follows it. One deadline covers the request and the whole body, enforced by
 * racing the signal rather than trusting the fetcher, so a server that never sends headers and a
 * slow drip both end. At most `maxBytes` of body are read, counted as they arrive after any
 * decompression, so a decompression bomb stops at the cap.
 *
 * Failures are values with a stable code and at most a status: never a body, header or URL, so
 * a token in a request or answer cannot leak through them. A caller's own abort is not a
 * failure: it rejects with the signal's reason, as `fetch` does.
 */
import type { Coded } from "../lib/errors";
import { err, ok, type Result } from "../lib/result";
import { type FetchLike, raceAbort, readCapped } from "../lib/streams";

export type { FetchLike } from "../lib/streams";

/** Why a request that passed the vet gave no usable answer. */
export type FetchFailure =
  /** The deadline passed, before the headers or while the body was still arriving. */
  | Coded<"fetch", "timeout">
  /** The fetcher threw (DNS, connection, TLS) or the body broke off. */
  | Coded<"fetch", "unreachable">
  /** A 3xx or status 0; its Location was not read and nothing was fetched from it. */
  | Coded<"fetch", "redirect_refused", { status: number }>
  /** The body, declared or counted, passed the cap. */
  | Coded<"fetch", "too_large">;

/** The caller's vetting error `V` as its `vet` returned it, or a failure of the exchange. */
export type GuardedFetchError<V> = V | FetchFailure;

/** Accepts or refuses a URL before its request exists; the URL it returns is the one fetched. */
export type UrlVet<V> = (url: string) => Result<URL, V>;

/** What a caller may set on the request; `redirect`, `signal`, `mode` and `cache` are never theirs. */
export interface GuardedRequest {
  method?: string;
  headers?: HeadersInit;
  body?: BodyInit | null;
}

export interface SendOptions<V> {
  vet: UrlVet<V>;
  fetcher?: FetchLike;
  /** "refuse" (default): a 3xx is `redirect_refused`. "report": a 3xx is an answer, never followed. */
  redirects?: "refuse" | "report";
}

export interface GuardedFetchOptions<V> extends SendOptions<V> {
  /** The deadline of the whole exchange, body included. */
  timeoutMs: number;
  /** The caller's abort; when it fires the fetch rejects with its reason. */
  signal?: AbortSignal;
  maxBytes: number;
  /** "read" (default): a body over `maxBytes` is `too_large`; "truncate": keep its first `maxBytes`; "discard": cancel it unread. */
  body?: "read" | "truncate" | "discard";
}

export interface GuardedResponse {
  status: number;
  headers: Headers;
  bytes: Uint8Array;
  /** Cut at `maxBytes` (only with `body: "truncate"`). */
  truncated: boolean;
}

/** The opaque status 0 and every 3xx: the answers that would take us elsewhere. */
const isRedirect = (status: number) => status === 0 || (status >= 300 && status < 400);

/** The declared Content-Length, NaN when absent or unreadable (so every comparison is false). */
export const declaredLength = (response: Response): number =>
  Number(response.headers.get("content-length") ?? Number.NaN);

/** After a rejection under `signal`: rethrow the caller's abort, else say which failure it was. */
function failure(signal: AbortSignal, caller: AbortSignal | undefined): FetchFailure {
  if (caller?.aborted) throw caller.reason;
  return { code: signal.aborted ? "timeout" : "unreachable" };
}

/**
 * Vet, build and send one request under `signal`, and refuse a redirect; the body is left
 * unread for the caller. `caller` is the part of `signal` that is the caller's own abort.
 */
export async function sendGuarded<V>(
  url: string,
  init: GuardedRequest,
  options: SendOptions<V> & { signal: AbortSignal; caller?: AbortSignal | undefined },
): Promise<Result<Response, GuardedFetchError<V>>> {
  const { signal, caller } = options;
  if (caller?.aborted) throw caller.reason;
  const vetted = options.vet(url);
  if (!vetted.ok) return vetted;
  const fetcher = options.fetcher ?? ((request: Request) => fetch(request));
  let response: Response;
  try {
    // Only these fields: the MCP SDK's EventSource adds `mode` and `cache`, which workerd rejects.
    const request = new Request(vetted.value.href, {
      method: init.method ?? "GET",
      headers: init.headers,
      body: init.body,
      redirect: "manual",
      signal,
    });
    // Raced, not only signalled: a fetcher may ignore the signal and never settle.
    response = await raceAbort(fetcher(request), signal);
  } catch {
    return err(failure(signal, caller));
  }
  const reported = options.redirects === "report" && response.status !== 0;
  if (isRedirect(response.status) && !reported) {
    response.body?.cancel().catch(() => {});
    return err({ code: "redirect_refused", status: response.status });
  }
  return ok(response);
}

/** One guarded exchange: vetted URL, no redirect, one deadline, the body read within `maxBytes`. */
export async function guardedFetch<V>(
  url: string,
  init: GuardedRequest,
  options: GuardedFetchOptions<V>,
): Promise<Result<GuardedResponse, GuardedFetchError<V>>> {
  const deadline = AbortSignal.timeout(options.timeoutMs);
  const caller = options.signal;
  const signal = caller ? AbortSignal.any([deadline, caller]) : deadline;
  const sent = await sendGuarded(url, init, { ...options, signal, caller });
  if (!sent.ok) return sent;
  const response = sent.value;
  const mode = options.body ?? "read";
  const answer = (bytes: Uint8Array, truncated: boolean) =>
    ok({ status: response.status, headers: response.headers, bytes, truncated });
  if (mode === "discard" || !response.body) {
    response.body?.cancel().catch(() => {});
    return answer(new Uint8Array(0), false);
  }
  // A declared length over the cap is refused without waiting for a body that may never come.
  if (mode === "read" && declaredLength(response) > options.maxBytes) {
    response.body.cancel().catch(() => {});
    return err({ code: "too_large" });
  }
  try {
    const read = await readCapped(response.body, options.maxBytes, { truncate: mode === "truncate", signal });
    return read.kind === "done" ? answer(read.bytes, read.truncated) : err({ code: "too_large" });
  } catch {
    return err(failure(signal, caller));
  }
}
