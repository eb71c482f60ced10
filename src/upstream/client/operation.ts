/**
 * One bounded upstream MCP operation (connect or resume, do the work, close) and the guarded
 * fetch every SDK transport of that operation uses.
 *
 * Invariants: a request leaves only for a URL on the server's own origin that passes
 * `parseEndpoint`; redirects are refused, never followed; one deadline covers the whole
 * operation and at most `maxBytes` of body are read in total (counted as they arrive, decoded),
 * so an endless stream or a decompression bomb stops; `end()` cancels whatever is still open.
 * Failures carry a code, at most a status and the parsed challenge, never upstream text.
 */
import { type FetchLike, raceAbort } from "../../lib/streams";
import { parseEndpoint } from "./endpoint";
import type { McpClientError } from "./errors";
import { parseWwwAuthenticate } from "./www-authenticate";

const NULL_BODY_STATUSES = new Set([204, 205]);

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
  #bytes = 0;
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

  /** The fetch handed to the SDK transports. */
  readonly fetch = async (input: string | URL, init: RequestInit = {}): Promise<Response> => {
    if (this.signal.aborted) throw this.signal.reason;
    const url = new URL(input);
    if (url.origin !== this.server.origin) throw this.fail({ code: "origin_mismatch" });
    const vetted = parseEndpoint(url.href, this.options);
    if (!vetted.ok) throw this.fail({ code: vetted.error.code });
    const signal = init.signal ? AbortSignal.any([init.signal, this.signal]) : this.signal;
    let response: Response;
    try {
      // Only these fields: the SDK's EventSource adds `mode` and `cache`, which workerd rejects.
      const request = new Request(vetted.value.href, {
        method: init.method ?? "GET",
        headers: init.headers,
        body: init.body,
        redirect: "manual",
        signal,
      });
      response = await raceAbort(this.options.fetcher(request), signal);
    } catch {
      // Our deadline or cap (a Failure), or the SDK closing its own stream (an AbortError).
      if (signal.aborted) throw signal.reason;
      this.unreachable = true;
      throw new Failure({ code: "unreachable" });
    }
    const { status } = response;
    // 3xx, and the opaque status 0 some runtimes give a manual redirect: never followed.
    if (status === 0 || (status >= 300 && status < 400)) {
      response.body?.cancel().catch(() => {});
      throw this.fail({ code: "redirect_refused", status });
    }
    if ((status === 401 || status === 403) && !this.denied) {
      const challenge = parseWwwAuthenticate(response.headers.get("www-authenticate"));
      this.denied = { code: "unauthorized", status, challenge };
    }
    return this.#metered(response, signal);
  };

  /** The same response with a body that counts bytes against the operation's budget. */
  #metered(response: Response, signal: AbortSignal): Response {
    const headers = new Headers(response.headers);
    headers.delete("content-length");
    headers.delete("content-encoding"); // the body is already decoded
    const init = { status: response.status, statusText: response.statusText, headers };
    const body = response.body;
    if (!body || NULL_BODY_STATUSES.has(response.status)) {
      body?.cancel().catch(() => {});
      return new Response(null, init);
    }
    const declared = Number(response.headers.get("content-length") ?? Number.NaN);
    if (declared > this.options.maxBytes - this.#bytes) {
      body.cancel().catch(() => {});
      throw this.fail({ code: "too_large" });
    }
    const reader = body.getReader();
    const stop = () => {
      reader.cancel().catch(() => {});
    };
    signal.addEventListener("abort", stop, { once: true });
    const metered = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          const chunk = await raceAbort(reader.read(), signal);
          if (chunk.done) {
            signal.removeEventListener("abort", stop);
            controller.close();
            return;
          }
          this.#bytes += chunk.value.byteLength;
          if (this.#bytes > this.options.maxBytes) throw this.fail({ code: "too_large" });
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
    return new Response(metered, init);
  }
}
