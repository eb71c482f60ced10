/**
 * The fetch boundary for Workers tests: one spy on globalThis.fetch that routes by origin to
 * fake services (IdP, provider APIs) and records every request it saw. Anything unrouted goes
 * to the real fetch, which the test config answers with 599: tests never reach out.
 */
import { vi } from "vitest";

export interface SeenRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
  /** The body's bytes, for binary bodies (a Web Push message). */
  bytes: Uint8Array<ArrayBuffer>;
}

type Handler = (request: Request, body: string) => Response | Promise<Response>;

const routes = new Map<string, Handler>();
export const seen: SeenRequest[] = [];
let spy: unknown = null;

/** Route every request to `origin` to `handler` (replacing an earlier route for it). */
export function routeFetch(origin: string, handler: Handler): void {
  // (Re)install when absent or when a test restored the mocks since.
  if (spy === null || globalThis.fetch !== spy) {
    const original = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input as RequestInfo, init as RequestInit);
      const route = routes.get(new URL(request.url).origin);
      if (!route) return original(request);
      const bytes =
        request.method === "GET" || request.method === "HEAD"
          ? new Uint8Array()
          : new Uint8Array(await request.arrayBuffer());
      const body = new TextDecoder().decode(bytes);
      seen.push({
        url: request.url,
        method: request.method,
        headers: Object.fromEntries(request.headers),
        body,
        bytes,
      });
      return route(request, body);
    });
    spy = globalThis.fetch;
  }
  routes.set(origin, handler);
}

/** Forget routes and recorded requests (call in beforeEach, after vi.restoreAllMocks). */
export function resetFetchRoutes(): void {
  routes.clear();
  seen.length = 0;
  vi.restoreAllMocks();
  spy = null;
}

/** Recorded requests to one origin. */
export const seenAt = (origin: string) => seen.filter((request) => new URL(request.url).origin === origin);
