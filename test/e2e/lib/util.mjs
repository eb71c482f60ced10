// Small shared utilities for the e2e suite and the benchmark: free ports, bounded waits, sleeping.
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export { sleep };

/** A TCP port that was free a moment ago on 127.0.0.1 (bind port 0, read it, release it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Race a promise against a deadline; the timer never keeps the process alive.
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {string} what  named in the timeout error
 * @returns {Promise<T>}
 */
export function withTimeout(promise, ms, what) {
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    timer.unref();
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** fetch with a per-request deadline (default 15 s), so no single request can hang a test. */
export function fetchWithTimeout(input, init = {}, ms = 15_000) {
  return fetch(input, { ...init, signal: init.signal ?? AbortSignal.timeout(ms) });
}
