/**
 * The OAuth 2.1 authorization server for MCP clients, built from configuration. Every endpoint
 * is an absolute URL under PUBLIC_URL, so the issuer, the metadata and the token audience never
 * depend on the Host header of a request.
 *
 * Token lifetimes (see README "Staying connected"): access tokens last 8 hours and refresh
 * grants slide for 30 days of idleness (90 days at most). MCP tokens are opaque and checked
 * against KV on every call, so revoking one takes effect at once whatever its TTL; and a token
 * alone reaches nobody's accounts, since every real access needs a human-approved grant.
 */
import { OAuthProvider } from "@cloudflare/workers-oauth-provider";
import type { Config } from "../lib/config";
import { log } from "../lib/log";
import { createMcpApi, REQUIRED_SCOPE } from "../mcp/api";
import { createWebApp } from "../web/app";

export const ACCESS_TOKEN_TTL_SECONDS = 8 * 3600;
export const REFRESH_TOKEN_TTL_SECONDS = 90 * 24 * 3600;
export const REFRESH_TOKEN_IDLE_TTL_SECONDS = 30 * 24 * 3600;
export const SCOPES_SUPPORTED = [REQUIRED_SCOPE, "offline_access"];

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
    scopesSupported: SCOPES_SUPPORTED,
    requiredScopes: [REQUIRED_SCOPE],
    resourceMetadata: {
      resource: config.resource,
      authorization_servers: [origin],
      bearer_methods_supported: ["header"],
      resource_name: "Countersign",
    },
    clientIdMetadataDocumentEnabled: true,
    accessTokenTTL: ACCESS_TOKEN_TTL_SECONDS,
    refreshTokenTTL: REFRESH_TOKEN_TTL_SECONDS,
    refreshTokenIdleTTL: REFRESH_TOKEN_IDLE_TTL_SECONDS,
    onError: ({ code, status, internal }) => {
      log.warn("oauth.error", { error: code, status, category: internal.category, reason: internal.reason });
    },
  });
}
