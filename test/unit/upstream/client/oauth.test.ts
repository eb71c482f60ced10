/**
 * The OAuth 2.1 client side toward upstream authorization servers, before any token request:
 * PKCE, the authorization URL (never built from an unvetted endpoint) and the callback check.
 */
import { describe, expect, it } from "vitest";
import { toBase64Url } from "../../../../src/lib/encoding";
import { authorizationUrl, createPkce, verifyAuthorizationResponse } from "../../../../src/upstream/client/oauth";
import { AUTHORIZATION_SERVER, EVIL_ORIGIN, HOSTILE_ENDPOINTS, ISSUER, SERVER_URL } from "./fixtures";

const CALLBACK = "https://countersign.test/connections/mcp/callback";
const CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const options = { allowLoopback: false };
const CODE = "code-7f3a";
const VERIFIER = "verifier-0123456789abcdefghijklmnopqrstuvwxyz-0123";

describe("createPkce", () => {
  it("makes a 64-character verifier and its S256 challenge", async () => {
    const { verifier, challenge } = await createPkce();
    expect(verifier).toMatch(/^[A-Za-z0-9_-]{64}$/);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    expect(challenge).toBe(toBase64Url(new Uint8Array(digest)));
    expect(challenge).toHaveLength(43);
    expect((await createPkce()).verifier).not.toBe(verifier);
  });
});

describe("authorizationUrl", () => {
  const request = { clientId: "client-123", redirectUri: CALLBACK, state: "st4te", codeChallenge: CHALLENGE };

  it("carries the S256 challenge, state, client, redirect URI, scope and resource", () => {
    const result = authorizationUrl(
      AUTHORIZATION_SERVER,
      { ...request, resource: SERVER_URL, scope: "files:read" },
      options,
    );
    if (!result.ok) throw new Error(result.error.code);
    const url = new URL(result.value);
    expect(`${url.origin}${url.pathname}`).toBe(`${ISSUER}/authorize`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: "code",
      client_id: "client-123",
      redirect_uri: CALLBACK,
      state: "st4te",
      code_challenge: CHALLENGE,
      code_challenge_method: "S256",
      resource: SERVER_URL,
      scope: "files:read",
    });
  });

  it("keeps the endpoint's own query but overrides parameters we set", () => {
    const as = { authorizationEndpoint: `${ISSUER}/authorize?audience=mcp&redirect_uri=${EVIL_ORIGIN}&scope=admin` };
    const result = authorizationUrl(as, { ...request, resource: SERVER_URL }, options);
    if (!result.ok) throw new Error(result.error.code);
    const params = new URL(result.value).searchParams;
    expect(params.get("audience")).toBe("mcp");
    expect(params.getAll("redirect_uri")).toEqual([CALLBACK]);
    expect(params.has("scope")).toBe(false);
  });

  it.each(HOSTILE_ENDPOINTS)("never builds a link from a stored endpoint %j (%s)", (raw, code) => {
    const result = authorizationUrl({ authorizationEndpoint: raw }, { ...request, resource: SERVER_URL }, options);
    expect(result).toEqual({ ok: false, error: { code } });
  });

  it("refuses a challenge that is not an S256 value (a verifier passed by mistake)", () => {
    expect(() =>
      authorizationUrl(AUTHORIZATION_SERVER, { ...request, codeChallenge: VERIFIER, resource: SERVER_URL }, options),
    ).toThrow('unexpected "code_challenge" value');
  });
});

describe("verifyAuthorizationResponse", () => {
  const as = { issuer: ISSUER, authorizationResponseIssParameterSupported: false };
  const params = (query: string) => new URLSearchParams(query);

  it("returns the code", () => {
    expect(verifyAuthorizationResponse(as, params(`code=${CODE}&state=s`))).toEqual({
      ok: true,
      value: { authorizationCode: CODE },
    });
  });

  it.each([
    ["a matching iss", `code=c&iss=${encodeURIComponent(ISSUER)}`, false, "ok"],
    ["a matching iss with a root slash", `code=c&iss=${encodeURIComponent(`${ISSUER}/`)}`, true, "ok"],
    ["another iss", `code=c&iss=${encodeURIComponent(EVIL_ORIGIN)}`, false, "issuer_mismatch"],
    ["a junk iss", "code=c&iss=%20", false, "issuer_mismatch"],
    ["no iss when the server promised one", "code=c", true, "issuer_mismatch"],
    ["access_denied", "error=access_denied", false, "authorization_denied"],
    ["another error", "error=server_error&error_description=oops", false, "authorization_error"],
    ["no code", "state=s", false, "callback_invalid"],
    ["an empty code", "code=", false, "callback_invalid"],
    ["two codes", "code=a&code=b", false, "callback_invalid"],
    ["a code with a newline", "code=a%0Ab", false, "callback_invalid"],
  ])("answers a callback with %s", (_name, query, issSupported, expected) => {
    const result = verifyAuthorizationResponse(
      { ...as, authorizationResponseIssParameterSupported: issSupported },
      params(query),
    );
    expect(result.ok ? "ok" : result.error.code).toBe(expected);
  });

  it("checks the issuer before reading an error, and repeats only registered error codes", () => {
    expect(verifyAuthorizationResponse(as, params(`error=access_denied&iss=${EVIL_ORIGIN}`))).toEqual({
      ok: false,
      error: { code: "issuer_mismatch" },
    });
    expect(verifyAuthorizationResponse(as, params("error=invalid_scope"))).toEqual({
      ok: false,
      error: { code: "authorization_error", error: "invalid_scope" },
    });
    expect(verifyAuthorizationResponse(as, params("error=<script>"))).toEqual({
      ok: false,
      error: { code: "authorization_error" },
    });
  });
});
