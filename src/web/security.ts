/**
 * HTTP hardening for every page a person opens: a strict CSP with no inline script or style,
 * no framing, no caching, no referrer (approval and consent URLs carry single-use secrets),
 * and a same-origin check on every state-changing POST.
 */
import type { MiddlewareHandler } from "hono";

// No form-action: a consent POST ends in a redirect to the MCP client's own callback, which
// Chromium would otherwise block. Forms still cannot be injected (no inline content at all).
// No script anywhere (default-src 'none'); manifest-src for the installable app's manifest.
export const CSP =
  "default-src 'none'; manifest-src 'self'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'";

/** The one page with a script (/activity: the service worker and the push subscription, app-shell.tsx). */
export const SCRIPT_PAGE_CSP = CSP.replace(
  "default-src 'none';",
  "default-src 'none'; script-src 'self'; worker-src 'self';",
);

/** Security headers on every response of the web app, unless a handler already set them. */
export const securityHeaders: MiddlewareHandler = async (c, next) => {
  await next();
  const headers = c.res.headers;
  const set = (name: string, value: string) => {
    if (!headers.has(name)) headers.set(name, value);
  };
  set("Content-Security-Policy", CSP);
  set("X-Frame-Options", "DENY");
  set("X-Content-Type-Options", "nosniff");
  set("Referrer-Policy", "no-referrer");
  set("Cache-Control", "no-store");
  set("Cross-Origin-Opener-Policy", "same-origin");
};

/**
 * Whether a POST comes from one of our own pages. Browsers send Origin on every POST, but under
 * `Referrer-Policy: no-referrer` (our pages carry single-use secrets in their URLs) the Fetch
 * spec makes it "null"; then the browser-set Sec-Fetch-Site, which no page can forge, decides.
 * A request with neither is refused (fail closed).
 */
export function isSameOriginPost(headers: Headers, publicOrigin: string): boolean {
  const origin = headers.get("Origin");
  if (origin === publicOrigin) return true;
  return (origin === null || origin === "null") && headers.get("Sec-Fetch-Site") === "same-origin";
}

/**
 * Refuse cross-site POSTs with 403 before any handler runs. `apiPrefixes` are machine APIs with
 * their own credentials (the dev demo API), which browsers never post forms to.
 */
export function requireSameOrigin(publicOrigin: string, apiPrefixes: readonly string[] = []): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method !== "POST" || apiPrefixes.some((prefix) => c.req.path.startsWith(prefix))) return next();
    if (!isSameOriginPost(c.req.raw.headers, publicOrigin)) {
      return c.json({ error: "forbidden_origin", message: 'unexpected "Origin" value' }, 403);
    }
    return next();
  };
}
