/**
 * Token requests to upstream authorization servers: code exchange, refresh and RFC 7009
 * revocation, over vetted endpoints without redirects, with no secret in any error
 * (docs/threat-model.md B, E, F).
 */
import { beforeEach, describe, expect, it } from "vitest";
import { exchangeCode, refresh, revoke } from "../../../../src/upstream/client/oauth";
import { resetFetchRoutes, routeFetch, seenAt } from "../../../helpers/fetch-router";
import {
  AUTHORIZATION_SERVER,
  EVIL_ORIGIN,
  fetchedUrls,
  HOSTILE_ENDPOINTS,
  ISSUER,
  json,
  never,
  redirectTo,
  SERVER_URL,
  trapHostile,
  trappedRequests,
} from "./fixtures";

const NOW = 1_750_000_000_000;
const CALLBACK = "https://countersign.test/connections/mcp/callback";
const options = { allowLoopback: false, now: NOW };
/** Canary values: none may ever appear in an error. */
const CODE = "canary-code-7f3a";
const VERIFIER = "canary-verifier-0123456789abcdefghijklmnopqrstuvwxyz-0123";
const REFRESH = "canary-refresh-91bc";
const SECRET = "canary-secret-55de";
const ACCESS = "canary-access-2c1f";
const publicClient = { clientId: "client-123" };

const exchange = (client: { clientId: string; clientSecret?: string } = publicClient, as = AUTHORIZATION_SERVER) =>
  exchangeCode(
    as,
    { client, code: CODE, codeVerifier: VERIFIER, redirectUri: CALLBACK, resource: SERVER_URL },
    options,
  );
const form = (origin = ISSUER, index = 0) => new URLSearchParams(seenAt(origin)[index]?.body ?? "");

beforeEach(() => {
  resetFetchRoutes();
  trapHostile();
});

describe("exchangeCode", () => {
  it("posts the code, verifier, redirect URI, resource and client id, and returns tokens", async () => {
    routeFetch(ISSUER, () =>
      json({ access_token: ACCESS, token_type: "Bearer", expires_in: 3600, refresh_token: REFRESH, scope: "a b" }),
    );
    const result = await exchange();
    expect(result).toEqual({
      ok: true,
      value: {
        accessToken: ACCESS,
        tokenType: "Bearer",
        refreshToken: REFRESH,
        expiresAt: NOW + 3_600_000,
        scope: "a b",
      },
    });
    const [request] = seenAt(ISSUER);
    expect(request?.url).toBe(`${ISSUER}/token`);
    expect(request?.method).toBe("POST");
    expect(request?.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(request?.headers.authorization).toBeUndefined();
    expect(Object.fromEntries(form())).toEqual({
      grant_type: "authorization_code",
      code: CODE,
      redirect_uri: CALLBACK,
      code_verifier: VERIFIER,
      resource: SERVER_URL,
      client_id: "client-123",
    });
  });

  it("authenticates a confidential client with HTTP Basic by default", async () => {
    routeFetch(ISSUER, () => json({ access_token: ACCESS, token_type: "bearer" }));
    await exchange({ clientId: "id:1", clientSecret: "s e/cret" });
    expect(seenAt(ISSUER)[0]?.headers.authorization).toBe(`Basic ${btoa("id%3A1:s+e%2Fcret")}`);
    expect(form().has("client_secret")).toBe(false);
    expect(form().has("client_id")).toBe(false);
  });

  it("posts the secret when the server supports only client_secret_post", async () => {
    routeFetch(ISSUER, () => json({ access_token: ACCESS }));
    const as = { ...AUTHORIZATION_SERVER, tokenEndpointAuthMethodsSupported: ["client_secret_post"] };
    await exchange({ clientId: "c", clientSecret: SECRET }, as);
    expect(seenAt(ISSUER)[0]?.headers.authorization).toBeUndefined();
    expect(form().get("client_id")).toBe("c");
    expect(form().get("client_secret")).toBe(SECRET);
  });

  it.each([
    [{ expires_in: "120" }, NOW + 120_000],
    [{ expires_in: 0 }, undefined],
    [{ expires_in: -5 }, undefined],
    [{ expires_in: "soon" }, undefined],
    [{ expires_in: 1e12 }, NOW + 10 * 365 * 24 * 3600 * 1000],
  ])("derives the expiry from %j", async (extra, expiresAt) => {
    routeFetch(ISSUER, () => json({ access_token: ACCESS, token_type: "Bearer", ...extra }));
    const result = await exchange();
    if (!result.ok) throw new Error(result.error.code);
    expect(result.value.expiresAt).toBe(expiresAt);
  });

  it("maps invalid_grant to its own code", async () => {
    routeFetch(ISSUER, () => json({ error: "invalid_grant", error_description: `code ${CODE} was used` }, 400));
    expect(await exchange()).toEqual({ ok: false, error: { code: "invalid_grant" } });
  });

  it.each([
    [
      "a 400 with a registered error",
      json({ error: "invalid_client", error_description: SECRET }, 401),
      401,
      "invalid_client",
    ],
    ["a 400 with a free-text error", json({ error: `bad ${REFRESH}` }, 400), 400, undefined],
    ["a 500 page", new Response(`<html>${ACCESS}</html>`, { status: 500 }), 500, undefined],
    ["a 200 carrying an error", json({ error: "invalid_scope", access_token: ACCESS }), 200, "invalid_scope"],
  ])("reports %s as token_endpoint_error without upstream text", async (_name, response, status, error) => {
    routeFetch(ISSUER, () => response.clone());
    const result = await exchange();
    expect(result).toEqual({ ok: false, error: { code: "token_endpoint_error", status, ...(error ? { error } : {}) } });
  });

  it.each([
    ["no access token", { token_type: "Bearer" }, "token_response_invalid"],
    ["an empty access token", { access_token: "", token_type: "Bearer" }, "token_response_invalid"],
    ["an access token with a newline", { access_token: `${ACCESS}\nX: y` }, "token_response_invalid"],
    ["an access token with a space", { access_token: `a ${ACCESS}` }, "token_response_invalid"],
    ["a numeric refresh token", { access_token: ACCESS, refresh_token: 5 }, "token_response_invalid"],
    ["a DPoP token", { access_token: ACCESS, token_type: "DPoP" }, "token_type_unsupported"],
    ["a MAC token", { access_token: ACCESS, token_type: "mac" }, "token_type_unsupported"],
  ])("refuses a token response with %s", async (_name, body, code) => {
    routeFetch(ISSUER, () => json(body));
    expect(await exchange()).toEqual({ ok: false, error: { code } });
  });

  it("refuses a token response that is not JSON", async () => {
    routeFetch(ISSUER, () => new Response(`access_token=${ACCESS}`));
    expect(await exchange()).toEqual({ ok: false, error: { code: "token_response_invalid" } });
  });

  it.each([301, 302, 303, 307, 308])(
    "refuses a %i from the token endpoint; the target sees nothing",
    async (status) => {
      routeFetch(ISSUER, () => redirectTo(status));
      expect(await exchange()).toEqual({ ok: false, error: { code: "redirect_refused", status } });
      expect(seenAt(EVIL_ORIGIN)).toEqual([]);
    },
  );

  it.each(HOSTILE_ENDPOINTS)("re-vets a stored token endpoint %j (%s) and sends no code", async (raw, code) => {
    const result = await exchange(publicClient, { ...AUTHORIZATION_SERVER, tokenEndpoint: raw });
    expect(result).toEqual({ ok: false, error: { code } });
    expect(trappedRequests()).toEqual([]);
    expect(fetchedUrls()).toEqual([]);
  });

  it("times out on a token endpoint that never answers", async () => {
    routeFetch(ISSUER, never);
    const result = await exchangeCode(
      AUTHORIZATION_SERVER,
      { client: publicClient, code: CODE, codeVerifier: VERIFIER, redirectUri: CALLBACK, resource: SERVER_URL },
      { ...options, timeoutMs: 50 },
    );
    expect(result).toEqual({ ok: false, error: { code: "timeout" } });
  });
});

describe("refresh", () => {
  const run = (client: { clientId: string; clientSecret?: string } = publicClient) =>
    refresh(AUTHORIZATION_SERVER, { client, refreshToken: REFRESH, resource: SERVER_URL }, options);

  it("posts the refresh token with the resource and keeps it when not rotated", async () => {
    routeFetch(ISSUER, () => json({ access_token: ACCESS, token_type: "Bearer", expires_in: 60 }));
    expect(await run()).toEqual({
      ok: true,
      value: { accessToken: ACCESS, tokenType: "Bearer", refreshToken: REFRESH, expiresAt: NOW + 60_000 },
    });
    expect(Object.fromEntries(form())).toEqual({
      grant_type: "refresh_token",
      refresh_token: REFRESH,
      resource: SERVER_URL,
      client_id: "client-123",
    });
  });

  it("returns a rotated refresh token", async () => {
    routeFetch(ISSUER, () => json({ access_token: ACCESS, refresh_token: "rotated-1" }));
    expect(await run()).toMatchObject({ ok: true, value: { refreshToken: "rotated-1" } });
  });

  it("asks for a narrower scope when given one", async () => {
    routeFetch(ISSUER, () => json({ access_token: ACCESS }));
    await refresh(
      AUTHORIZATION_SERVER,
      { client: publicClient, refreshToken: REFRESH, resource: SERVER_URL, scope: "a" },
      options,
    );
    expect(form().get("scope")).toBe("a");
  });

  it("maps invalid_grant to its own code, whatever the status", async () => {
    routeFetch(ISSUER, () => json({ error: "invalid_grant" }, 401));
    expect(await run()).toEqual({ ok: false, error: { code: "invalid_grant" } });
  });

  it("never puts a token, code, verifier or secret in an error", async () => {
    const canaries = [CODE, VERIFIER, REFRESH, SECRET, ACCESS];
    const answers = [
      json({ error: "invalid_grant", error_description: REFRESH }, 400),
      json({ error: REFRESH, error_description: SECRET }, 400),
      json({ error: "invalid_request", error_uri: `https://x/${ACCESS}` }, 400),
      json({ access_token: `${ACCESS} ${SECRET}`, refresh_token: REFRESH }),
      json({ access_token: ACCESS, token_type: `DPoP ${REFRESH}` }),
      new Response(`${CODE} ${VERIFIER}`, { status: 502 }),
      redirectTo(302, `${EVIL_ORIGIN}/?t=${ACCESS}`),
    ];
    const errors: unknown[] = [];
    for (const answer of answers) {
      routeFetch(ISSUER, () => answer.clone());
      errors.push(await run({ clientId: "c", clientSecret: SECRET }));
      errors.push(await exchange({ clientId: "c", clientSecret: SECRET }));
    }
    for (const result of errors) expect(result).toMatchObject({ ok: false });
    const text = JSON.stringify(errors);
    for (const canary of canaries) expect(text).not.toContain(canary);
  });
});

describe("revoke", () => {
  const run = (as = AUTHORIZATION_SERVER) =>
    revoke(as, { client: publicClient, token: REFRESH, tokenTypeHint: "refresh_token" }, options);

  it("posts the token and hint with the client id (RFC 7009)", async () => {
    routeFetch(ISSUER, () => new Response(null, { status: 200 }));
    expect(await run()).toEqual({ ok: true, value: true });
    expect(seenAt(ISSUER)[0]?.url).toBe(`${ISSUER}/revoke`);
    expect(Object.fromEntries(form())).toEqual({
      token: REFRESH,
      token_type_hint: "refresh_token",
      client_id: "client-123",
    });
  });

  it("reports a failed revocation with its status only", async () => {
    routeFetch(ISSUER, () => json({ error: "unsupported_token_type", error_description: REFRESH }, 503));
    expect(await run()).toEqual({ ok: false, error: { code: "revocation_failed", status: 503 } });
  });

  it("answers revocation_unsupported, sending nothing, without a revocation endpoint", async () => {
    const { revocationEndpoint: _, ...withoutRevocation } = AUTHORIZATION_SERVER;
    expect(await run(withoutRevocation)).toEqual({ ok: false, error: { code: "revocation_unsupported" } });
    expect(fetchedUrls()).toEqual([]);
  });

  it("refuses a redirect from the revocation endpoint", async () => {
    routeFetch(ISSUER, () => redirectTo(307));
    expect(await run()).toEqual({ ok: false, error: { code: "redirect_refused", status: 307 } });
    expect(seenAt(EVIL_ORIGIN)).toEqual([]);
  });

  it.each(HOSTILE_ENDPOINTS)("re-vets a stored revocation endpoint %j (%s)", async (raw, code) => {
    expect(await run({ ...AUTHORIZATION_SERVER, revocationEndpoint: raw })).toEqual({ ok: false, error: { code } });
    expect(fetchedUrls()).toEqual([]);
  });
});
