/**
 * Countersign as an OAuth 2.0 client of a provider (authorization code + PKCE S256): the
 * authorize URL, the code exchange, refresh and RFC 7009 revocation. Every endpoint comes from
 * the provider definition (never from a response or from the agent), redirects are not followed,
 * and no token, code or secret ever appears in an error or a log line.
 */
import { type FetchLike, readCapped } from "../lib/streams";
import type { VaultSecret } from "../vault/store";
import type { ProviderApp } from "./apps";
import { isJsonObject } from "./strict-json";
import type { ProviderAuth } from "./types";

type OAuth2 = Extract<ProviderAuth, { kind: "oauth2" }>;
const TOKEN_TIMEOUT_MS = 15_000;

export type TokenError =
  | { code: "invalid_grant" }
  | { code: "token_endpoint_error"; status: number; error?: string }
  | { code: "token_response_invalid" }
  | { code: "token_endpoint_unreachable" };

/** The provider's authorize URL for one connect attempt. */
export function authorizeUrl(auth: OAuth2, app: ProviderApp, redirectUri: string, state: string, challenge: string) {
  const url = new URL(auth.authorizeUrl);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", app.clientId);
  url.searchParams.set("redirect_uri", redirectUri);
  if (auth.scopes.length > 0) url.searchParams.set(auth.scopeParam ?? "scope", auth.scopes.join(auth.scopeSeparator));
  url.searchParams.set("state", state);
  url.searchParams.set("code_challenge", challenge);
  url.searchParams.set("code_challenge_method", "S256");
  for (const [name, value] of Object.entries(auth.extraAuthorizeParams ?? {})) url.searchParams.set(name, value);
  return url.href;
}

/** Token responses larger than this are refused unread. */
const TOKEN_RESPONSE_MAX_BYTES = 64 * 1024;

/** HTTP Basic client authentication (RFC 6749 §2.3.1: each part form-encoded first). */
const basicAuth = (app: ProviderApp) =>
  `Basic ${btoa(`${encodeURIComponent(app.clientId)}:${encodeURIComponent(app.clientSecret)}`)}`;

function tokenRequest(auth: OAuth2, app: ProviderApp, form: URLSearchParams): Request {
  const headers = new Headers({ "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" });
  if (auth.tokenEndpointAuth === "client_secret_basic") {
    headers.set("Authorization", basicAuth(app));
  } else {
    form.set("client_id", app.clientId);
    form.set("client_secret", app.clientSecret);
  }
  return new Request(auth.tokenUrl, {
    method: "POST",
    headers,
    body: form,
    redirect: "manual",
    signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
  });
}

function parseTokens(
  auth: OAuth2,
  json: Record<string, unknown>,
  now: number,
  previous?: VaultSecret,
): VaultSecret | null {
  const source =
    auth.tokenResponse === "slack_authed_user" && typeof json.authed_user === "object" && json.authed_user !== null
      ? (json.authed_user as Record<string, unknown>)
      : json;
  const accessToken = source.access_token;
  if (typeof accessToken !== "string" || accessToken === "") return null;
  const secret: VaultSecret = { kind: "oauth2", accessToken, obtainedAt: now };
  const refresh =
    typeof source.refresh_token === "string" && source.refresh_token ? source.refresh_token : previous?.refreshToken;
  if (refresh) secret.refreshToken = refresh;
  if (typeof source.expires_in === "number" && Number.isFinite(source.expires_in) && source.expires_in > 0) {
    secret.expiresAt = now + source.expires_in * 1000;
  }
  const scope = typeof source.scope === "string" ? source.scope : undefined;
  const scopes = scope ? scope.split(/[ ,]+/).filter(Boolean) : previous?.scopes;
  if (scopes) secret.scopes = scopes;
  if (typeof source.token_type === "string") secret.tokenType = source.token_type;
  return secret;
}

async function callTokenEndpoint(
  auth: OAuth2,
  request: Request,
  now: number,
  fetcher: FetchLike,
  previous?: VaultSecret,
): Promise<{ ok: true; value: VaultSecret } | { ok: false; error: TokenError }> {
  let response: Response;
  try {
    response = await fetcher(request);
  } catch {
    return { ok: false, error: { code: "token_endpoint_unreachable" } };
  }
  // At most 64 KiB is read; anything but a JSON object (too large, not JSON, `null`) counts as {}.
  let json: Record<string, unknown> = {};
  try {
    const read = await readCapped(response.body, TOKEN_RESPONSE_MAX_BYTES, { truncate: false });
    const parsed: unknown = read.kind === "done" ? JSON.parse(new TextDecoder().decode(read.bytes)) : null;
    if (isJsonObject(parsed)) json = parsed;
  } catch {
    json = {};
  }
  // Slack answers 200 with {ok:false,error:"invalid_refresh_token"}; everyone else uses 400.
  const error = typeof json.error === "string" ? json.error : undefined;
  if (error === "invalid_grant" || error === "invalid_refresh_token" || error === "token_revoked") {
    return { ok: false, error: { code: "invalid_grant" } };
  }
  if (!response.ok || json.ok === false) {
    return { ok: false, error: { code: "token_endpoint_error", status: response.status, ...(error ? { error } : {}) } };
  }
  const secret = parseTokens(auth, json, now, previous);
  return secret ? { ok: true, value: secret } : { ok: false, error: { code: "token_response_invalid" } };
}

/** Exchange an authorization code (with its PKCE verifier) for tokens. */
export function exchangeCode(
  auth: OAuth2,
  app: ProviderApp,
  code: string,
  verifier: string,
  redirectUri: string,
  now: number,
  fetcher: FetchLike = (request) => fetch(request),
) {
  const form = new URLSearchParams({
    grant_type: "authorization_code",
    code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
  });
  return callTokenEndpoint(auth, tokenRequest(auth, app, form), now, fetcher);
}

/** Use a refresh token; a rotated refresh token replaces the old one, else the old one is kept. */
export function refreshTokens(
  auth: OAuth2,
  app: ProviderApp,
  previous: VaultSecret,
  now: number,
  fetcher: FetchLike = (request) => fetch(request),
) {
  const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: previous.refreshToken ?? "" });
  return callTokenEndpoint(auth, tokenRequest(auth, app, form), now, fetcher, previous);
}

/** Revoke a token at the provider (RFC 7009, or bearer-style); best effort, reports success. */
export async function revokeToken(
  auth: OAuth2,
  app: ProviderApp,
  secret: VaultSecret,
  fetcher: FetchLike = (request) => fetch(request),
): Promise<boolean> {
  if (!auth.revokeUrl) return false;
  const basic = basicAuth(app);
  let request: Request;
  if (auth.revokeStyle === "json_basic" || auth.revokeStyle === "github_grant") {
    const github = auth.revokeStyle === "github_grant";
    request = new Request(auth.revokeUrl.replace("{client_id}", encodeURIComponent(app.clientId)), {
      method: github ? "DELETE" : "POST",
      headers: { Authorization: basic, "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(github ? { access_token: secret.accessToken } : { token: secret.accessToken }),
      redirect: "manual",
      signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
    });
  } else if (auth.revokeStyle === "bearer") {
    request = new Request(auth.revokeUrl, {
      method: "POST",
      headers: { Authorization: `Bearer ${secret.accessToken}` },
      redirect: "manual",
      signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
    });
  } else {
    const token = secret.refreshToken ?? secret.accessToken;
    const hint = secret.refreshToken ? "refresh_token" : "access_token";
    request = tokenRequest(
      { ...auth, tokenUrl: auth.revokeUrl },
      app,
      new URLSearchParams({ token, token_type_hint: hint }),
    );
  }
  try {
    const response = await fetcher(request);
    return response.ok;
  } catch {
    return false;
  }
}
