/**
 * The OAuth 2.1 authorization server for MCP clients, built from configuration. Every endpoint
 * is an absolute URL under PUBLIC_URL, so the issuer, the metadata and the token audience never
 * depend on the Host header of a request.
 *
 * Token lifetimes (see docs/deploying.md "Staying connected"): access tokens last 8 hours and refresh
 * grants slide for 30 days of idleness, capped at 90 days from authorization. MCP tokens are opaque and checked
 * against KV on every call, so revoking one takes effect at once whatever its TTL; and a token
 * alone reaches nobody's accounts, since every real access needs a human-approved grant.
 */
import { OAuthError, OAuthProvider } from "@cloudflare/workers-oauth-provider";
import { apiKeyResolver } from "../apikeys/mcp-auth";
import type { Config } from "../config";
import { parseAuthProps } from "../identity/props";
import { log } from "../lib/log";
import { createMcpApi } from "../mcp/api";
import { createWebApp } from "../web/app";
import { REQUIRED_SCOPE, SCOPES_SUPPORTED } from "./scopes";

export const ACCESS_TOKEN_TTL_SECONDS = 8 * 3600;
export const REFRESH_TOKEN_TTL_SECONDS = 90 * 24 * 3600;
export const REFRESH_TOKEN_IDLE_TTL_SECONDS = 30 * 24 * 3600;

/**
 * Refresh keeps a connection alive for 30 idle days, but never past 90 days from the person's
 * authorization: the library slides the idle TTL without a ceiling, so we shorten the last slide.
 */
export function refreshLifetime(authorizedAt: number, now: number): number {
  const remaining = Math.floor((authorizedAt + REFRESH_TOKEN_TTL_SECONDS * 1000 - now) / 1000);
  if (remaining < 60) {
    throw new OAuthError("invalid_grant", { description: "This connection reached its 90-day limit; connect again" });
  }
  return Math.min(REFRESH_TOKEN_IDLE_TTL_SECONDS, remaining);
}

/** Build the provider (authorization server + protected /mcp + web app) for one configuration. */
export function createProvider(config: Config, env: Env): OAuthProvider<Env> {
  const origin = config.publicOrigin;
  const web = createWebApp(config);
  return new OAuthProvider<Env>({
    apiRoute: config.resource,
    apiHandler: createMcpApi(config, env),
    defaultHandler: { fetch: (request, env, ctx) => web.fetch(request, env, ctx) },
    authorizeEndpoint: `${origin}/authorize`,
    tokenEndpoint: `${origin}/oauth/token`,
    clientRegistrationEndpoint: `${origin}/oauth/register`,
    scopesSupported: [...SCOPES_SUPPORTED],
    requiredScopes: [REQUIRED_SCOPE],
    resourceMetadata: {
      resource: config.resource,
      authorization_servers: [origin],
      bearer_methods_supported: ["header"],
      resource_name: "Countersign",
    },
    // Personal API keys for headless clients (src/apikeys); a bearer that is not a key gets `invalid_token`.
    resolveExternalToken: apiKeyResolver(config),
    clientIdMetadataDocumentEnabled: true,
    accessTokenTTL: ACCESS_TOKEN_TTL_SECONDS,
    refreshTokenTTL: REFRESH_TOKEN_TTL_SECONDS,
    refreshTokenIdleTTL: REFRESH_TOKEN_IDLE_TTL_SECONDS,
    tokenExchangeCallback: ({ grantType, props }) => {
      if (grantType !== "refresh_token") return;
      const parsed = parseAuthProps(props);
      if (!parsed) throw new OAuthError("invalid_grant", { description: "This connection is no longer valid" });
      return { refreshTokenIdleTTL: refreshLifetime(parsed.authorizedAt, Date.now()) };
    },
    onError: ({ code, status, internal }) => {
      log.warn("oauth.error", { error: code, status, category: internal.category, reason: internal.reason });
    },
  });
}
