// Self-test of the upstream MCP fixtures, driven by real SDK clients and by hand, with no
// Countersign involved: the OAuth-protected Streamable HTTP server (discovery, DCR, PKCE,
// rotation, expiry, revocation, 2025-era sessions and a 2026-07-28 client) and the legacy
// HTTP+SSE server (the 405 on POST /sse, the stream count).
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from "@modelcontextprotocol/client";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { startLegacySseMcp } from "./lib/legacy-sse-mcp.mjs";
import { MemoryOAuthProvider } from "./lib/memory-provider.mjs";
import { BIG_RESULT_BYTES, startUpstreamMcp } from "./lib/upstream-mcp.mjs";
import { fetchWithTimeout, sleep, withTimeout } from "./lib/util.mjs";

const REDIRECT_URI = "http://127.0.0.1:9/callback";
const INITIALIZE = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "by-hand", version: "1.0.0" } },
};

const newClient = (/** @type {object} */ options = {}) =>
  new Client({ name: "upstream-fixture-test", version: "1.0.0" }, options);

/** A fresh PKCE pair (RFC 7636, S256). */
function pkce() {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

/** @param {string} url @param {Record<string, string>} form @param {Record<string, string>} [headers] */
function postForm(url, form, headers = {}) {
  return fetchWithTimeout(url, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(form),
  });
}

/** @param {string} url @param {unknown} body @param {Record<string, string>} [headers] */
function postJson(url, body, headers = {}) {
  return fetchWithTimeout(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream", ...headers },
    body: JSON.stringify(body),
  });
}

/** @param {string} origin */
async function registerClient(origin, metadata = {}) {
  const res = await postJson(`${origin}/register`, { redirect_uris: [REDIRECT_URI], client_name: "hand", ...metadata });
  assert.equal(res.status, 201);
  return res.json();
}

/**
 * GET /authorize without following the redirect; returns the Location as a URL.
 * @param {string} origin
 * @param {Record<string, string>} params
 */
async function authorizeRedirect(origin, params) {
  const res = await fetchWithTimeout(`${origin}/authorize?${new URLSearchParams(params)}`, { redirect: "manual" });
  assert.equal(res.status, 302);
  return new URL(res.headers.get("Location") ?? "");
}

/** The whole dance by hand: register, authorize, exchange. Returns the client and the token response. */
async function obtainTokens(/** @type {import("./lib/upstream-mcp.mjs").UpstreamMcp} */ upstream) {
  const client = await registerClient(upstream.origin);
  const { verifier, challenge } = pkce();
  const callback = await authorizeRedirect(upstream.origin, {
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: REDIRECT_URI,
    code_challenge: challenge,
    code_challenge_method: "S256",
    resource: upstream.mcpUrl,
    state: "s1",
  });
  const res = await postForm(`${upstream.origin}/token`, {
    grant_type: "authorization_code",
    code: callback.searchParams.get("code") ?? "",
    redirect_uri: REDIRECT_URI,
    code_verifier: verifier,
    client_id: client.client_id,
    resource: upstream.mcpUrl,
  });
  assert.equal(res.status, 200);
  return { client, tokens: await res.json() };
}

/** @param {import("./lib/upstream-mcp.mjs").UpstreamMcp} upstream @param {string} clientId @param {string} refreshToken */
function refresh(upstream, clientId, refreshToken) {
  return postForm(`${upstream.origin}/token`, {
    grant_type: "refresh_token",
    refresh_token: refreshToken,
    client_id: clientId,
    resource: upstream.mcpUrl,
  });
}

/** A 2025-era initialize by hand; returns the response (body unread). */
function initializeWith(/** @type {string} */ mcpUrl, /** @type {string} */ accessToken) {
  return postJson(mcpUrl, INITIALIZE, { Authorization: `Bearer ${accessToken}` });
}

describe("upstream-mcp fixture", { timeout: 30_000 }, () => {
  /** @type {import("./lib/upstream-mcp.mjs").UpstreamMcp} */
  let upstream;
  before(async () => {
    upstream = await startUpstreamMcp();
  });
  after(async () => {
    await upstream?.close();
  });

  it("answers /mcp without a token with 401 and the RFC 9728 challenge", async () => {
    const res = await postJson(upstream.mcpUrl, INITIALIZE);
    assert.equal(res.status, 401);
    assert.equal(
      res.headers.get("WWW-Authenticate"),
      `Bearer resource_metadata="${upstream.origin}/.well-known/oauth-protected-resource/mcp", scope="issues:read issues:write"`,
    );
    const bogus = await initializeWith(upstream.mcpUrl, "at_never_issued");
    assert.equal(bogus.status, 401);
    assert.match(bogus.headers.get("WWW-Authenticate") ?? "", /error="invalid_token"/);
    assert.equal(upstream.stats().unauthorized, 2);
  });

  it("publishes protected resource and authorization server metadata", async () => {
    for (const path of ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]) {
      const prm = await (await fetchWithTimeout(`${upstream.origin}${path}`)).json();
      assert.deepEqual(prm, {
        resource: upstream.mcpUrl,
        authorization_servers: [upstream.origin],
        scopes_supported: ["issues:read", "issues:write"],
        bearer_methods_supported: ["header"],
      });
    }
    const as = await (await fetchWithTimeout(`${upstream.origin}/.well-known/oauth-authorization-server`)).json();
    assert.equal(as.issuer, upstream.origin);
    assert.equal(as.authorization_endpoint, `${upstream.origin}/authorize`);
    assert.equal(as.token_endpoint, `${upstream.origin}/token`);
    assert.equal(as.registration_endpoint, `${upstream.origin}/register`);
    assert.equal(as.revocation_endpoint, `${upstream.origin}/revoke`);
    assert.deepEqual(as.code_challenge_methods_supported, ["S256"]);
    assert.deepEqual(as.grant_types_supported, ["authorization_code", "refresh_token"]);
    assert.equal(as.authorization_response_iss_parameter_supported, true);
    assert.equal(as.client_id_metadata_document_supported, false);
  });

  it("rejects registrations without usable redirect_uris", async () => {
    const before = upstream.stats().registrations.length;
    for (const body of [
      {},
      { redirect_uris: [] },
      { redirect_uris: "http://x/cb" },
      { redirect_uris: ["not a url"] },
    ]) {
      const res = await postJson(`${upstream.origin}/register`, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal((await res.json()).error, "invalid_redirect_uri");
    }
    assert.equal(upstream.stats().registrations.length, before, "nothing registered");
    const client = await registerClient(upstream.origin);
    assert.equal(client.token_endpoint_auth_method, "none");
    assert.deepEqual(client.redirect_uris, [REDIRECT_URI]);
  });

  it("refuses bad authorization requests, redirecting only to a registered redirect_uri", async () => {
    const client = await registerClient(upstream.origin);
    const { challenge } = pkce();
    const good = {
      response_type: "code",
      client_id: client.client_id,
      redirect_uri: REDIRECT_URI,
      code_challenge: challenge,
      code_challenge_method: "S256",
      resource: upstream.mcpUrl,
      state: "xyz",
    };
    const cases = [
      [{ resource: `${upstream.origin}/other` }, "invalid_target"],
      [{ code_challenge_method: "plain" }, "invalid_request"],
      [{ code_challenge: "" }, "invalid_request"],
      [{ response_type: "token" }, "unsupported_response_type"],
      [{ scope: "admin" }, "invalid_scope"],
    ];
    for (const [override, error] of cases) {
      const callback = await authorizeRedirect(upstream.origin, { ...good, ...override });
      assert.equal(callback.searchParams.get("error"), error, JSON.stringify(override));
      assert.equal(callback.searchParams.get("state"), "xyz");
      assert.equal(callback.searchParams.get("iss"), upstream.origin);
      assert.equal(callback.searchParams.get("code"), null);
    }
    for (const override of [{ client_id: "nobody" }, { redirect_uri: "http://127.0.0.1:9/elsewhere" }]) {
      const res = await fetchWithTimeout(
        `${upstream.origin}/authorize?${new URLSearchParams({ ...good, ...override })}`,
        {
          redirect: "manual",
        },
      );
      assert.equal(res.status, 400, JSON.stringify(override));
      assert.equal(res.headers.get("Location"), null);
    }
    upstream.setAuthorizeMode("deny");
    try {
      const denied = await authorizeRedirect(upstream.origin, good);
      assert.equal(denied.searchParams.get("error"), "access_denied");
    } finally {
      upstream.setAuthorizeMode("auto");
    }
  });

  it("exchanges a code once, only with the right PKCE verifier and resource", async () => {
    const client = await registerClient(upstream.origin);
    const { verifier, challenge } = pkce();
    const authorize = () =>
      authorizeRedirect(upstream.origin, {
        response_type: "code",
        client_id: client.client_id,
        redirect_uri: REDIRECT_URI,
        code_challenge: challenge,
        code_challenge_method: "S256",
        resource: upstream.mcpUrl,
      });
    const exchange = (code, overrides = {}) =>
      postForm(`${upstream.origin}/token`, {
        grant_type: "authorization_code",
        code,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
        client_id: client.client_id,
        resource: upstream.mcpUrl,
        ...overrides,
      });

    const wrongVerifier = await exchange((await authorize()).searchParams.get("code") ?? "", {
      code_verifier: pkce().verifier,
    });
    assert.equal(wrongVerifier.status, 400);
    assert.equal((await wrongVerifier.json()).error, "invalid_grant");

    const wrongResource = await exchange((await authorize()).searchParams.get("code") ?? "", {
      resource: `${upstream.origin}/other`,
    });
    assert.equal((await wrongResource.json()).error, "invalid_target");

    const code = (await authorize()).searchParams.get("code") ?? "";
    const ok = await exchange(code);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("Cache-Control"), "no-store");
    const tokens = await ok.json();
    assert.equal(tokens.token_type, "Bearer");
    assert.equal(tokens.expires_in, 3600);
    assert.equal(tokens.scope, "issues:read issues:write");
    assert.match(tokens.access_token, /\S{20}/);
    assert.match(tokens.refresh_token, /\S{20}/);

    const replay = await exchange(code);
    assert.equal((await replay.json()).error, "invalid_grant");
    const revokedByReplay = await initializeWith(upstream.mcpUrl, tokens.access_token);
    assert.equal(revokedByReplay.status, 401, "replaying a code revokes the tokens issued for it");
  });

  it("serves a stateful 2025-era session to the v2 SDK client and forgets it on dropSessions", async () => {
    const { tokens } = await obtainTokens(upstream);
    const generation = upstream.stats().accessTokensIssued;
    const transport = new StreamableHTTPClientTransport(new URL(upstream.mcpUrl), {
      authProvider: { token: async () => tokens.access_token },
    });
    const client = newClient();
    await client.connect(transport);
    try {
      assert.equal(client.getProtocolEra(), "legacy");
      const sessionId = transport.sessionId;
      assert.match(sessionId ?? "", /^[0-9a-f-]{36}$/);

      const { tools } = await client.listTools();
      const byName = Object.fromEntries(tools.map((tool) => [tool.name, tool]));
      assert.deepEqual(Object.keys(byName).sort(), [
        "big_result",
        "create_issue",
        "delete_issue",
        "fail",
        "get_issue",
        "search_issues",
        "whoami",
      ]);
      assert.deepEqual(byName.search_issues.annotations, { readOnlyHint: true });
      assert.deepEqual(byName.create_issue.annotations, { readOnlyHint: false, destructiveHint: false });
      assert.deepEqual(byName.delete_issue.annotations, { destructiveHint: true });
      assert.match(byName.whoami.description ?? "", /Ignore previous instructions.*<script>/);

      const search = await client.callTool({ name: "search_issues", arguments: { query: "login" } });
      assert.match(search.content[0].text, /ISS-1.*\n.*ISS-3/);
      const issue = await client.callTool({ name: "get_issue", arguments: { id: "ISS-2" } });
      assert.equal(issue.structuredContent?.title, "Crash when exporting CSV");
      const created = await client.callTool({ name: "create_issue", arguments: { title: "New", body: "b" } });
      const { id } = /** @type {{ id: string }} */ (created.structuredContent);
      assert.match((await client.callTool({ name: "delete_issue", arguments: { id } })).content[0].text, /Deleted/);
      const failed = await client.callTool({ name: "fail", arguments: {} });
      assert.equal(failed.isError, true);
      const big = await client.callTool({ name: "big_result", arguments: {} });
      assert.ok(big.content[0].text.length >= BIG_RESULT_BYTES);

      const calls = upstream.stats().toolCalls;
      const last = calls.at(-1);
      assert.equal(last?.name, "big_result");
      assert.equal(last?.era, "legacy");
      assert.equal(last?.sessionId, sessionId);
      assert.equal(last?.authorization, tokens.access_token);
      assert.equal(last?.tokenGeneration, generation);
      assert.deepEqual(calls.at(-6)?.args, { query: "login" });
      assert.equal(upstream.stats().openSessions, 1);

      await upstream.dropSessions();
      assert.equal(upstream.stats().openSessions, 0);
      const gone = await postJson(
        upstream.mcpUrl,
        { jsonrpc: "2.0", id: 9, method: "tools/list" },
        {
          Authorization: `Bearer ${tokens.access_token}`,
          "Mcp-Session-Id": sessionId ?? "",
          "MCP-Protocol-Version": "2025-06-18",
        },
      );
      assert.equal(gone.status, 404);
      const noSession = await postJson(
        upstream.mcpUrl,
        { jsonrpc: "2.0", id: 9, method: "tools/list" },
        { Authorization: `Bearer ${tokens.access_token}`, "MCP-Protocol-Version": "2025-06-18" },
      );
      assert.equal(noSession.status, 400);
    } finally {
      await client.close().catch(() => {});
    }
  });

  it("serves a 2026-07-28 client statelessly from the same tools", async () => {
    const { tokens } = await obtainTokens(upstream);
    const transport = new StreamableHTTPClientTransport(new URL(upstream.mcpUrl), {
      authProvider: { token: async () => tokens.access_token },
    });
    const client = newClient({ versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await client.connect(transport);
    try {
      assert.equal(client.getNegotiatedProtocolVersion(), "2026-07-28");
      const { tools } = await client.listTools();
      assert.equal(tools.length, 7);
      const result = await client.callTool({ name: "whoami", arguments: {} });
      assert.match(result.content[0].text, /upstream-user@example.com/);
      const last = upstream.stats().toolCalls.at(-1);
      assert.equal(last?.era, "modern");
      assert.equal(last?.sessionId, null);
      assert.equal(last?.authorization, tokens.access_token);
    } finally {
      await client.close().catch(() => {});
    }
  });

  it("rotates refresh tokens and sends a 401 once access tokens are expired", async () => {
    const { client, tokens } = await obtainTokens(upstream);
    const count = upstream.stats().tokenRequests.refresh_token;
    const first = await refresh(upstream, client.client_id, tokens.refresh_token);
    assert.equal(first.status, 200);
    const rotated = await first.json();
    assert.notEqual(rotated.refresh_token, tokens.refresh_token);
    assert.notEqual(rotated.access_token, tokens.access_token);

    const reused = await refresh(upstream, client.client_id, tokens.refresh_token);
    assert.equal(reused.status, 400);
    assert.equal((await reused.json()).error, "invalid_grant");
    assert.equal(upstream.stats().tokenRequests.refresh_token, count + 2);

    const session = await initializeWith(upstream.mcpUrl, rotated.access_token);
    assert.equal(session.status, 200);
    await session.body?.cancel();
    upstream.expireAllAccessTokens();
    const expired = await initializeWith(upstream.mcpUrl, rotated.access_token);
    assert.equal(expired.status, 401);
    assert.match(expired.headers.get("WWW-Authenticate") ?? "", /resource_metadata=/);

    upstream.setAccessTokenTtl(120);
    const again = await (await refresh(upstream, client.client_id, rotated.refresh_token)).json();
    assert.equal(again.expires_in, 120);
    upstream.setAccessTokenTtl(3600);
    const fresh = await initializeWith(upstream.mcpUrl, again.access_token);
    assert.equal(fresh.status, 200);
    await fresh.body?.cancel();
  });

  it("holds a refresh open with refreshDelayMs and lets only one of two concurrent refreshes win", async () => {
    const { client, tokens } = await obtainTokens(upstream);
    upstream.setRefreshDelayMs(200);
    try {
      const started = Date.now();
      const [a, b] = await Promise.all([
        refresh(upstream, client.client_id, tokens.refresh_token),
        refresh(upstream, client.client_id, tokens.refresh_token),
      ]);
      assert.deepEqual([a.status, b.status].sort(), [200, 400]);
      assert.ok(Date.now() - started >= 190, "the winning refresh was held open");
    } finally {
      upstream.setRefreshDelayMs(0);
    }
  });

  it("revokes a refresh token with its access tokens, and revokeAllRefreshTokens spends the rest", async () => {
    const { client, tokens } = await obtainTokens(upstream);
    const revoked = await postForm(`${upstream.origin}/revoke`, {
      token: tokens.refresh_token,
      token_type_hint: "refresh_token",
      client_id: client.client_id,
    });
    assert.equal(revoked.status, 200);
    const recorded = upstream.stats().revocations.at(-1);
    assert.equal(recorded?.tokenType, "refresh_token");
    assert.equal(recorded?.hint, "refresh_token");
    assert.equal((await initializeWith(upstream.mcpUrl, tokens.access_token)).status, 401);
    const afterRevoke = await refresh(upstream, client.client_id, tokens.refresh_token);
    assert.equal((await afterRevoke.json()).error, "invalid_grant");

    const unknown = await postForm(`${upstream.origin}/revoke`, { token: "never-issued", client_id: client.client_id });
    assert.equal(unknown.status, 200);
    assert.equal(upstream.stats().revocations.at(-1)?.tokenType, null);

    const second = await obtainTokens(upstream);
    upstream.revokeAllRefreshTokens();
    const spent = await refresh(upstream, second.client.client_id, second.tokens.refresh_token);
    assert.equal((await spent.json()).error, "invalid_grant");
  });

  it("works with the v2 SDK's own OAuth: discovery from the 401, DCR, PKCE, resource and refresh on 401", async () => {
    /** @type {URL[]} */
    const callbacks = [];
    const provider = new MemoryOAuthProvider({
      redirectUrl: REDIRECT_URI,
      clientName: "sdk oauth",
      onRedirect: async (url) => {
        const res = await fetchWithTimeout(url, { redirect: "manual" });
        callbacks.push(new URL(res.headers.get("Location") ?? ""));
      },
    });
    const connect = async () => {
      const transport = new StreamableHTTPClientTransport(new URL(upstream.mcpUrl), { authProvider: provider });
      const client = newClient();
      await client.connect(transport);
      return { client, transport };
    };
    const first = newClient();
    const firstTransport = new StreamableHTTPClientTransport(new URL(upstream.mcpUrl), { authProvider: provider });
    await assert.rejects(first.connect(firstTransport), (error) => error instanceof UnauthorizedError);
    await first.close().catch(() => {});
    const callback = callbacks[0];
    assert.equal(callback.searchParams.get("iss"), upstream.origin);
    assert.equal(provider.authorizationUrls[0].searchParams.get("resource"), upstream.mcpUrl);
    await firstTransport.finishAuth(callback.searchParams);

    const { client } = await connect();
    try {
      const before = upstream.stats().toolCalls.length;
      await client.callTool({ name: "whoami", arguments: {} });
      upstream.expireAllAccessTokens();
      await client.callTool({ name: "whoami", arguments: {} });
      const calls = upstream.stats().toolCalls.slice(before);
      assert.equal(calls.length, 2);
      assert.equal(calls[1].tokenGeneration, (calls[0].tokenGeneration ?? 0) + 1, "the SDK refreshed on the 401");
      assert.equal(provider.tokenHistory.length, 2);
    } finally {
      await client.close().catch(() => {});
    }
  });
});

describe("upstream-mcp fixture without auth", { timeout: 15_000 }, () => {
  it("serves the same tools with no token and no OAuth routes", async () => {
    const upstream = await startUpstreamMcp({ requireAuth: false, toolDelayMs: 50 });
    const client = newClient();
    try {
      const res = await fetchWithTimeout(`${upstream.origin}/.well-known/oauth-protected-resource/mcp`);
      assert.equal(res.status, 404);
      await client.connect(new StreamableHTTPClientTransport(new URL(upstream.mcpUrl)));
      const started = Date.now();
      const result = await client.callTool({ name: "search_issues", arguments: { query: "csv" } });
      assert.ok(Date.now() - started >= 45, "toolDelayMs delays the answer");
      assert.match(result.content[0].text, /ISS-2/);
      const [call] = upstream.stats().toolCalls;
      assert.equal(call.authorization, null);
      assert.equal(call.tokenGeneration, null);
    } finally {
      await client.close().catch(() => {});
      await upstream.close();
    }
  });
});

describe("legacy-sse-mcp fixture", { timeout: 15_000 }, () => {
  /** @type {import("./lib/legacy-sse-mcp.mjs").LegacySseMcp} */
  let legacy;
  before(async () => {
    legacy = await startLegacySseMcp();
  });
  after(async () => {
    await legacy?.close();
  });

  it("answers POST /sse with 405 and Allow: GET", async () => {
    const res = await postJson(legacy.sseUrl, INITIALIZE);
    assert.equal(res.status, 405);
    assert.equal(res.headers.get("Allow"), "GET");
    assert.equal(legacy.stats().postsRejected, 1);
  });

  it("serves the v1 SDK SSE client and counts its stream until it closes", async () => {
    const client = new ClientV1({ name: "legacy-test", version: "1.0.0" });
    await client.connect(new SSEClientTransport(new URL(legacy.sseUrl)));
    try {
      assert.equal(legacy.stats().openStreams, 1);
      const { tools } = await client.listTools();
      assert.deepEqual(
        tools.map((tool) => [tool.name, tool.annotations ?? null]),
        [
          ["legacy_echo", { readOnlyHint: true }],
          ["legacy_write", null],
        ],
      );
      const echoed = await client.callTool({ name: "legacy_echo", arguments: { text: "hi" } });
      assert.equal(echoed.content[0].text, "echo: hi");
      await client.callTool({ name: "legacy_write", arguments: { text: "abc" } });
      const { toolCalls, connectionsOpened } = legacy.stats();
      assert.equal(connectionsOpened, 1);
      assert.deepEqual(
        toolCalls.map((call) => [call.name, call.args]),
        [
          ["legacy_echo", { text: "hi" }],
          ["legacy_write", { text: "abc" }],
        ],
      );
      assert.ok(toolCalls[0].sessionId);
    } finally {
      await client.close();
    }
    await withTimeout(
      (async () => {
        while (legacy.stats().openStreams > 0) await sleep(10);
      })(),
      2000,
      "the SSE stream to close",
    );
  });
});
