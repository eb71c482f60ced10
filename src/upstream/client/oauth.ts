/**
 * Countersign as the OAuth 2.1 client of an upstream MCP server's authorization server: PKCE
 * S256, the authorization URL with an RFC 8707 `resource`, the callback check (RFC 9207 `iss`),
 * the code exchange, refresh and RFC 7009 revocation.
 *
 * Invariants: every endpoint is re-vetted by `parseEndpoint` at the moment of use (an
 * `AuthorizationServer` may come back from storage), and every request goes through
 * `safeFetch` (no redirects, bounded time and bytes); every token request names the
 * `resource`, so a token is bound to the one server it was obtained for; `invalid_grant` is its
 * own error code (reconnect, never retry); errors carry codes, statuses and registered OAuth
 * error names only, never a token, code, verifier, secret or upstream text.
 */

import { randomToken } from "../../lib/crypto";
import { toBase64Url } from "../../lib/encoding";
import type { Coded, ErrorCode } from "../../lib/errors";
import { err, ok, type Result } from "../../lib/result";
import type { AuthorizationServer } from "./discovery";
import { type EndpointError, type EndpointOptions, parseEndpoint } from "./endpoint";
import { oauthErrorCode } from "./errors";
import type { UpstreamClient } from "./registration";
import { fetchJson, type SafeFetchErrorCode, type UpstreamOptions } from "./safe-fetch";

export type TokenErrorCode = SafeFetchErrorCode | ErrorCode<"upstreamToken">;

export interface TokenError {
  code: TokenErrorCode;
  status?: number;
  error?: string;
}

export interface TokenSet {
  accessToken: string;
  tokenType: "Bearer";
  refreshToken?: string;
  /** Milliseconds since the epoch, from `expires_in` and the `now` passed in. */
  expiresAt?: number;
  scope?: string;
}

export type CallbackError =
  | Coded<"upstreamCallback", "authorization_denied">
  | Coded<"upstreamCallback", "authorization_error", { error?: string }>
  | Coded<"upstreamCallback", "issuer_mismatch">
  | Coded<"upstreamCallback", "callback_invalid">;

type Server = Pick<AuthorizationServer, "issuer" | "tokenEndpointAuthMethodsSupported">;
/** What a token request needs of the authorization server. */
type TokenServer = Server & Pick<AuthorizationServer, "tokenEndpoint">;
type TokenOptions = UpstreamOptions & { now: number };

const PKCE_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
/** RFC 6749 Appendix A: token characters; we also refuse spaces so a token fits one header value. */
const TOKEN = /^[\x21-\x7e]{1,8192}$/;
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*$/;
const MAX_EXPIRES_IN = 10 * 365 * 24 * 3600;

/** A fresh PKCE pair: a 64-character verifier and its S256 challenge (RFC 7636 §4.1-4.2). */
export async function createPkce(): Promise<{ verifier: string; challenge: string }> {
  const verifier = randomToken(48);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return { verifier, challenge: toBase64Url(new Uint8Array(digest)) };
}

export interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  state: string;
  codeChallenge: string;
  resource: string;
  scope?: string;
}

/** The authorization URL to send the user to; the endpoint is vetted again here. */
export function authorizationUrl(
  as: Pick<AuthorizationServer, "authorizationEndpoint">,
  request: AuthorizationRequest,
  options: EndpointOptions,
): Result<string, EndpointError> {
  if (!PKCE_CHALLENGE.test(request.codeChallenge)) throw new TypeError('unexpected "code_challenge" value');
  const endpoint = parseEndpoint(as.authorizationEndpoint, options);
  if (!endpoint.ok) return endpoint;
  const url = endpoint.value;
  // `set` replaces any same-named parameter the endpoint URL carried (RFC 6749 §3.1 keeps the rest).
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", request.clientId);
  url.searchParams.set("redirect_uri", request.redirectUri);
  url.searchParams.set("state", request.state);
  url.searchParams.set("code_challenge", request.codeChallenge);
  url.searchParams.set("code_challenge_method", "S256");
  url.searchParams.set("resource", request.resource);
  if (request.scope) url.searchParams.set("scope", request.scope);
  else url.searchParams.delete("scope");
  return ok(url.href);
}

/**
 * Read the callback's query after the caller has matched `state` to its transaction: the
 * error, the RFC 9207 issuer (required when the server advertises it), then the code.
 */
export function verifyAuthorizationResponse(
  as: Pick<AuthorizationServer, "issuer" | "authorizationResponseIssParameterSupported">,
  params: URLSearchParams,
): Result<{ authorizationCode: string }, CallbackError> {
  const iss = params.get("iss");
  if (iss !== null || as.authorizationResponseIssParameterSupported) {
    if (iss === null || !sameUrl(iss, as.issuer)) return err({ code: "issuer_mismatch" });
  }
  const error = params.get("error");
  if (error !== null) {
    if (error === "access_denied") return err({ code: "authorization_denied" });
    const known = oauthErrorCode(error);
    return err({ code: "authorization_error", ...(known ? { error: known } : {}) });
  }
  const code = params.get("code");
  if (code === null || !TOKEN.test(code) || params.getAll("code").length !== 1)
    return err({ code: "callback_invalid" });
  return ok({ authorizationCode: code });
}

function sameUrl(a: string, b: string): boolean {
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return false;
  }
}

/** Client authentication (RFC 6749 §2.3.1): Basic with form-encoded parts, post, or just the id. */
function authenticate(as: Server, client: UpstreamClient, form: URLSearchParams, headers: Record<string, string>) {
  const supported = as.tokenEndpointAuthMethodsSupported;
  const method =
    client.authMethod ??
    (!client.clientSecret
      ? "none"
      : supported && !supported.includes("client_secret_basic") && supported.includes("client_secret_post")
        ? "client_secret_post"
        : "client_secret_basic");
  if (method === "client_secret_basic" && client.clientSecret) {
    const encode = (part: string) => encodeURIComponent(part).replace(/%20/g, "+");
    headers.Authorization = `Basic ${btoa(`${encode(client.clientId)}:${encode(client.clientSecret)}`)}`;
    return;
  }
  form.set("client_id", client.clientId);
  if (method === "client_secret_post" && client.clientSecret) form.set("client_secret", client.clientSecret);
}

function parseTokens(
  json: Record<string, unknown>,
  now: number,
  previousRefresh?: string,
): Result<TokenSet, TokenError> {
  const invalid = err<TokenError>({ code: "token_response_invalid" });
  const { access_token: access, token_type: type, refresh_token: refresh, expires_in: expiresIn, scope } = json;
  if (typeof access !== "string" || !TOKEN.test(access)) return invalid;
  // OAuth 2.1 §3.2.3 requires token_type; we only speak Bearer (no DPoP), so refuse anything else.
  if (type !== undefined && (typeof type !== "string" || type.toLowerCase() !== "bearer")) {
    return err({ code: "token_type_unsupported" });
  }
  const tokens: TokenSet = { accessToken: access, tokenType: "Bearer" };
  if (refresh !== undefined && (typeof refresh !== "string" || !TOKEN.test(refresh))) return invalid;
  const refreshToken = refresh ?? previousRefresh;
  if (refreshToken) tokens.refreshToken = refreshToken;
  const seconds = typeof expiresIn === "string" && /^\d{1,10}$/.test(expiresIn) ? Number(expiresIn) : expiresIn;
  if (typeof seconds === "number" && Number.isFinite(seconds) && seconds > 0) {
    tokens.expiresAt = now + Math.min(seconds, MAX_EXPIRES_IN) * 1000;
  }
  if (typeof scope === "string" && SCOPE.test(scope)) tokens.scope = scope;
  return ok(tokens);
}

/** One token request: the grant's own parameters, plus the RFC 8707 `resource` every one of them names. */
async function tokenRequest(
  as: TokenServer,
  client: UpstreamClient,
  grant: Record<string, string>,
  resource: string,
  options: TokenOptions,
  previousRefresh?: string,
): Promise<Result<TokenSet, TokenError>> {
  const form = new URLSearchParams({ ...grant, resource });
  const headers: Record<string, string> = {
    "Content-Type": "application/x-www-form-urlencoded",
    Accept: "application/json",
  };
  authenticate(as, client, form, headers);
  const response = await fetchJson(as.tokenEndpoint, { method: "POST", headers, body: form }, options);
  if (!response.ok) {
    return err({ code: response.error.code, ...(response.error.status ? { status: response.error.status } : {}) });
  }
  const { status, json } = response.value;
  const error = json?.error;
  // OAuth 2.1 §3.2.4: invalid_grant means the grant is dead (revoked, expired, replayed): reconnect.
  if (error === "invalid_grant") return err({ code: "invalid_grant" });
  if (status >= 200 && status < 300 && error === undefined) {
    return json ? parseTokens(json, options.now, previousRefresh) : err({ code: "token_response_invalid" });
  }
  const known = oauthErrorCode(error);
  return err({ code: "token_endpoint_error", status, ...(known ? { error: known } : {}) });
}

export interface CodeExchange {
  client: UpstreamClient;
  code: string;
  codeVerifier: string;
  redirectUri: string;
  resource: string;
}

/** Exchange an authorization code and its PKCE verifier for tokens bound to `resource`. */
export function exchangeCode(
  as: TokenServer,
  exchange: CodeExchange,
  options: TokenOptions,
): Promise<Result<TokenSet, TokenError>> {
  const { code, redirectUri, codeVerifier } = exchange;
  const grant = { grant_type: "authorization_code", code, redirect_uri: redirectUri, code_verifier: codeVerifier };
  return tokenRequest(as, exchange.client, grant, exchange.resource, options);
}

/** Use a refresh token; when the server does not rotate it, the old one is kept in the result. */
export function refresh(
  as: TokenServer,
  request: { client: UpstreamClient; refreshToken: string; resource: string; scope?: string },
  options: TokenOptions,
): Promise<Result<TokenSet, TokenError>> {
  const grant = {
    grant_type: "refresh_token",
    refresh_token: request.refreshToken,
    ...(request.scope ? { scope: request.scope } : {}),
  };
  return tokenRequest(as, request.client, grant, request.resource, options, request.refreshToken);
}

export type RevokeError = {
  code: SafeFetchErrorCode | ErrorCode<"revocation">;
  status?: number;
};

/** Revoke a token at the upstream (RFC 7009); the caller deletes its copy whatever the answer. */
export async function revoke(
  as: Server & Pick<AuthorizationServer, "revocationEndpoint">,
  request: { client: UpstreamClient; token: string; tokenTypeHint?: "access_token" | "refresh_token" },
  options: UpstreamOptions,
): Promise<Result<true, RevokeError>> {
  if (as.revocationEndpoint === undefined) return err({ code: "revocation_unsupported" });
  const form = new URLSearchParams({ token: request.token });
  if (request.tokenTypeHint) form.set("token_type_hint", request.tokenTypeHint);
  const headers: Record<string, string> = { "Content-Type": "application/x-www-form-urlencoded" };
  authenticate(as, request.client, form, headers);
  const response = await fetchJson(as.revocationEndpoint, { method: "POST", headers, body: form }, options);
  if (!response.ok) {
    return err({ code: response.error.code, ...(response.error.status ? { status: response.error.status } : {}) });
  }
  // RFC 7009 §2.2: 200 for success, including a token the server no longer knows.
  if (response.value.status !== 200) return err({ code: "revocation_failed", status: response.value.status });
  return ok(true);
}
