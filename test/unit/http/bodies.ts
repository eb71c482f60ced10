/**
 * Response bodies for the guarded-fetch tests: a body that stops (or never ends) after some
 * chunks and says whether a reader cancelled it, and an endless drip.
 */

/** A body of `chunks` that, unless `end`, never finishes; `cancelled()` says whether it was cancelled. */
export function streamed(chunks: string[], end = true, headers: Record<string, string> = {}) {
  const encoder = new TextEncoder();
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      if (end) controller.close();
    },
    cancel() {
      cancelled = true;
    },
  });
  return { response: new Response(body, { headers }), cancelled: () => cancelled };
}

/** A body that drips one byte every 20 ms, for ever. */
export function drip(): Response {
  let timer: ReturnType<typeof setInterval> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      timer = setInterval(() => controller.enqueue(new Uint8Array([97])), 20);
    },
    cancel() {
      clearInterval(timer);
    },
  });
  return new Response(body);
}
