/**
 * MCP authorization discovery, as the client of an upstream MCP server (MCP authorization spec
 * 2025-06-18 / 2025-11-25): RFC 9728 protected resource metadata (from the challenge that
 * `www-authenticate.ts` parses, else the well-known URLs), then RFC 8414 authorization server
 * metadata with the OpenID Connect discovery fallback.
 *
 * Invariants: every URL read from a header or a document passes `parseEndpoint` before it is
 * fetched or returned, and a document holding one bad URL is rejected whole (never partly
 * used); the protected resource must describe the server we asked about (`resource_mismatch`)
 * and the authorization server must name the issuer we asked for (`issuer_mismatch`, RFC 8414
 * §3.3), which stops a mix-up between servers; a redirect, timeout or oversized document ends
 * discovery instead of falling through to the next well-known URL.
 */
import type { ErrorCode } from "../../lib/errors";
import { err, ok, type Result } from "../../lib/result";
import { type EndpointErrorCode, type EndpointOptions, parseEndpoint } from "./endpoint";
import { fetchJson, type SafeFetchErrorCode, type UpstreamOptions } from "./safe-fetch";

export type DiscoveryErrorCode = SafeFetchErrorCode | ErrorCode<"discovery">;

export interface DiscoveryError {
  code: DiscoveryErrorCode;
  /** The document field or hop at fault (a fixed name of ours, never upstream text). */
  field?: string;
  status?: number;
}

export interface ProtectedResource {
  /** The `resource` value exactly as the metadata gives it: the RFC 8707 resource indicator to send. */
  resource: string;
  /** Issuer identifiers, in the server's order of preference, each vetted by `parseEndpoint`. */
  authorizationServers: string[];
  scopesSupported?: string[];
  metadataUrl: string;
}

export interface AuthorizationServer {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  registrationEndpoint?: string;
  revocationEndpoint?: string;
  codeChallengeMethodsSupported?: string[];
  tokenEndpointAuthMethodsSupported?: string[];
  scopesSupported?: string[];
  /** MCP 2025-11-25 Client ID Metadata Documents: a URL may serve as our client_id. */
  clientIdMetadataDocumentSupported: boolean;
  /** RFC 9207: the callback must then carry an `iss` equal to `issuer`. */
  authorizationResponseIssParameterSupported: boolean;
  metadataUrl: string;
}

/** What we keep of an authorization server to finish, refresh and revoke: public facts only. */
export type AuthorizationServerFacts = Pick<
  AuthorizationServer,
  | "issuer"
  | "authorizationEndpoint"
  | "tokenEndpoint"
  | "revocationEndpoint"
  | "tokenEndpointAuthMethodsSupported"
  | "authorizationResponseIssParameterSupported"
>;

const MAX_AUTHORIZATION_SERVERS = 8;
/** RFC 6749 §3.3 scope-token. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;

const fail = (code: DiscoveryErrorCode, field?: string, status?: number) =>
  err<DiscoveryError>({ code, ...(field ? { field } : {}), ...(status ? { status } : {}) });

/** A URL field of a document or header: missing is `metadata_invalid`, anything present goes through the gate. */
function vet(raw: unknown, field: string, options: EndpointOptions): Result<URL, DiscoveryError> {
  if (raw === undefined || raw === null) return fail("metadata_invalid", field);
  const parsed = parseEndpoint(raw, options);
  return parsed.ok ? parsed : fail(parsed.error.code satisfies EndpointErrorCode, field);
}

/** Optional string array: absent → undefined; anything but an array → null (invalid). */
function stringList(value: unknown, keep: (item: string) => boolean = () => true): string[] | undefined | null {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) return null;
  return value.filter((item): item is string => typeof item === "string" && keep(item));
}

/** Fetch candidate documents in order: a 4xx moves on, anything else decides. */
async function fetchFirst(
  urls: string[],
  field: string,
  options: UpstreamOptions,
): Promise<Result<{ json: Record<string, unknown> | null; url: string }, DiscoveryError>> {
  for (const url of urls) {
    const response = await fetchJson(url, { headers: { Accept: "application/json" } }, options);
    if (!response.ok) return fail(response.error.code, field, response.error.status);
    const { status, json } = response.value;
    if (status >= 200 && status < 300) return ok({ json, url });
    if (status < 400 || status >= 500) return fail("metadata_unavailable", field, status);
  }
  return fail("metadata_not_found", field);
}

/** RFC 9728 §3.1: the well-known suffix goes between the host and the path (and query). */
function insertWellKnown(url: URL, suffix: string): string {
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "");
  return `${url.origin}/.well-known/${suffix}${path}${url.search}`;
}

/** The server URL is the resource, or lies under it: same origin, path equal or below (segment-wise). */
function resourceCovers(resource: URL, server: URL): boolean {
  if (resource.origin !== server.origin) return false;
  const withSlash = (path: string) => (path.endsWith("/") ? path : `${path}/`);
  return withSlash(server.pathname).startsWith(withSlash(resource.pathname));
}

/** Find and vet the protected resource metadata of an MCP server (RFC 9728). */
export async function discoverProtectedResource(
  serverUrl: string,
  challenge: { resourceMetadata?: string } | null,
  options: UpstreamOptions,
): Promise<Result<ProtectedResource, DiscoveryError>> {
  const server = vet(serverUrl, "server_url", options);
  if (!server.ok) return server;
  // A challenge's resource_metadata is authoritative: no silent fallback when it is bad.
  const urls =
    challenge?.resourceMetadata !== undefined
      ? [challenge.resourceMetadata]
      : [
          ...(server.value.pathname !== "/" || server.value.search !== ""
            ? [insertWellKnown(server.value, "oauth-protected-resource")]
            : []),
          `${server.value.origin}/.well-known/oauth-protected-resource`,
        ];
  const found = await fetchFirst(urls, "resource_metadata", options);
  if (!found.ok) return found;
  const { json, url } = found.value;
  if (!json) return fail("metadata_invalid", "resource_metadata");
  const resource = vet(json.resource, "resource", options);
  if (!resource.ok) return resource;
  if (!resourceCovers(resource.value, server.value)) return fail("resource_mismatch", "resource");
  const servers = json.authorization_servers;
  if (!Array.isArray(servers) || servers.length === 0 || servers.length > MAX_AUTHORIZATION_SERVERS) {
    return fail("metadata_invalid", "authorization_servers");
  }
  for (const issuer of servers) {
    const vetted = vet(issuer, "authorization_servers", options);
    if (!vetted.ok) return vetted;
  }
  const scopes = stringList(json.scopes_supported, (scope) => SCOPE_TOKEN.test(scope));
  if (scopes === null) return fail("metadata_invalid", "scopes_supported");
  return ok({
    resource: json.resource as string,
    authorizationServers: servers as string[],
    ...(scopes ? { scopesSupported: scopes } : {}),
    metadataUrl: url,
  });
}

/**
 * Well-known URLs for an issuer, in the MCP spec's order: RFC 8414 with path insertion, then
 * OIDC discovery with path insertion, then OIDC path appending (the last two only for issuers
 * with a path; for a bare origin the two root documents).
 */
function issuerMetadataUrls(issuer: URL): string[] {
  if (issuer.pathname === "/") {
    return [
      `${issuer.origin}/.well-known/oauth-authorization-server`,
      `${issuer.origin}/.well-known/openid-configuration`,
    ];
  }
  const path = issuer.pathname.replace(/\/$/, "");
  return [
    `${issuer.origin}/.well-known/oauth-authorization-server${path}`,
    `${issuer.origin}/.well-known/openid-configuration${path}`,
    `${issuer.origin}${path}/.well-known/openid-configuration`,
  ];
}

/** Fetch and vet an authorization server's metadata (RFC 8414, OIDC discovery fallback). */
export async function discoverAuthorizationServer(
  issuer: string,
  options: UpstreamOptions,
): Promise<Result<AuthorizationServer, DiscoveryError>> {
  const requested = vet(issuer, "issuer", options);
  if (!requested.ok) return requested;
  // RFC 8414 §2: an issuer identifier has no query (and parseEndpoint already refused a fragment).
  if (requested.value.search !== "") return fail("metadata_invalid", "issuer");
  const found = await fetchFirst(issuerMetadataUrls(requested.value), "authorization_server_metadata", options);
  if (!found.ok) return found;
  const { json, url } = found.value;
  if (!json) return fail("metadata_invalid", "authorization_server_metadata");
  // Identical after WHATWG serialisation (which only normalises case and an empty root path).
  const claimed = vet(json.issuer, "issuer", options);
  if (!claimed.ok) return claimed;
  if (claimed.value.href !== requested.value.href) return fail("issuer_mismatch", "issuer");

  const authorization = vet(json.authorization_endpoint, "authorization_endpoint", options);
  if (!authorization.ok) return authorization;
  const token = vet(json.token_endpoint, "token_endpoint", options);
  if (!token.ok) return token;
  const optional: Partial<Pick<AuthorizationServer, "registrationEndpoint" | "revocationEndpoint">> = {};
  if (json.registration_endpoint !== undefined) {
    const registration = vet(json.registration_endpoint, "registration_endpoint", options);
    if (!registration.ok) return registration;
    optional.registrationEndpoint = registration.value.href;
  }
  if (json.revocation_endpoint !== undefined) {
    const revocation = vet(json.revocation_endpoint, "revocation_endpoint", options);
    if (!revocation.ok) return revocation;
    optional.revocationEndpoint = revocation.value.href;
  }

  const pkce = stringList(json.code_challenge_methods_supported);
  if (pkce === null) return fail("metadata_invalid", "code_challenge_methods_supported");
  // Absent: the server did not say; we send S256 regardless. Present without S256: refuse.
  if (pkce && !pkce.includes("S256")) return fail("pkce_unsupported", "code_challenge_methods_supported");
  const authMethods = stringList(json.token_endpoint_auth_methods_supported);
  if (authMethods === null) return fail("metadata_invalid", "token_endpoint_auth_methods_supported");
  const scopes = stringList(json.scopes_supported, (scope) => SCOPE_TOKEN.test(scope));
  if (scopes === null) return fail("metadata_invalid", "scopes_supported");

  return ok({
    issuer,
    authorizationEndpoint: authorization.value.href,
    tokenEndpoint: token.value.href,
    ...optional,
    ...(pkce ? { codeChallengeMethodsSupported: pkce } : {}),
    ...(authMethods ? { tokenEndpointAuthMethodsSupported: authMethods } : {}),
    ...(scopes ? { scopesSupported: scopes } : {}),
    clientIdMetadataDocumentSupported: json.client_id_metadata_document_supported === true,
    authorizationResponseIssParameterSupported: json.authorization_response_iss_parameter_supported === true,
    metadataUrl: url,
  });
}
