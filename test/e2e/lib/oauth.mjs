// Raw OAuth 2.1 client steps over fetch (no SDK): dynamic client registration, PKCE, the
// authorization URL, code exchange, refresh and RFC 7009 revocation, plus `signInRawClient`,
// which does all of it through the browser emulation and returns a ready token set.
import { createHash, randomBytes } from "node:crypto";
import { authorizeInBrowser, BrowserSession } from "./browser-flow.mjs";
import { fetchWithTimeout } from "./util.mjs";

/** PKCE S256 pair. */
export function pkcePair() {
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  return { verifier, challenge };
}

/** @param {string} origin */
export async function fetchServerMetadata(origin) {
  const res = await fetchWithTimeout(`${origin}/.well-known/oauth-authorization-server`);
  if (res.status !== 200) throw new Error(`AS metadata: HTTP ${res.status}`);
  return res.json();
}

/**
 * Dynamic client registration of a public client (token_endpoint_auth_method none).
 * @param {string} origin
 * @param {{ clientName: string, redirectUri: string, headers?: Record<string, string> }} options
 * @returns {Promise<{ client_id: string, client_name?: string, redirect_uris: string[] }>}
 */
export async function registerClient(origin, { clientName, redirectUri, headers = {} }) {
  const res = await fetchWithTimeout(`${origin}/oauth/register`, {
    method: "POST",
    headers: { ...headers, "Content-Type": "application/json" },
    body: JSON.stringify({
      client_name: clientName,
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    }),
  });
  const body = await res.json();
  if (res.status !== 201 && res.status !== 200)
    throw new Error(`registration: HTTP ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/**
 * @param {string} origin
 * @param {{ clientId: string, redirectUri: string, challenge: string, state: string, scope?: string }} options
 */
export function authorizationUrl(origin, { clientId, redirectUri, challenge, state, scope = "mcp offline_access" }) {
  const url = new URL("/authorize", origin);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirectUri,
    scope,
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
    resource: `${origin}/mcp`,
  }).toString();
  return url;
}

/**
 * POST a form to the token endpoint; returns status and parsed JSON (or {} for an empty body).
 * @param {string} origin
 * @param {Record<string, string>} params
 */
export async function tokenEndpoint(origin, params) {
  const res = await fetchWithTimeout(`${origin}/oauth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(params),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

/** Refresh-token grant. */
export function refreshGrant(origin, { clientId, refreshToken }) {
  return tokenEndpoint(origin, {
    grant_type: "refresh_token",
    client_id: clientId,
    refresh_token: refreshToken,
    resource: `${origin}/mcp`,
  });
}

/** RFC 7009 revocation at the metadata's revocation_endpoint. */
export async function revokeToken(revocationEndpoint, { clientId, token, hint }) {
  const res = await fetchWithTimeout(revocationEndpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: clientId, token, ...(hint ? { token_type_hint: hint } : {}) }),
  });
  await res.arrayBuffer();
  return res.status;
}

/**
 * @typedef {object} SignedInClient
 * @property {string} clientId
 * @property {string} redirectUri
 * @property {string} code          the (now redeemed) authorization code
 * @property {string} verifier      the PKCE code_verifier
 * @property {import("./browser-flow.mjs").BrowserSession} browser  the signed-in browser (cookies)
 * @property {{ access_token: string, refresh_token: string, scope: string, token_type: string, expires_in: number }} tokens
 */

/**
 * Register a client, walk the browser through consent and sign-in, redeem the code.
 * @param {string} origin
 * @param {{ email: string, clientName?: string, redirectUri?: string, headers?: Record<string, string> }} options
 *   headers: extra headers on every request of the walk (registration and browser)
 * @returns {Promise<SignedInClient>}
 */
export async function signInRawClient(origin, { email, clientName = "E2E raw client", redirectUri, headers = {} }) {
  const callback = redirectUri ?? "http://localhost:9/callback";
  const client = await registerClient(origin, { clientName, redirectUri: callback, headers });
  const { verifier, challenge } = pkcePair();
  const state = randomBytes(16).toString("base64url");
  const { callback: landed, browser } = await authorizeInBrowser({
    origin,
    authorizationUrl: authorizationUrl(origin, { clientId: client.client_id, redirectUri: callback, challenge, state }),
    email,
    browser: new BrowserSession(origin, { headers }),
  });
  if (landed.searchParams.get("state") !== state) throw new Error("state did not round-trip");
  const code = landed.searchParams.get("code");
  if (!code) throw new Error(`no code in callback: ${landed.search}`);
  const exchanged = await tokenEndpoint(origin, {
    grant_type: "authorization_code",
    client_id: client.client_id,
    code,
    code_verifier: verifier,
    redirect_uri: callback,
    resource: `${origin}/mcp`,
  });
  if (exchanged.status !== 200)
    throw new Error(`code exchange: HTTP ${exchanged.status} ${JSON.stringify(exchanged.body)}`);
  return { clientId: client.client_id, redirectUri: callback, code, verifier, browser, tokens: exchanged.body };
}
