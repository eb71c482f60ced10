/**
 * The guarded fetch for an operation of many requests whose bodies are read as streams (the MCP
 * SDK's transports read SSE as it arrives): the same vet, redirect refusal and abort race as
 * `guardedFetch` (./guarded-fetch.ts), with the body handed back as a metered stream instead of
 * being read here.
 *
 * Invariants: the operation owns one deadline (its `signal`) and one `ByteBudget` shared by all
 * its bodies; bytes are counted as they arrive (decoded), so an endless stream or a decompression
 * bomb stops at the budget; when the signal aborts, every open body is cancelled and errors with
 * the signal's reason, so nothing outlives the operation.
 */
import { err, ok, type Result } from "../lib/result";
import { raceAbort } from "../lib/streams";
import {
  declaredLength,
  type GuardedFetchError,
  type GuardedRequest,
  type SendOptions,
  sendGuarded,
} from "./guarded-fetch";

/** Statuses whose Response may not have a body. */
const NULL_BODY_STATUSES = new Set([204, 205]);

/** One byte allowance shared by every body of an operation. */
export class ByteBudget {
  #left: number;

  /** `exceeded` gives the error a body fails with once the allowance is spent (and may end the operation). */
  constructor(
    maxBytes: number,
    readonly exceeded: () => Error,
  ) {
    this.#left = maxBytes;
  }

  get left(): number {
    return this.#left;
  }

  /** Count bytes as they arrive; past the allowance, throws `exceeded()`. */
  spend(bytes: number): void {
    this.#left -= bytes;
    if (this.#left < 0) throw this.exceeded();
  }
}

export interface GuardedStreamOptions<V> extends SendOptions<V> {
  /** The operation's deadline and abort: the request and its body end when it fires, with its reason. */
  signal: AbortSignal;
  budget: ByteBudget;
}

/** One guarded request of an operation, answered with its body metered against the budget. */
export async function guardedStream<V>(
  url: string,
  init: GuardedRequest,
  options: GuardedStreamOptions<V>,
): Promise<Result<Response, GuardedFetchError<V>>> {
  const sent = await sendGuarded(url, init, { ...options, caller: options.signal });
  if (!sent.ok) return sent;
  const response = sent.value;
  const headers = new Headers(response.headers);
  headers.delete("content-length");
  headers.delete("content-encoding"); // the body is already decoded
  const responseInit = { status: response.status, statusText: response.statusText, headers };
  const body = response.body;
  if (!body || NULL_BODY_STATUSES.has(response.status)) {
    body?.cancel().catch(() => {});
    return ok(new Response(null, responseInit));
  }
  if (declaredLength(response) > options.budget.left) {
    body.cancel().catch(() => {});
    return err({ code: "too_large" });
  }
  return ok(new Response(metered(body, options.signal, options.budget), responseInit));
}

/** `body` re-streamed: each chunk raced against `signal` and counted against `budget`. */
function metered(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal,
  budget: ByteBudget,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const stop = () => {
    reader.cancel().catch(() => {});
  };
  signal.addEventListener("abort", stop, { once: true });
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      try {
        const chunk = await raceAbort(reader.read(), signal);
        if (chunk.done) {
          signal.removeEventListener("abort", stop);
          controller.close();
          return;
        }
        budget.spend(chunk.value.byteLength);
        controller.enqueue(chunk.value);
      } catch (error) {
        signal.removeEventListener("abort", stop);
        stop();
        controller.error(error);
      }
    },
    cancel: (reason) => {
      signal.removeEventListener("abort", stop);
      return reader.cancel(reason);
    },
  });
}
