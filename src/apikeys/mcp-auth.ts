/**
 * How /mcp accepts a personal API key, through the OAuth library's `resolveExternalToken` hook
 * (so there is one auth path, and the library still answers every other bearer): the key's id
 * finds the person in KV (`cs:apikey:<id>`), and the person's Durable Object checks the key's
 * SHA-256 against the stored one in constant time. A verified key gives the same props an OAuth
 * token gives. Anything that claims to be a key and is not (malformed, unknown, wrong secret,
 * expired, revoked, disconnected) gets one answer: 401 `invalid_api_key`. The key value is never
 * logged, and it is read from `x-api-key` on /mcp only (`apiKeyAsBearer`).
 */
import { ExternalTokenError, type OAuthResourceContext } from "@cloudflare/workers-oauth-provider";
import type { Config } from "../config";
import type { AuthProps } from "../identity/props";
import { sha256Hex } from "../lib/crypto";
import { apiKeyIndexKey } from "../lib/storage-keys";
import { REQUIRED_SCOPE } from "../oauth/scopes";
import { sessionFor } from "../session/user-session";
import { apiKeyId, looksLikeApiKey } from "./key";

/** The header a headless client may send its key in instead of `Authorization: Bearer`. */
export const API_KEY_HEADER = "x-api-key";

/** The one refusal for every bad key, with a challenge like the library's own 401s. */
function invalidApiKey(config: Config): ExternalTokenError {
  const resource = new URL(config.resource);
  const metadata = `${resource.origin}/.well-known/oauth-protected-resource${resource.pathname}`;
  // Our own stable code, not one of RFC 6750's: the challenge below still says `invalid_token`.
  const code = "invalid_api_key" as ConstructorParameters<typeof ExternalTokenError>[0];
  return new ExternalTokenError(code, {
    description: "This API key is not valid: it may be mistyped, expired or revoked",
    statusCode: 401,
    headers: {
      "WWW-Authenticate": `Bearer realm="OAuth", resource_metadata="${metadata}", error="invalid_token", scope="${REQUIRED_SCOPE}"`,
    },
  });
}

/** The `resolveExternalToken` hook: props for a valid key, null for a bearer that is not a key. */
export function apiKeyResolver(config: Config) {
  return async ({ token, env }: { token: string; env: Env }) => {
    if (!looksLikeApiKey(token)) return null;
    const id = apiKeyId(token);
    if (!id) throw invalidApiKey(config);
    const userId = await env.OAUTH_KV.get(apiKeyIndexKey(id));
    if (!userId) throw invalidApiKey(config);
    const key = await sessionFor(env.SESSION, userId).verifyApiKey(id, await sha256Hex(token));
    if (!key) throw invalidApiKey(config);
    const props: AuthProps = {
      userId,
      issuer: key.issuer,
      subject: key.subject,
      ...(key.email ? { email: key.email } : {}),
      clientId: key.clientId,
      clientName: key.clientName,
      connectionId: key.connectionId,
      authorizedAt: key.createdAt,
    };
    return { props, audience: config.resource };
  };
}

/**
 * A request to /mcp carrying `x-api-key` and no Authorization header, as if the key were a
 * bearer; every other request is returned as it came (a page or /token never sees a key).
 */
export function apiKeyAsBearer(request: Request, config: Config): Request {
  const key = request.headers.get(API_KEY_HEADER);
  if (key === null || request.headers.has("Authorization")) return request;
  if (new URL(request.url).pathname !== new URL(config.resource).pathname) return request;
  const headers = new Headers(request.headers);
  headers.delete(API_KEY_HEADER);
  headers.set("Authorization", `Bearer ${key}`);
  return new Request(request, { headers });
}

/**
 * The library gives an externally resolved token no scopes and no client id; only our resolver
 * resolves external tokens, so such a request carries a verified key: it gets the baseline
 * scope and its connection's client id, as its own OAuth connection would.
 */
export function withApiKeyAuth(ctx: OAuthResourceContext<unknown>, props: AuthProps | null): void {
  if (ctx.auth.clientId !== undefined || !props) return;
  // The library assigns `ctx.auth` itself; its type is read-only only for handlers.
  (ctx as { auth: OAuthResourceContext<unknown>["auth"] }).auth = {
    ...ctx.auth,
    scope: [REQUIRED_SCOPE],
    clientId: props.clientId,
  };
}
