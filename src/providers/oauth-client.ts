/**
 * Countersign as an OAuth 2.0 client of a provider (authorization code + PKCE S256): the
 * authorize URL, the code exchange, refresh and RFC 7009 revocation. Every endpoint comes from
 * the provider definition (never from a response or from the agent) and is vetted again before
 * each fetch; every request goes through `guardedFetch` (src/http): redirects are refused, one
 * 15-second deadline covers the request and the body, and at most 64 KiB of answer are read.
 * No token, code or secret ever appears in an error or a log line.
 */
import { type GuardedFetchOptions, type GuardedRequest, guardedFetch } from "../http/guarded-fetch";
import type { Coded } from "../lib/errors";
import { err, ok, type Result } from "../lib/result";
import type { FetchLike } from "../lib/streams";
import type { VaultSecret } from "../vault/store";
import type { ProviderApp } from "./apps";
import { classifyHost } from "./ssrf";
import { isJsonObject } from "./strict-json";
import type { ProviderAuth } from "./types";

type OAuth2 = Extract<ProviderAuth, { kind: "oauth2" }>;
const TOKEN_TIMEOUT_MS = 15_000;

export type TokenError =
  | Coded<"providerToken", "invalid_grant">
  | Coded<"providerToken", "token_endpoint_error", { status: number; error?: string }>
  | Coded<"providerToken", "token_response_invalid">
  | Coded<"providerToken", "token_endpoint_unreachable">;

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

/** At most this much of a token or revocation answer is read. */
const TOKEN_RESPONSE_MAX_BYTES = 64 * 1024;

/** HTTP Basic client authentication (RFC 6749 §2.3.1: each part form-encoded first). */
const basicAuth = (app: ProviderApp) =>
  `Basic ${btoa(`${encodeURIComponent(app.clientId)}:${encodeURIComponent(app.clientSecret)}`)}`;

type EndpointRefused = Coded<"providerToken", "endpoint_not_allowed">;

/** Provider endpoints are configuration, not input; still, each is checked before it is fetched. */
function vetEndpoint(raw: string): Result<URL, EndpointRefused> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return err({ code: "endpoint_not_allowed" });
  }
  const allowed = url.protocol === "https:" && classifyHost(url.hostname) === "public";
  return allowed ? ok(url) : err({ code: "endpoint_not_allowed" });
}

/** The guarded-fetch settings of every token and revocation request. */
const guard = (fetcher: FetchLike, body: "truncate" | "discard"): GuardedFetchOptions<EndpointRefused> => ({
  vet: vetEndpoint,
  fetcher,
  timeoutMs: TOKEN_TIMEOUT_MS,
  maxBytes: TOKEN_RESPONSE_MAX_BYTES,
  body,
});

interface EndpointRequest {
  url: string;
  init: GuardedRequest;
}

function tokenRequest(auth: OAuth2, app: ProviderApp, form: URLSearchParams): EndpointRequest {
  const headers = new Headers({ "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" });
  if (auth.tokenEndpointAuth === "client_secret_basic") {
    headers.set("Authorization", basicAuth(app));
  } else {
    form.set("client_id", app.clientId);
    form.set("client_secret", app.clientSecret);
  }
  return { url: auth.tokenUrl, init: { method: "POST", headers, body: form } };
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
  request: EndpointRequest,
  now: number,
  fetcher: FetchLike,
  previous?: VaultSecret,
): Promise<{ ok: true; value: VaultSecret } | { ok: false; error: TokenError }> {
  const fetched = await guardedFetch(request.url, request.init, guard(fetcher, "truncate"));
  if (!fetched.ok) {
    const { error } = fetched;
    // A refused redirect keeps its status; a refused URL, a timeout or no answer is unreachable.
    return error.code === "redirect_refused"
      ? { ok: false, error: { code: "token_endpoint_error", status: error.status } }
      : { ok: false, error: { code: "token_endpoint_unreachable" } };
  }
  const { status, bytes, truncated } = fetched.value;
  // Anything but a whole JSON object (cut at 64 KiB, not JSON, `null`) counts as {}.
  let json: Record<string, unknown> = {};
  try {
    const parsed: unknown = truncated ? null : JSON.parse(new TextDecoder().decode(bytes));
    if (isJsonObject(parsed)) json = parsed;
  } catch {
    json = {};
  }
  // Slack answers 200 with {ok:false,error:"invalid_refresh_token"}; everyone else uses 400.
  const error = typeof json.error === "string" ? json.error : undefined;
  if (error === "invalid_grant" || error === "invalid_refresh_token" || error === "token_revoked") {
    return { ok: false, error: { code: "invalid_grant" } };
  }
  if (status < 200 || status >= 300 || json.ok === false) {
    return { ok: false, error: { code: "token_endpoint_error", status, ...(error ? { error } : {}) } };
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
  let request: EndpointRequest;
  if (auth.revokeStyle === "json_basic" || auth.revokeStyle === "github_grant") {
    const github = auth.revokeStyle === "github_grant";
    request = {
      url: auth.revokeUrl.replace("{client_id}", encodeURIComponent(app.clientId)),
      init: {
        method: github ? "DELETE" : "POST",
        headers: { Authorization: basic, "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(github ? { access_token: secret.accessToken } : { token: secret.accessToken }),
      },
    };
  } else if (auth.revokeStyle === "bearer") {
    request = {
      url: auth.revokeUrl,
      init: { method: "POST", headers: { Authorization: `Bearer ${secret.accessToken}` } },
    };
  } else {
    const token = secret.refreshToken ?? secret.accessToken;
    const hint = secret.refreshToken ? "refresh_token" : "access_token";
    request = tokenRequest(
      { ...auth, tokenUrl: auth.revokeUrl },
      app,
      new URLSearchParams({ token, token_type_hint: hint }),
    );
  }
  const fetched = await guardedFetch(request.url, request.init, guard(fetcher, "discard"));
  return fetched.ok && fetched.value.status >= 200 && fetched.value.status < 300;
}
