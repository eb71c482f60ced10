/**
 * The MCP client side of OAuth, for tests: dynamic registration, PKCE, the browser steps of
 * consent and OIDC sign-in against the fake IdP, the code exchange, and raw MCP calls.
 */
import { expect } from "vitest";
import { inputValue, location, TestBrowser } from "./browser";
import { type FakeIdp, IDP_ISSUER } from "./fake-idp";
import { fetchWorker, PUBLIC_ORIGIN, RESOURCE } from "./worker";

export const REDIRECT_URI = "https://client.test/callback";

const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");

export async function pkce() {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
  return { verifier, challenge };
}

export interface RegisteredClient {
  client_id: string;
  client_name?: string;
  redirect_uris: string[];
}

/** Register a public client by DCR. */
export async function registerClient(
  metadata: Record<string, unknown> = {},
  bindings?: Env,
): Promise<RegisteredClient> {
  const response = await fetchWorker(
    "/oauth/register",
    {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        client_name: "Test Client",
        redirect_uris: [REDIRECT_URI],
        token_endpoint_auth_method: "none",
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        ...metadata,
      }),
    },
    bindings,
  );
  expect(response.status).toBe(201);
  return response.json();
}

export interface AuthorizeParams {
  clientId: string;
  challenge: string;
  redirectUri?: string;
  scope?: string;
  state?: string;
  extra?: Record<string, string>;
}

/** The /authorize URL an MCP client would open. */
export function authorizeUrl(params: AuthorizeParams): string {
  const query = new URLSearchParams({
    response_type: "code",
    client_id: params.clientId,
    redirect_uri: params.redirectUri ?? REDIRECT_URI,
    scope: params.scope ?? "mcp offline_access",
    state: params.state ?? "client-state-1",
    code_challenge: params.challenge,
    code_challenge_method: "S256",
    resource: RESOURCE,
    ...params.extra,
  });
  return `/authorize?${query}`;
}

/** Open /authorize, check the consent page, press Allow; returns the response to the POST. */
export async function consent(browser: TestBrowser, params: AuthorizeParams, decision = "approve") {
  const page = await browser.get(authorizeUrl(params));
  expect(page.status).toBe(200);
  const html = await page.text();
  const handle = inputValue(html, "handle");
  expect(handle).toBeTruthy();
  const scopes = (params.scope ?? "mcp offline_access").split(" ");
  return browser.post("/authorize", { handle: handle as string, decision, scope: scopes, remember: "yes" });
}

/** Follow /signin to the fake IdP and back; returns the response of our callback. */
export async function oidcSignIn(browser: TestBrowser, idp: FakeIdp, signinPath: string, sub: string, email?: string) {
  const toIdp = await browser.get(signinPath);
  expect(toIdp.status).toBe(302);
  const idpUrl = location(toIdp);
  expect(idpUrl.origin).toBe(IDP_ISSUER);
  const state = idpUrl.searchParams.get("state") as string;
  const nonce = idpUrl.searchParams.get("nonce") as string;
  const code = idp.issueCode({ sub, email, nonce });
  return browser.get(`/signin/callback?${new URLSearchParams({ code, state, iss: IDP_ISSUER })}`);
}

/** Consent + OIDC sign-in + resume: returns the authorization code sent to the client. */
export async function authorizeWithOidc(
  browser: TestBrowser,
  idp: FakeIdp,
  params: AuthorizeParams,
  sub = "user-ada",
  email = "ada@example.com",
): Promise<string> {
  const afterConsent = await consent(browser, params);
  expect(afterConsent.status).toBe(302);
  const toSignin = location(afterConsent);
  expect(toSignin.pathname).toBe("/signin");
  const callback = await oidcSignIn(browser, idp, `${toSignin.pathname}${toSignin.search}`, sub, email);
  expect(callback.status).toBe(302);
  const resume = location(callback);
  expect(resume.pathname).toBe("/authorize/resume");
  const done = await browser.get(`${resume.pathname}${resume.search}`);
  expect(done.status).toBe(302);
  const redirect = location(done);
  expect(`${redirect.origin}${redirect.pathname}`).toBe(params.redirectUri ?? REDIRECT_URI);
  expect(redirect.searchParams.get("iss")).toBe(PUBLIC_ORIGIN);
  return redirect.searchParams.get("code") as string;
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  scope: string;
  token_type: string;
}

/** POST the token endpoint with a form body. */
export function tokenRequest(form: Record<string, string>, headers: Record<string, string> = {}, bindings?: Env) {
  return fetchWorker(
    "/oauth/token",
    {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(form),
    },
    bindings,
  );
}

/** Exchange a code for tokens, asserting success. */
export async function exchangeCode(clientId: string, code: string, verifier: string, bindings?: Env): Promise<Tokens> {
  const response = await tokenRequest(
    {
      grant_type: "authorization_code",
      client_id: clientId,
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
      resource: RESOURCE,
    },
    {},
    bindings,
  );
  expect(response.status).toBe(200);
  return response.json();
}

/** A fully signed-in client: registration through token exchange with the fake IdP. */
export async function signedInClient(idp: FakeIdp, sub = "user-ada", email = "ada@example.com") {
  const client = await registerClient();
  const { verifier, challenge } = await pkce();
  const browser = new TestBrowser();
  const code = await authorizeWithOidc(browser, idp, { clientId: client.client_id, challenge }, sub, email);
  const tokens = await exchangeCode(client.client_id, code, verifier);
  return { client, tokens, browser };
}

let rpcId = 0;

/** A stateless 2025-era JSON-RPC call to /mcp. */
export function mcpRequest(token: string | null, body: unknown, headers: Record<string, string> = {}, bindings?: Env) {
  return fetchWorker(
    "/mcp",
    {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-06-18",
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: typeof body === "string" ? body : JSON.stringify(body),
    },
    bindings,
  );
}

/** Parse an MCP response that may be JSON or a one-event SSE stream. */
export async function mcpJson(response: Response): Promise<Record<string, unknown>> {
  const text = await response.text();
  if ((response.headers.get("Content-Type") ?? "").includes("text/event-stream")) {
    const data = text
      .split("\n")
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).trim())
      .filter(Boolean)
      .pop();
    return JSON.parse(data ?? "{}");
  }
  return JSON.parse(text);
}

/** Call a tool over a stateless request; returns the JSON-RPC message. */
export async function callTool(token: string, name: string, args: Record<string, unknown> = {}, bindings?: Env) {
  const response = await mcpRequest(
    token,
    { jsonrpc: "2.0", id: ++rpcId, method: "tools/call", params: { name, arguments: args } },
    {},
    bindings,
  );
  return { status: response.status, message: await mcpJson(response) };
}
