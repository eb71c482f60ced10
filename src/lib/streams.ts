/**
 * Bounded reads of untrusted bodies, shared by every place that reads one: the /mcp input guard
 * and the guarded fetch (src/http/), through which every provider and upstream answer is read.
 * A leaf: it imports nothing. Bytes are counted as they arrive (after any decompression), so a
 * decompression bomb or an endless stream stops at the cap; a deadline ends a slow drip even
 * when the producer ignores the abort signal.
 */

/** The fetch function a module calls out through; tests and the SSRF layer replace it. */
export type FetchLike = (request: Request) => Promise<Response>;

/** Settle with `promise`, or reject as soon as `signal` aborts (a producer may ignore the signal). */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

export type CappedRead = { kind: "done"; bytes: Uint8Array; truncated: boolean } | { kind: "too_large" };

export interface ReadCappedOptions {
  /** Keep the first `maxBytes` and mark the read truncated, instead of answering too_large. */
  truncate: boolean;
  /** A deadline: when it aborts, the read rejects with its reason. */
  signal?: AbortSignal;
}

/** Read at most `maxBytes` of a body. Rejects when `signal` aborts first. */
export async function readCapped(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
  options: ReadCappedOptions,
): Promise<CappedRead> {
  if (!body) return { kind: "done", bytes: new Uint8Array(0), truncated: false };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let truncated = false;
  try {
    for (;;) {
      const { done, value } = options.signal ? await raceAbort(reader.read(), options.signal) : await reader.read();
      if (done) break;
      if (value.byteLength > maxBytes - total) {
        if (!options.truncate) return { kind: "too_large" };
        chunks.push(value.subarray(0, maxBytes - total));
        total = maxBytes;
        truncated = true;
        break;
      }
      chunks.push(value);
      total += value.byteLength;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { kind: "done", bytes, truncated };
}
