/**
 * Flood limits in front of everything an anonymous client can trigger: dynamic client
 * registration and the sign-in / authorization pages, counted per client IP. Answers a clear
 * 429 with Retry-After; the limiters themselves are Workers Rate Limiting bindings.
 */
const RETRY_AFTER_SECONDS = "60";

/** The client's IP as Cloudflare reports it; one shared bucket when absent (local dev). */
export const clientIp = (request: Request) => request.headers.get("CF-Connecting-IP") ?? "unknown";

/** A 429 in the OAuth error shape (RFC 6749 §5.2 style) every client understands. */
export function tooManyRequests(description: string): Response {
  return Response.json(
    { error: "rate_limited", error_description: description },
    { status: 429, headers: { "Retry-After": RETRY_AFTER_SECONDS, "Cache-Control": "no-store" } },
  );
}

function limiterFor(request: Request, env: Env): RateLimit | null {
  const path = new URL(request.url).pathname;
  if (path === "/oauth/register" && request.method === "POST") return env.REGISTRATION_LIMITER;
  if (path === "/authorize" || path === "/authorize/resume" || path === "/signin" || path.startsWith("/signin/")) {
    return env.AUTH_LIMITER;
  }
  return null;
}

/** A 429 when this request's IP has used up its budget for this kind of request, else null. */
export async function floodGuard(request: Request, env: Env): Promise<Response | null> {
  const limiter = limiterFor(request, env);
  if (!limiter) return null;
  const { success } = await limiter.limit({ key: clientIp(request) });
  return success ? null : tooManyRequests("Too many requests from this address. Wait a minute and try again.");
}
