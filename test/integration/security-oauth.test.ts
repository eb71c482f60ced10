/**
 * docs/threat-model.md section A, through the Worker: the OAuth server for MCP clients.
 * Each case asserts the error AND that nothing was stored, issued or sent upstream.
 */
import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { inputValue, location, TestBrowser } from "../helpers/browser";
import { FakeIdp, IDP_ISSUER } from "../helpers/fake-idp";
import {
  authorizeUrl,
  authorizeWithOidc,
  callTool,
  consent,
  exchangeCode,
  mcpRequest,
  oidcSignIn,
  pkce,
  REDIRECT_URI,
  registerClient,
  signedInClient,
  tokenRequest,
} from "../helpers/oauth";
import { addedKeys, kvKeys } from "../helpers/storage";
import { envWith, fetchWorker, PUBLIC_ORIGIN, RESOURCE } from "../helpers/worker";

let idp: FakeIdp;
beforeEach(async () => {
  idp = await FakeIdp.create();
  idp.install();
});

describe("/authorize redirect_uri", () => {
  const variants = [
    ["trailing slash", `${REDIRECT_URI}/`],
    ["case", REDIRECT_URI.replace("callback", "Callback")],
    ["host case", REDIRECT_URI.replace("client.test", "CLIENT.test")],
    ["query", `${REDIRECT_URI}?x=1`],
    ["fragment", `${REDIRECT_URI}#frag`],
    ["userinfo", "https://attacker@client.test/callback"],
    ["sub-domain", "https://evil.client.test/callback"],
    ["other host", "https://evil.test/callback"],
    ["http downgrade", "http://client.test/callback"],
  ] as const;

  for (const [label, redirectUri] of variants) {
    it(`renders an error page without redirect or code when it differs by ${label}`, async () => {
      const client = await registerClient();
      const { challenge } = await pkce();
      const before = await kvKeys();
      const response = await new TestBrowser().get(
        authorizeUrl({ clientId: client.client_id, challenge, redirectUri }),
      );
      expect(response.status).toBe(400);
      expect(response.headers.get("Location")).toBeNull();
      const html = await response.text();
      expect(html).not.toContain('name="handle"');
      expect(await addedKeys(before)).toEqual([]);
    });
  }
});

describe("/oauth/register", () => {
  const hostile = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "https://client.test/cb#frag",
    "https://user:pass@client.test/cb",
  ];
  for (const uri of hostile) {
    it(`rejects redirect URI ${JSON.stringify(uri)} with 400 and stores nothing`, async () => {
      const before = await kvKeys();
      const response = await fetchWorker("/oauth/register", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ client_name: "x", redirect_uris: [uri], token_endpoint_auth_method: "none" }),
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(
        /invalid_redirect_uri|invalid_client_metadata/,
      );
      expect(await addedKeys(before)).toEqual([]);
    });
  }
});

describe("PKCE", () => {
  it("refuses an authorization request without code_challenge", async () => {
    const client = await registerClient();
    const before = await kvKeys();
    const response = await new TestBrowser().get(
      authorizeUrl({ clientId: client.client_id, challenge: "" }).replace(
        /&code_challenge=&code_challenge_method=S256/,
        "",
      ),
    );
    expect(response.status).not.toBe(200);
    if (response.status === 302) expect(location(response).searchParams.get("error")).toBe("invalid_request");
    expect(await addedKeys(before)).toEqual([]);
  });

  it("refuses the plain challenge method", async () => {
    const client = await registerClient();
    const before = await kvKeys();
    const response = await new TestBrowser().get(
      authorizeUrl({
        clientId: client.client_id,
        challenge: "a".repeat(43),
        extra: { code_challenge_method: "plain" },
      }),
    );
    expect(response.status).not.toBe(200);
    if (response.status === 302) expect(location(response).searchParams.get("error")).toBe("invalid_request");
    expect(await addedKeys(before)).toEqual([]);
  });

  for (const [label, verifier] of [
    ["missing", undefined],
    ["wrong", "wrong-verifier-wrong-verifier-wrong-verifier-1234"],
  ] as const) {
    it(`rejects a code exchange with a ${label} verifier and issues no token`, async () => {
      const client = await registerClient();
      const { challenge } = await pkce();
      const code = await authorizeWithOidc(new TestBrowser(), idp, { clientId: client.client_id, challenge });
      const form: Record<string, string> = {
        grant_type: "authorization_code",
        client_id: client.client_id,
        code,
        redirect_uri: REDIRECT_URI,
      };
      if (verifier) form.code_verifier = verifier;
      const before = await kvKeys();
      const response = await tokenRequest(form);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(/invalid_grant|invalid_request/);
      expect((await addedKeys(before)).filter((key) => key.startsWith("token:"))).toEqual([]);
    });
  }
});

describe("/mcp token audience", () => {
  it("rejects a token issued for another resource with 401", async () => {
    // The same KV, another deployment's resource: its token must not open our /mcp.
    const other = envWith({ PUBLIC_URL: "https://other.test" });
    const client = await registerClient({}, other);
    const { verifier, challenge } = await pkce();
    const browser = new TestBrowser(other, "https://other.test");
    const page = await browser.get(
      `https://other.test${authorizeUrl({ clientId: client.client_id, challenge }).replace(encodeURIComponent(RESOURCE), encodeURIComponent("https://other.test/mcp"))}`,
    );
    expect(page.status).toBe(200);
    const handle = inputValue(await page.text(), "handle") as string;
    const toSignin = location(
      await browser.post("https://other.test/authorize", { handle, decision: "approve", scope: ["mcp"] }),
    );
    const callback = await oidcSignIn(browser, idp, `https://other.test${toSignin.pathname}${toSignin.search}`, "u1");
    const resume = location(callback);
    const done = location(await browser.get(`https://other.test${resume.pathname}${resume.search}`));
    const response = await tokenRequest(
      {
        grant_type: "authorization_code",
        client_id: client.client_id,
        code: done.searchParams.get("code") as string,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
      },
      { Host: "other.test" },
      other,
    );
    const foreignToken = ((await response.json()) as { access_token: string }).access_token;
    expect(foreignToken).toBeTruthy();
    const atOurs = await mcpRequest(foreignToken, { jsonrpc: "2.0", id: 1, method: "tools/list" });
    expect(atOurs.status).toBe(401);
    expect(atOurs.headers.get("WWW-Authenticate")).toContain('error="invalid_token"');
  });

  it("rejects an identity provider's token and made-up tokens with 401", async () => {
    for (const token of ["idp-access-token", "x:y:z", "a".repeat(4000)]) {
      const response = await mcpRequest(token, { jsonrpc: "2.0", id: 1, method: "tools/list" });
      expect(response.status).toBe(401);
    }
  });
});

describe("consent before upstream sign-in", () => {
  it("shows our consent page naming an attacker's client, its redirect host and scopes before any IdP contact", async () => {
    const name = `<script>alert("x")</script> Claude <b>Official</b>`;
    const client = await registerClient({ client_name: name, redirect_uris: ["https://attacker.test/cb"] });
    const { challenge } = await pkce();
    const response = await new TestBrowser().get(
      authorizeUrl({ clientId: client.client_id, challenge, redirectUri: "https://attacker.test/cb" }),
    );
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Claude &lt;b&gt;Official&lt;/b&gt;");
    expect(html).not.toContain("<script>");
    expect(html).toContain("attacker.test");
    expect(html).toContain('value="mcp"');
    expect(html).toContain("not verified");
    expect(response.headers.get("Content-Security-Policy")).toContain("frame-ancestors 'none'");
    expect(response.headers.get("X-Frame-Options")).toBe("DENY");
    expect(idp.seen).toEqual([]);
  });

  it("redirects Cancel back to the client with access_denied and no code", async () => {
    const client = await registerClient();
    const { challenge } = await pkce();
    const response = await consent(new TestBrowser(), { clientId: client.client_id, challenge }, "deny");
    expect(response.status).toBe(302);
    const target = location(response);
    expect(target.searchParams.get("error")).toBe("access_denied");
    expect(target.searchParams.get("code")).toBeNull();
    expect(idp.seen).toEqual([]);
  });

  it("refuses a consent POST from another browser (no binding cookie)", async () => {
    const client = await registerClient();
    const { challenge } = await pkce();
    const page = await new TestBrowser().get(authorizeUrl({ clientId: client.client_id, challenge }));
    const handle = inputValue(await page.text(), "handle") as string;
    const response = await new TestBrowser().post("/authorize", { handle, decision: "approve", scope: "mcp" });
    expect(response.status).toBe(400);
    expect(response.headers.get("Location")).toBeNull();
  });

  it("refuses a cross-site consent POST with 403", async () => {
    const client = await registerClient();
    const { challenge } = await pkce();
    const browser = new TestBrowser();
    const page = await browser.get(authorizeUrl({ clientId: client.client_id, challenge }));
    const handle = inputValue(await page.text(), "handle") as string;
    const forged: Record<string, string>[] = [
      { Origin: "https://evil.test" },
      { Origin: "https://evil.test", "Sec-Fetch-Site": "same-origin" },
      { Origin: "null" },
      { Origin: "null", "Sec-Fetch-Site": "cross-site" },
      { Origin: "null", "Sec-Fetch-Site": "same-site" },
      { Origin: "" },
    ];
    for (const headers of forged) {
      const response = await browser.post("/authorize", { handle, decision: "approve" }, headers);
      expect(response.status).toBe(403);
    }
    // A real browser on our no-referrer page sends Origin: null with Sec-Fetch-Site: same-origin.
    const genuine = await browser.post(
      "/authorize",
      { handle, decision: "approve", scope: "mcp" },
      { Origin: "null", "Sec-Fetch-Site": "same-origin" },
    );
    expect(genuine.status).toBe(302);
  });

  it("lets the person narrow the scopes but never widen them", async () => {
    const client = await registerClient();
    const { verifier, challenge } = await pkce();
    const browser = new TestBrowser();
    const page = await browser.get(
      authorizeUrl({ clientId: client.client_id, challenge, scope: "mcp offline_access" }),
    );
    const handle = inputValue(await page.text(), "handle") as string;
    const toSignin = location(
      await browser.post("/authorize", { handle, decision: "approve", scope: ["mcp", "admin", "mcp:write"] }),
    );
    const callback = await oidcSignIn(browser, idp, `${toSignin.pathname}${toSignin.search}`, "narrow-user");
    const resume = location(callback);
    const done = location(await browser.get(`${resume.pathname}${resume.search}`));
    const tokens = await exchangeCode(client.client_id, done.searchParams.get("code") as string, verifier);
    expect(tokens.scope).toBe("mcp");
  });
});

describe("OIDC callback", () => {
  async function startSignIn(browser: TestBrowser) {
    const response = await browser.get("/signin?return_to=/");
    const url = location(response);
    return { state: url.searchParams.get("state") as string, nonce: url.searchParams.get("nonce") as string };
  }

  async function expectBurned(browser: TestBrowser, state: string, nonce: string) {
    const code = idp.issueCode({ sub: "late", nonce });
    const retry = await browser.get(`/signin/callback?${new URLSearchParams({ code, state, iss: IDP_ISSUER })}`);
    expect(retry.status).toBe(400);
    expect(retry.headers.getSetCookie().join("\n")).not.toContain("__Host-cs_session=ey");
  }

  const cases: [string, (state: string, code: string) => Record<string, string>, string][] = [
    ["missing state", (_s, code) => ({ code, iss: IDP_ISSUER }), "state_missing"],
    ["mismatched state", (_s, code) => ({ code, state: "forged-state", iss: IDP_ISSUER }), "state_mismatch"],
    ["wrong iss", (state, code) => ({ code, state, iss: "https://evil.test" }), "callback_invalid"],
    ["error=", (state) => ({ error: "access_denied", state, iss: IDP_ISSUER }), "provider_error"],
  ];

  for (const [label, query, code] of cases) {
    it(`rejects a callback with ${label}, signs nobody in, and burns the state`, async () => {
      const browser = new TestBrowser();
      const { state, nonce } = await startSignIn(browser);
      const idpCode = idp.issueCode({ sub: "victim", nonce });
      const response = await browser.get(`/signin/callback?${new URLSearchParams(query(state, idpCode))}`);
      expect(response.status).toBe(400);
      expect(await response.text()).toContain(code);
      expect(browser.cookies.has("__Host-cs_session")).toBe(false);
      expect(browser.cookies.has("__Host-cs_signin")).toBe(false);
      if (label !== "missing state" && label !== "mismatched state") await expectBurned(browser, state, nonce);
      if (label === "mismatched state") {
        // The real state was never presented, so it is still usable once; then burned.
        const ok = await browser.get(
          `/signin/callback?${new URLSearchParams({ code: idp.issueCode({ sub: "victim", nonce }), state, iss: IDP_ISSUER })}`,
        );
        expect(ok.status).toBe(400); // the binding cookie was cleared by the failed attempt
      }
    });
  }

  it("rejects an ID token whose nonce does not match", async () => {
    const browser = new TestBrowser();
    const { state } = await startSignIn(browser);
    const code = idp.issueCode({ sub: "victim", nonce: "other-nonce" });
    const response = await browser.get(`/signin/callback?${new URLSearchParams({ code, state, iss: IDP_ISSUER })}`);
    expect(response.status).toBe(400);
    expect(browser.cookies.has("__Host-cs_session")).toBe(false);
  });

  it("rejects a replayed callback in another browser", async () => {
    const browser = new TestBrowser();
    const { state, nonce } = await startSignIn(browser);
    const query = new URLSearchParams({ code: idp.issueCode({ sub: "victim", nonce }), state, iss: IDP_ISSUER });
    const thief = new TestBrowser();
    const stolen = await thief.get(`/signin/callback?${query}`);
    expect(stolen.status).toBe(400);
    expect(thief.cookies.has("__Host-cs_session")).toBe(false);
  });

  it("keys users by (issuer, subject), never by e-mail", async () => {
    const whoamiOf = async (sub: string, email: string) => {
      const { tokens } = await signedInClient(idp, sub, email);
      const { message } = await callTool(tokens.access_token, "whoami");
      return (message.result as { structuredContent: { user: { id: string } } }).structuredContent.user.id;
    };
    const a = await whoamiOf("sub-1", "same@example.com");
    const b = await whoamiOf("sub-2", "same@example.com");
    const c = await whoamiOf("sub-1", "changed@example.com");
    expect(a).not.toBe(b);
    expect(a).toBe(c);
  });
});

describe("requested scopes", () => {
  for (const [requested, granted] of [
    ["mcp admin offline_access", "mcp offline_access"],
    ["admin", "mcp"],
    ["", "mcp"],
  ] as const) {
    it(`grants ${JSON.stringify(granted)} when the client asks for ${JSON.stringify(requested)}`, async () => {
      const client = await registerClient();
      const { verifier, challenge } = await pkce();
      const browser = new TestBrowser();
      const page = await browser.get(authorizeUrl({ clientId: client.client_id, challenge, scope: requested }));
      const html = await page.text();
      expect(html).not.toContain('value="admin"');
      const handle = inputValue(html, "handle") as string;
      const ticked = ["mcp", "offline_access", "admin"];
      const toSignin = location(await browser.post("/authorize", { handle, decision: "approve", scope: ticked }));
      const callback = await oidcSignIn(browser, idp, `${toSignin.pathname}${toSignin.search}`, "scope-user");
      const resume = location(callback);
      const done = location(await browser.get(`${resume.pathname}${resume.search}`));
      const tokens = await exchangeCode(client.client_id, done.searchParams.get("code") as string, verifier);
      expect(tokens.scope.split(" ").sort().join(" ")).toBe(granted);
    });
  }
});

describe("/oauth/token", () => {
  it("never widens scope on refresh and refuses another resource", async () => {
    const client = await registerClient();
    const { verifier, challenge } = await pkce();
    const code = await authorizeWithOidc(new TestBrowser(), idp, {
      clientId: client.client_id,
      challenge,
      scope: "mcp",
    });
    const tokens = await exchangeCode(client.client_id, code, verifier);
    const wider = await tokenRequest({
      grant_type: "refresh_token",
      client_id: client.client_id,
      refresh_token: tokens.refresh_token,
      scope: "mcp offline_access admin",
    });
    // The library narrows a refresh to the grant (never wider); asking only for ungranted scopes fails.
    expect(wider.status).toBe(200);
    const narrowed = (await wider.json()) as { scope: string; refresh_token: string; access_token: string };
    expect(narrowed.scope).toBe("mcp");
    const whoami = await callTool(narrowed.access_token, "whoami");
    expect((whoami.message.result as { structuredContent: { scopes: string[] } }).structuredContent.scopes).toEqual([
      "mcp",
    ]);
    const onlyWider = await tokenRequest({
      grant_type: "refresh_token",
      client_id: client.client_id,
      refresh_token: narrowed.refresh_token,
      scope: "admin",
    });
    expect(onlyWider.status).toBe(400);
    expect(((await onlyWider.json()) as { error: string }).error).toBe("invalid_scope");
    const retarget = await tokenRequest({
      grant_type: "refresh_token",
      client_id: client.client_id,
      refresh_token: narrowed.refresh_token,
      resource: "https://other.test/mcp",
    });
    expect(retarget.status).toBe(400);
    expect(((await retarget.json()) as { error: string }).error).toBe("invalid_target");
  });

  it("rejects a code used twice", async () => {
    const client = await registerClient();
    const { verifier, challenge } = await pkce();
    const code = await authorizeWithOidc(new TestBrowser(), idp, { clientId: client.client_id, challenge });
    await exchangeCode(client.client_id, code, verifier);
    const replay = await tokenRequest({
      grant_type: "authorization_code",
      client_id: client.client_id,
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
    });
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: string }).error).toBe("invalid_grant");
  });

  const malformed: [string, RequestInit][] = [
    ["text/plain", { headers: { "Content-Type": "text/plain" }, body: "grant_type=refresh_token" }],
    ["JSON", { headers: { "Content-Type": "application/json" }, body: '{"grant_type":"refresh_token"}' }],
    ["broken multipart", { headers: { "Content-Type": "multipart/form-data; boundary=x" }, body: "--x\r\nbroken" }],
    ["no content type", { body: "grant_type=refresh_token" }],
    ["empty form", { headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "" }],
    [
      "Basic auth that is not base64",
      {
        headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: "Basic !!!%%%" },
        body: "grant_type=refresh_token&refresh_token=x",
      },
    ],
    [
      "Basic auth without a colon",
      {
        headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: `Basic ${btoa("nocolon")}` },
        body: "grant_type=refresh_token&refresh_token=x",
      },
    ],
    [
      "Basic auth for an unknown client",
      {
        headers: {
          "Content-Type": "application/x-www-form-urlencoded",
          Authorization: `Basic ${btoa("ghost:secret")}`,
        },
        body: "grant_type=refresh_token&refresh_token=x",
      },
    ],
  ];
  for (const [label, init] of malformed) {
    it(`answers ${label} with a 4xx OAuth error, never 500`, async () => {
      const response = await fetchWorker("/oauth/token", { method: "POST", ...init });
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      const body = (await response.json()) as { error: string };
      expect(body.error).toMatch(/^(invalid_request|invalid_client|unsupported_grant_type|invalid_grant)$/);
    });
  }

  it("marks token responses Cache-Control: no-store", async () => {
    const { client, tokens } = await signedInClient(idp);
    const response = await tokenRequest({
      grant_type: "refresh_token",
      client_id: client.client_id,
      refresh_token: tokens.refresh_token,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("Cache-Control")).toContain("no-store");
  });
});

describe("discovery metadata", () => {
  it("serves exact protected resource metadata and a challenge that points at it", async () => {
    const prm = await fetchWorker("/.well-known/oauth-protected-resource/mcp");
    expect(prm.status).toBe(200);
    expect(await prm.json()).toEqual({
      resource: RESOURCE,
      authorization_servers: [PUBLIC_ORIGIN],
      scopes_supported: ["mcp"],
      bearer_methods_supported: ["header"],
      resource_name: "Countersign",
    });
    const challenge = await mcpRequest(null, { jsonrpc: "2.0", id: 1, method: "tools/list" });
    expect(challenge.status).toBe(401);
    expect(challenge.headers.get("WWW-Authenticate")).toBe(
      `Bearer realm="OAuth", resource_metadata="${PUBLIC_ORIGIN}/.well-known/oauth-protected-resource/mcp", scope="mcp"`,
    );
  });

  it("serves RFC 8414 metadata with S256 only and endpoints under PUBLIC_URL", async () => {
    const response = await fetchWorker("/.well-known/oauth-authorization-server");
    const metadata = (await response.json()) as Record<string, unknown>;
    expect(metadata.issuer).toBe(PUBLIC_ORIGIN);
    expect(metadata.code_challenge_methods_supported).toEqual(["S256"]);
    expect(metadata.authorization_endpoint).toBe(`${PUBLIC_ORIGIN}/authorize`);
    expect(metadata.token_endpoint).toBe(`${PUBLIC_ORIGIN}/oauth/token`);
    expect(metadata.registration_endpoint).toBe(`${PUBLIC_ORIGIN}/oauth/register`);
    expect(metadata.client_id_metadata_document_supported).toBe(true);
  });

  it("never builds issuer or resource from the Host header", async () => {
    for (const path of ["/.well-known/oauth-authorization-server", "/.well-known/oauth-protected-resource/mcp"]) {
      const response = await fetchWorker(path, { headers: { Host: "evil.test", "X-Forwarded-Host": "evil.test" } });
      const text = await response.text();
      expect(text).not.toContain("evil.test");
    }
    const page = await fetchWorker("/", { headers: { Host: "evil.test" } });
    expect(await page.text()).toContain(`${PUBLIC_ORIGIN}/mcp`);
  });
});

describe("revocation", () => {
  it("makes a revoked access token fail at /mcp with 401", async () => {
    const { client, tokens } = await signedInClient(idp);
    expect((await callTool(tokens.access_token, "whoami")).status).toBe(200);
    const revoke = await tokenRequest({ token: tokens.access_token, client_id: client.client_id });
    expect(revoke.status).toBe(200);
    const after = await mcpRequest(tokens.access_token, { jsonrpc: "2.0", id: 1, method: "tools/list" });
    expect(after.status).toBe(401);
  });

  it("makes a revoked refresh token unusable", async () => {
    const { client, tokens } = await signedInClient(idp);
    const revoke = await tokenRequest({ token: tokens.refresh_token, client_id: client.client_id });
    expect(revoke.status).toBe(200);
    const refresh = await tokenRequest({
      grant_type: "refresh_token",
      client_id: client.client_id,
      refresh_token: tokens.refresh_token,
    });
    expect(refresh.status).toBe(400);
  });
});

it("test env points at the fake IdP", () => {
  expect(env.OIDC_ISSUER).toBe(IDP_ISSUER);
});
