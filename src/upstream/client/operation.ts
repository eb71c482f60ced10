/**
 * One bounded upstream MCP operation (connect or resume, do the work, close) and the fetch
 * every SDK transport of that operation uses, a thin layer over `guardedStream`
 * (src/http/guarded-stream.ts).
 *
 * Invariants: a request leaves only for a URL on the server's own origin that passes
 * `parseEndpoint`; redirects are refused, never followed; one deadline covers the whole
 * operation and at most `maxBytes` of body are read in total (counted as they arrive, decoded),
 * so an endless stream or a decompression bomb stops; `end()` cancels whatever is still open.
 * Failures carry a code, at most a status and the parsed challenge, never upstream text.
 */
import { ByteBudget, guardedStream } from "../../http/guarded-stream";
import { err, type Result } from "../../lib/result";
import type { FetchLike } from "../../lib/streams";
import { parseEndpoint } from "./endpoint";
import type { McpClientError } from "./errors";
import { parseWwwAuthenticate } from "./www-authenticate";

/** A failure this module decided (guard refusal, malformed answer); the SDK passes it on or keeps it as a `cause`. */
export class Failure extends Error {
  constructor(readonly failure: McpClientError) {
    super(`upstream ${failure.code}`);
  }
}

export interface OperationOptions {
  allowLoopback: boolean;
  headers: Record<string, string>;
  timeoutMs: number;
  maxBytes: number;
  fetcher: FetchLike;
}

/** One bounded operation: its deadline, byte budget, and the guarded fetch every transport uses. */
export class Operation {
  readonly #controller = new AbortController();
  readonly #timer: ReturnType<typeof setTimeout>;
  readonly #budget: ByteBudget;
  #ended = false;
  /** The first cause that ended the operation early: deadline, byte cap, refused URL or redirect. */
  fatal: McpClientError | null = null;
  /** The first 401/403 seen. */
  denied: McpClientError | null = null;
  /** Whether a request failed at the network level. */
  unreachable = false;

  constructor(
    readonly server: URL,
    readonly options: OperationOptions,
  ) {
    this.#timer = setTimeout(() => this.fail({ code: "timeout" }), options.timeoutMs);
    this.#budget = new ByteBudget(options.maxBytes, () => this.fail({ code: "too_large" }));
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  requestOptions() {
    return { signal: this.signal, timeout: this.options.timeoutMs };
  }

  /** Record the first fatal cause and abort everything in flight. */
  fail(error: McpClientError): Failure {
    if (!this.fatal && !this.#ended) this.fatal = error;
    const failure = new Failure(this.fatal ?? error);
    this.#controller.abort(failure);
    return failure;
  }

  /** Cancel whatever is still open (a standalone GET stream, a pending read) and stop the clock. */
  end(): void {
    this.#ended = true;
    clearTimeout(this.#timer);
    this.#controller.abort();
  }

  /** The server's own origin (a legacy SSE `endpoint` event may point elsewhere), then the gate. */
  #vet = (raw: string): Result<URL, McpClientError> => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return err({ code: "invalid_url" });
    }
    if (url.origin !== this.server.origin) return err({ code: "origin_mismatch" });
    return parseEndpoint(url.href, this.options);
  };

  /**
   * The fetch handed to the SDK transports. Aborts (our deadline or cap as a `Failure`, or the
   * SDK closing its own stream) reject with the signal's reason.
   */
  readonly fetch = async (input: string | URL, init: RequestInit = {}): Promise<Response> => {
    const signal = init.signal ? AbortSignal.any([init.signal, this.signal]) : this.signal;
    const sent = await guardedStream(String(input), init, {
      vet: this.#vet,
      fetcher: this.options.fetcher,
      signal,
      budget: this.#budget,
    });
    if (!sent.ok) {
      if (sent.error.code !== "unreachable") throw this.fail(sent.error);
      this.unreachable = true;
      throw new Failure(sent.error);
    }
    const response = sent.value;
    if ((response.status === 401 || response.status === 403) && !this.denied) {
      const challenge = parseWwwAuthenticate(response.headers.get("www-authenticate"));
      this.denied = { code: "unauthorized", status: response.status, challenge };
    }
    return response;
  };
}
