/** Countersign as an OAuth client of providers: token responses, refresh errors, revocation styles. */
import { describe, expect, it } from "vitest";
import { authorizeUrl, exchangeCode, refreshTokens, revokeToken } from "../../../src/providers/oauth-client";
import type { ProviderAuth } from "../../../src/providers/types";

type OAuth2 = Extract<ProviderAuth, { kind: "oauth2" }>;
const APP = { clientId: "client id", clientSecret: "s3cret" };
const base: OAuth2 = {
  kind: "oauth2",
  authorizeUrl: "https://provider.test/authorize",
  tokenUrl: "https://provider.test/token",
  revokeUrl: "https://provider.test/revoke",
  scopes: ["read", "write"],
  scopeSeparator: ",",
  tokenEndpointAuth: "client_secret_basic",
  refreshable: true,
};

function recorder(respond: () => Response) {
  const requests: { method: string; url: string; headers: Headers; body: string }[] = [];
  const fetcher = async (request: Request) => {
    requests.push({ method: request.method, url: request.url, headers: request.headers, body: await request.text() });
    return respond();
  };
  return { requests, fetcher };
}

describe("authorizeUrl", () => {
  it("carries PKCE S256, state, scopes with the provider's separator and extra parameters", () => {
    const url = new URL(
      authorizeUrl({ ...base, extraAuthorizeParams: { owner: "user" } }, APP, "https://cs.test/cb", "st", "ch"),
    );
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: "code",
      client_id: "client id",
      redirect_uri: "https://cs.test/cb",
      scope: "read,write",
      state: "st",
      code_challenge: "ch",
      code_challenge_method: "S256",
      owner: "user",
    });
  });

  it("puts Slack user scopes in user_scope", () => {
    const url = new URL(authorizeUrl({ ...base, scopeParam: "user_scope" }, APP, "https://cs.test/cb", "s", "c"));
    expect(url.searchParams.get("user_scope")).toBe("read,write");
    expect(url.searchParams.has("scope")).toBe(false);
  });
});

describe("exchangeCode and refreshTokens", () => {
  it("sends the verifier with Basic client authentication and reads the tokens", async () => {
    const { requests, fetcher } = recorder(() =>
      Response.json({
        access_token: "at",
        refresh_token: "rt",
        expires_in: 60,
        scope: "read write",
        token_type: "bearer",
      }),
    );
    const result = await exchangeCode(base, APP, "the-code", "the-verifier", "https://cs.test/cb", 1000, fetcher);
    expect(result).toEqual({
      ok: true,
      value: {
        kind: "oauth2",
        accessToken: "at",
        refreshToken: "rt",
        expiresAt: 61_000,
        scopes: ["read", "write"],
        tokenType: "bearer",
        obtainedAt: 1000,
      },
    });
    const sent = requests[0];
    expect(sent?.headers.get("authorization")).toBe(`Basic ${btoa("client%20id:s3cret")}`);
    expect(sent?.headers.get("accept")).toBe("application/json");
    expect(Object.fromEntries(new URLSearchParams(sent?.body))).toEqual({
      grant_type: "authorization_code",
      code: "the-code",
      redirect_uri: "https://cs.test/cb",
      code_verifier: "the-verifier",
    });
  });

  it("reads a Slack user token from authed_user", async () => {
    const { fetcher } = recorder(() =>
      Response.json({ ok: true, authed_user: { access_token: "xoxp-1", scope: "a,b" } }),
    );
    const result = await exchangeCode(
      { ...base, tokenResponse: "slack_authed_user" },
      APP,
      "c",
      "v",
      "https://cs.test/cb",
      0,
      fetcher,
    );
    expect(result.ok && result.value.accessToken).toBe("xoxp-1");
  });

  it("keeps the old refresh token when the provider does not rotate it", async () => {
    const { requests, fetcher } = recorder(() => Response.json({ access_token: "new", expires_in: 3600 }));
    const result = await refreshTokens(
      base,
      APP,
      { kind: "oauth2", accessToken: "old", refreshToken: "keep", obtainedAt: 0 },
      5,
      fetcher,
    );
    expect(result.ok && result.value).toMatchObject({ accessToken: "new", refreshToken: "keep" });
    expect(new URLSearchParams(requests[0]?.body).get("refresh_token")).toBe("keep");
  });

  it.each([
    ["a 400 invalid_grant", () => Response.json({ error: "invalid_grant" }, { status: 400 }), "invalid_grant"],
    [
      "Slack's 200 invalid_refresh_token",
      () => Response.json({ ok: false, error: "invalid_refresh_token" }),
      "invalid_grant",
    ],
    ["a 503", () => new Response("down", { status: 503 }), "token_endpoint_error"],
    ["a 200 without a token", () => Response.json({ token_type: "bearer" }), "token_response_invalid"],
    ["HTML", () => new Response("<html>", { status: 200 }), "token_response_invalid"],
    ["a JSON null", () => new Response("null", { status: 200 }), "token_response_invalid"],
    ["a JSON array", () => Response.json([{ access_token: "x" }]), "token_response_invalid"],
    [
      "a body over 64 KiB",
      () => Response.json({ access_token: "x", token_type: "bearer", pad: "p".repeat(70_000) }),
      "token_response_invalid",
    ],
  ])("maps %s to %s without echoing anything secret", async (_label, respond, code) => {
    const { fetcher } = recorder(respond);
    const result = await refreshTokens(
      base,
      APP,
      { kind: "oauth2", accessToken: "old", refreshToken: "rt-secret", obtainedAt: 0 },
      0,
      fetcher,
    );
    expect(!result.ok && result.error.code).toBe(code);
    expect(JSON.stringify(result)).not.toContain("rt-secret");
  });

  it("never follows a token endpoint's redirect: asks for manual redirects and fails on the 3xx", async () => {
    const modes: string[] = [];
    const urls: string[] = [];
    const result = await exchangeCode(
      base,
      APP,
      "the-code",
      "the-verifier",
      "https://cs.test/cb",
      0,
      async (request) => {
        modes.push(request.redirect);
        urls.push(request.url);
        return new Response(null, { status: 302, headers: { Location: "https://evil.test/steal" } });
      },
    );
    expect(modes).toEqual(["manual"]);
    expect(urls.every((url) => !url.startsWith("https://evil.test"))).toBe(true);
    expect(!result.ok && result.error).toMatchObject({ code: "token_endpoint_error", status: 302 });
  });

  it("answers an unreachable endpoint with token_endpoint_unreachable", async () => {
    const result = await refreshTokens(
      base,
      APP,
      { kind: "oauth2", accessToken: "a", refreshToken: "r", obtainedAt: 0 },
      0,
      async () => {
        throw new TypeError("network");
      },
    );
    expect(!result.ok && result.error.code).toBe("token_endpoint_unreachable");
  });
});

describe("revokeToken", () => {
  const secret = { kind: "oauth2" as const, accessToken: "at-1", refreshToken: "rt-1", obtainedAt: 0 };

  it("posts RFC 7009 form with the refresh token and client authentication", async () => {
    const { requests, fetcher } = recorder(() => new Response(null, { status: 200 }));
    expect(await revokeToken(base, APP, secret, fetcher)).toBe(true);
    expect(requests[0]).toMatchObject({ method: "POST", url: "https://provider.test/revoke" });
    expect(Object.fromEntries(new URLSearchParams(requests[0]?.body))).toEqual({
      token: "rt-1",
      token_type_hint: "refresh_token",
    });
  });

  it("revokes bearer-style with the token itself", async () => {
    const { requests, fetcher } = recorder(() => new Response(null, { status: 200 }));
    await revokeToken({ ...base, revokeStyle: "bearer" }, APP, secret, fetcher);
    expect(requests[0]?.headers.get("authorization")).toBe("Bearer at-1");
  });

  it("revokes Notion-style with JSON and Basic credentials", async () => {
    const { requests, fetcher } = recorder(() => new Response(null, { status: 200 }));
    await revokeToken({ ...base, revokeStyle: "json_basic" }, APP, secret, fetcher);
    expect(requests[0]?.headers.get("authorization")).toMatch(/^Basic /);
    expect(JSON.parse(requests[0]?.body as string)).toEqual({ token: "at-1" });
  });

  it("deletes a GitHub app grant for this client", async () => {
    const { requests, fetcher } = recorder(() => new Response(null, { status: 204 }));
    const github = {
      ...base,
      revokeUrl: "https://api.github.test/applications/{client_id}/grant",
      revokeStyle: "github_grant" as const,
    };
    expect(await revokeToken(github, APP, secret, fetcher)).toBe(true);
    expect(requests[0]).toMatchObject({
      method: "DELETE",
      url: "https://api.github.test/applications/client%20id/grant",
    });
    expect(JSON.parse(requests[0]?.body as string)).toEqual({ access_token: "at-1" });
  });

  it("reports failure without throwing when there is no endpoint or it fails", async () => {
    expect(await revokeToken({ ...base, revokeUrl: undefined }, APP, secret)).toBe(false);
    const { fetcher } = recorder(() => new Response("no", { status: 500 }));
    expect(await revokeToken(base, APP, secret, fetcher)).toBe(false);
  });
});
