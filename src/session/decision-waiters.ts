/**
 * Who is waiting on a request's decision: `check_access_request` with `wait_seconds` holds here
 * until the grant book reports a change to that request (a decision, an expiry, a revocation)
 * or its deadline passes. In memory only: an evicted object simply ends the waits, and the
 * waiter reads the request again either way, so nothing is ever answered from this map.
 */
import type { Grant } from "../grants/types";

export class DecisionWaiters {
  readonly #waiting = new Map<string, Set<() => void>>();

  /** Wait up to `deadlineMs` for news of request `id`, then answer with `read()`. Nothing polls. */
  wait(id: string, deadlineMs: number, read: () => Grant | null): Promise<Grant | null> {
    return new Promise<Grant | null>((resolve) => {
      const waiters = this.#waiting.get(id) ?? new Set();
      this.#waiting.set(id, waiters);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0) this.#waiting.delete(id);
        resolve(read());
      };
      const timer = setTimeout(done, deadlineMs);
      waiters.add(done);
    });
  }

  /** The request changed: every waiter on it reads it again now. */
  notify(id: string): void {
    for (const waiter of [...(this.#waiting.get(id) ?? [])]) waiter();
  }

  /** Account deletion: every wait ends now (they then find nothing). */
  releaseAll(): void {
    for (const [id] of this.#waiting) this.notify(id);
    this.#waiting.clear();
  }
}
