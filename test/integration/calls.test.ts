/**
 * call_integration_api through the Worker, with fake provider APIs at the fetch boundary:
 * docs/threat-model.md sections D (grants and classification), E (SSRF) and F (vault), each
 * asserting the error code AND exactly what was (or was not) sent upstream.
 */
import { env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { csrfToken } from "../../src/approvals/link";
import { prepareCall } from "../../src/calls/prepare";
import { loadConfig } from "../../src/config";
import { fingerprintCall } from "../../src/grants/canonical";
import type { ClassifiedCall } from "../../src/grants/types";
import { MAX_CALLS_IN_FLIGHT } from "../../src/providers/access";
import { sessionFor, UserSession } from "../../src/session/user-session";
import { vaultKey } from "../../src/vault/store";
import { FakeIdp } from "../helpers/fake-idp";
import { resetFetchRoutes, seen, seenAt } from "../helpers/fetch-router";
import { decideOnPage, tool } from "../helpers/grants";
import { signedInClient } from "../helpers/oauth";
import {
  CANARY,
  callApi,
  connectApiKey,
  connectionsCsrf,
  connectOAuth,
  fakeApi,
  fakeTokenEndpoint,
  grantAccess,
} from "../helpers/providers";

const GH = "https://api.github.com";

async function activityCsrf(userId: string) {
  const config = loadConfig(env);
  if (!config.ok) throw new Error("config");
  return csrfToken(config.value, userId, "activity");
}
let idp: FakeIdp;
let logs: string[];

beforeEach(async () => {
  resetFetchRoutes();
  logs = [];
  for (const method of ["log", "warn", "error"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => logs.push(args.map(String).join(" ")));
  }
  idp = await FakeIdp.create();
  idp.install();
});
afterEach(() => {
  expect(logs.join("\n")).not.toContain(CANARY);
});

/** A person with GitHub connected (OAuth, token = CANARY) and a fake GitHub API. */
async function withGithub() {
  const client = await signedInClient(idp, `calls-${crypto.randomUUID()}`);
  const whoami = (await tool(client.tokens.access_token, "whoami")).structured;
  const userId = whoami?.user.id as string;
  fakeTokenEndpoint("https://github.com");
  fakeApi(GH, (request) =>
    new URL(request.url).pathname === "/redirect"
      ? new Response(null, { status: 302, headers: { Location: "https://evil.test/steal", "Set-Cookie": "a=b" } })
      : Response.json(
          { login: "ada", path: new URL(request.url).pathname },
          { headers: { "Set-Cookie": "session=x" } },
        ),
  );
  await connectOAuth(client.browser, userId, "github");
  return { ...client, userId, token: client.tokens.access_token, connectionId: whoami?.client.connection_id as string };
}

describe("call_integration_api without access", () => {
  it("returns not_connected with a connect link when the provider is not connected", async () => {
    const client = await signedInClient(idp, `nc-${crypto.randomUUID()}`);
    fakeApi(GH);
    const result = await callApi(client.tokens.access_token, { method: "GET", url: `${GH}/user` });
    expect(result.error?.code).toBe("not_connected");
    expect(JSON.parse(result.text as string).error.connect_url).toBe(
      "https://countersign.test/connections?provider=github",
    );
    expect(seenAt(GH)).toEqual([]);
    const userId = (await tool(client.tokens.access_token, "whoami")).structured?.user.id as string;
    const audit = await runInDurableObject(sessionFor(env.SESSION, userId), (_instance: UserSession, state) =>
      state.storage.sql.exec<{ event: string; detail: string }>("SELECT event, detail FROM audit").toArray(),
    );
    expect(audit).toEqual([{ event: "call_denied", detail: expect.stringContaining('"reason":"not_connected"') }]);
  });

  it("returns access_required with the exact request_elevated_access arguments", async () => {
    const { token } = await withGithub();
    const read = await callApi(token, { method: "GET", url: `${GH}/user` });
    expect(read.error?.code).toBe("access_required");
    expect(JSON.parse(read.text as string).error.request_elevated_access).toMatchObject({
      kind: "broad",
      level: "read",
      providers: ["github"],
    });
    const write = await callApi(token, { method: "POST", url: `${GH}/repos/a/b/issues`, body: '{"title":"x"}' });
    const suggested = JSON.parse(write.text as string).error.request_elevated_access;
    expect(suggested).toMatchObject({
      kind: "call",
      method: "POST",
      url: `${GH}/repos/a/b/issues`,
      body: '{"title":"x"}',
    });
    // Asking with exactly those arguments, then approving, makes the call work once.
    const asked = await tool(token, "request_elevated_access", { ...suggested, reason: "file the bug" });
    expect(asked.structured?.request_id).toBeTruthy();
    expect(seenAt(GH)).toEqual([]);
  });
});

describe("call_integration_api under a read grant", () => {
  it("sends a read with the person's token injected, and shapes the response safely", async () => {
    const person = await withGithub();
    const grantId = await grantAccess(person.token, person.browser, ["github"], "read");
    const result = await callApi(person.token, { method: "GET", url: `${GH}/user`, headers: { "X-Trace": "1" } });
    expect(result.structured).toMatchObject({ status: 200, provider: "github", access: "read", grant_id: grantId });
    expect(result.structured?.body).toEqual({ login: "ada", path: "/user" });
    expect(result.structured?.headers["set-cookie"]).toBeUndefined();
    const sent = seenAt(GH);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.headers.authorization).toBe(`Bearer ${CANARY}`);
    expect(sent[0]?.headers["x-trace"]).toBe("1");
    expect(JSON.stringify(result)).not.toContain(CANARY);
  });

  const writes: [string, Record<string, unknown>][] = [
    ["post", { method: "post", url: `${GH}/repos/a/b/issues`, body: "{}" }],
    ["pAtCh", { method: "pAtCh", url: `${GH}/repos/a/b/issues/1`, body: "{}" }],
    ["DELETE with a trailing space", { method: "DELETE ", url: `${GH}/repos/a/b` }],
    [
      "X-HTTP-Method-Override",
      { method: "GET", url: `${GH}/repos/a/b`, headers: { "X-HTTP-Method-Override": "DELETE" } },
    ],
    ["X-HTTP-Method", { method: "GET", url: `${GH}/repos/a/b`, headers: { "X-HTTP-Method": "DELETE" } }],
    ["X-Method-Override", { method: "GET", url: `${GH}/repos/a/b`, headers: { "X-Method-Override": "PUT" } }],
    ["_method in the query", { method: "GET", url: `${GH}/repos/a/b?_method=DELETE` }],
    ["_method in a JSON body", { method: "POST", url: `${GH}/markdown`, body: '{"_method":"DELETE","text":"x"}' }],
    [
      "a GraphQL mutation",
      { method: "POST", url: `${GH}/graphql`, body: '{"query":"mutation { deleteRepo(id: 1) }"}' },
    ],
    [
      "a batched GraphQL array hiding a mutation",
      { method: "POST", url: `${GH}/graphql`, body: '[{"query":"{ viewer { login } }"},{"query":"mutation { x }"}]' },
    ],
    ["a GraphQL parse error", { method: "POST", url: `${GH}/graphql`, body: '{"query":"{ viewer { "}' }],
    ["a persisted query id without a query", { method: "POST", url: `${GH}/graphql`, body: '{"id":"abc123"}' }],
    [
      "a GraphQL mutation in a GET ?query=",
      { method: "GET", url: `${GH}/graphql?query=${encodeURIComponent("mutation { x }")}` },
    ],
  ];
  for (const [label, args] of writes) {
    it(`treats ${label} as a write: access_required, nothing sent`, async () => {
      const person = await withGithub();
      await grantAccess(person.token, person.browser, ["github"], "read");
      const result = await callApi(person.token, args);
      expect(result.error?.code).toBe("access_required");
      expect(JSON.parse(result.text as string).error.reason).toBe("read_only");
      expect(seenAt(GH)).toEqual([]);
    });
  }

  it("allows a GraphQL query and a read-only POST under a read grant", async () => {
    const person = await withGithub();
    await grantAccess(person.token, person.browser, ["github"], "read");
    const query = await callApi(person.token, {
      method: "POST",
      url: `${GH}/graphql`,
      body: '{"query":"{ viewer { login } }"}',
    });
    expect(query.structured?.access).toBe("read");
    const markdown = await callApi(person.token, { method: "POST", url: `${GH}/markdown`, body: '{"text":"# hi"}' });
    expect(markdown.structured?.access).toBe("read");
    expect(seenAt(GH)).toHaveLength(2);
  });

  const rejected: [string, Record<string, unknown>, string][] = [
    ["PROPFIND", { method: "PROPFIND", url: `${GH}/user` }, "invalid_request"],
    ["TRACE", { method: "TRACE", url: `${GH}/user` }, "invalid_request"],
    ["CONNECT", { method: "CONNECT", url: `${GH}/user` }, "invalid_request"],
    ["a GET with a body", { method: "GET", url: `${GH}/user`, body: "x" }, "invalid_request"],
    ["a HEAD with a body", { method: "HEAD", url: `${GH}/user`, body: "x" }, "invalid_request"],
    [
      "an Authorization header",
      { method: "GET", url: `${GH}/user`, headers: { Authorization: "Bearer mine" } },
      "invalid_request",
    ],
    ["a Cookie header", { method: "GET", url: `${GH}/user`, headers: { Cookie: "a=b" } }, "invalid_request"],
    ["a Host header", { method: "GET", url: `${GH}/user`, headers: { Host: "evil.test" } }, "invalid_request"],
    ["userinfo", { method: "GET", url: "https://api.github.com@evil.test/user" }, "invalid_request"],
    ["userinfo naming the provider", { method: "GET", url: "https://user:pw@api.github.com/user" }, "invalid_request"],
    ["a fragment", { method: "GET", url: `${GH}/user#x` }, "invalid_request"],
    ["a trailing dot", { method: "GET", url: "https://api.github.com./user" }, "invalid_request"],
    ["an explicit port", { method: "GET", url: "https://api.github.com:8443/user" }, "invalid_request"],
    ["plain http", { method: "GET", url: "http://api.github.com/user" }, "invalid_request"],
    ["a look-alike host", { method: "GET", url: "https://api.github.com.evil.test/user" }, "unknown_provider"],
  ];
  for (const [label, args, code] of rejected) {
    it(`refuses ${label} with ${code} before anything is sent`, async () => {
      const person = await withGithub();
      await grantAccess(person.token, person.browser, ["github"], "write");
      const result = await callApi(person.token, args);
      expect(result.error?.code).toBe(code);
      expect(seenAt(GH)).toEqual([]);
      expect(seenAt("https://evil.test")).toEqual([]);
    });
  }

  it.each([
    ["upper case", "https://API.GITHUB.COM/user", `${GH}/user`],
    ["a default port", "https://api.github.com:443/user", `${GH}/user`],
    ["dot segments", "https://api.github.com/a/../user", `${GH}/user`],
    ["a percent-encoded host", "https://api%2Egithub%2Ecom/user", `${GH}/user`],
  ])("normalises %s and fetches exactly the parsed URL", async (_label, url, fetched) => {
    const person = await withGithub();
    await grantAccess(person.token, person.browser, ["github"], "read");
    const result = await callApi(person.token, { method: "GET", url });
    expect(result.structured?.status).toBe(200);
    expect(seenAt(GH).map((request) => request.url)).toEqual([fetched]);
  });

  it("does not follow a redirect: the 3xx comes back as it was", async () => {
    const person = await withGithub();
    await grantAccess(person.token, person.browser, ["github"], "read");
    const result = await callApi(person.token, { method: "GET", url: `${GH}/redirect` });
    expect(result.structured?.status).toBe(302);
    expect(result.structured?.headers.location).toBe("https://evil.test/steal");
    expect(seenAt("https://evil.test")).toEqual([]);
    expect(seenAt(GH)).toHaveLength(1);
  });
});

describe("provider boundaries", () => {
  it("has no demo provider or demo API outside dev mode", async () => {
    const client = await signedInClient(idp, `nodemo-${crypto.randomUUID()}`);
    const list = await tool(client.tokens.access_token, "list_integrations");
    const ids = list.structured?.integrations.map((item: { id: string }) => item.id);
    expect(ids).toEqual(["linear", "github", "notion", "slack", "google", "atlassian", "sentry", "snowflake"]);
    expect((await client.browser.get("/demo-api/notes")).status).toBe(404);
  });

  it("lists integrations from one round trip to the person's object: links, live grants and servers together", async () => {
    const person = await withGithub();
    await grantAccess(person.token, person.browser, ["github"], "read");
    // (`authority`, the third of the old calls, is no RPC any more.)
    const spies = (["integrations", "providerLinks", "upstreamServers"] as const).map((name) =>
      vi.spyOn(UserSession.prototype, name),
    );
    const list = await tool(person.token, "list_integrations");
    const github = list.structured?.integrations.find((item: { id: string }) => item.id === "github");
    expect(github).toMatchObject({ status: "connected", allowed: "read" });
    expect(list.structured?.mcp_servers).toEqual([]);
    expect(spies.map((spy) => spy.mock.calls.length)).toEqual([1, 0, 0]);
    for (const spy of spies) spy.mockRestore();
  });

  it("refuses a provider's own credential header from the agent", async () => {
    const person = await withGithub();
    await connectApiKey(person.browser, person.userId, "sentry", "SENTRY-KEY-1234567890");
    await grantAccess(person.token, person.browser, ["sentry"], "read");
    fakeApi("https://sentry.io");
    const result = await callApi(person.token, {
      method: "GET",
      url: "https://sentry.io/api/0/projects/",
      headers: { Authorization: "Bearer attacker" },
    });
    expect(result.error?.code).toBe("invalid_request");
    expect(seenAt("https://sentry.io")).toEqual([]);
  });

  it("never uses provider A's grant or token for provider B's host", async () => {
    const person = await withGithub();
    await connectApiKey(person.browser, person.userId, "sentry", "SENTRY-KEY-1234567890");
    fakeApi("https://sentry.io");
    await grantAccess(person.token, person.browser, ["github"], "write");
    const result = await callApi(person.token, { method: "GET", url: "https://sentry.io/api/0/projects/" });
    expect(result.error?.code).toBe("access_required");
    expect(JSON.parse(result.text as string).error.reason).toBe("wrong_provider");
    expect(seenAt("https://sentry.io")).toEqual([]);
    await grantAccess(person.token, person.browser, ["sentry"], "read");
    const allowed = await callApi(person.token, { method: "GET", url: "https://sentry.io/api/0/projects/" });
    expect(allowed.structured?.status).toBe(200);
    const sent = seenAt("https://sentry.io");
    expect(sent).toHaveLength(1);
    expect(sent[0]?.headers.authorization).toBe("Bearer SENTRY-KEY-1234567890");
    expect(JSON.stringify(sent)).not.toContain(CANARY);
  });

  it("sends a per-account provider's token only to the account host the person connected", async () => {
    const client = await signedInClient(idp, `snow-${crypto.randomUUID()}`);
    const userId = (await tool(client.tokens.access_token, "whoami")).structured?.user.id as string;
    const csrf = await connectionsCsrf(userId);
    const missing = await client.browser.post("/connections/snowflake/api-key", { csrf, api_key: CANARY });
    expect(missing.status).toBe(400);
    const elsewhere = await client.browser.post("/connections/snowflake/api-key", {
      csrf,
      api_key: CANARY,
      account_host: "evil.example",
    });
    expect(elsewhere.status).toBe(400);
    const saved = await client.browser.post("/connections/snowflake/api-key", {
      csrf,
      api_key: CANARY,
      account_host: "Acme1.us-east-1.snowflakecomputing.com",
    });
    expect(saved.status).toBe(303);
    const mine = "https://acme1.us-east-1.snowflakecomputing.com";
    const theirs = "https://victim2.us-east-1.snowflakecomputing.com";
    fakeApi(mine);
    fakeApi(theirs);
    await grantAccess(client.tokens.access_token, client.browser, ["snowflake"], "read");
    const other = await callApi(client.tokens.access_token, { method: "GET", url: `${theirs}/api/v2/statements/h1` });
    expect(other.error?.code).toBe("invalid_request");
    expect(JSON.parse(other.text as string).error.reason).toBe("wrong_account");
    expect(seenAt(theirs)).toEqual([]);
    // Its own credential header, spelled as a CGI-style server would fold it into the real one.
    const spoofed = await callApi(client.tokens.access_token, {
      method: "GET",
      url: `${mine}/api/v2/statements/h1`,
      headers: { X_Snowflake_Authorization_Token_Type: "PROGRAMMATIC_ACCESS_TOKEN" },
    });
    expect(spoofed.error?.code).toBe("invalid_request");
    expect(JSON.parse(spoofed.text as string).error.reason).toBe("header_forbidden");
    expect(seenAt(mine)).toEqual([]);
    const own = await callApi(client.tokens.access_token, { method: "GET", url: `${mine}/api/v2/statements/h1` });
    expect(own.structured?.status).toBe(200);
    expect(seenAt(mine)[0]?.headers.authorization).toBe(`Bearer ${CANARY}`);
  });

  it("classifies Slack RPC by method name, not by HTTP verb", async () => {
    const client = await signedInClient(idp, `slack-${crypto.randomUUID()}`);
    const userId = (await tool(client.tokens.access_token, "whoami")).structured?.user.id as string;
    await runInDurableObject(sessionFor(env.SESSION, userId), (instance: UserSession) =>
      instance.connectProvider("slack", { kind: "oauth2", accessToken: CANARY, obtainedAt: Date.now() }),
    );
    fakeApi("https://slack.com");
    await grantAccess(client.tokens.access_token, client.browser, ["slack"], "read");
    const post = await callApi(client.tokens.access_token, {
      method: "GET",
      url: "https://slack.com/api/chat.postMessage?channel=C1&text=hi",
    });
    expect(post.error?.code).toBe("access_required");
    const history = await callApi(client.tokens.access_token, {
      method: "POST",
      url: "https://slack.com/api/conversations.history",
      body: "channel=C1",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    expect(history.structured?.access).toBe("read");
    expect(seenAt("https://slack.com")).toHaveLength(1);
  });
});

describe("one-call approvals", () => {
  async function approvedCall(person: Awaited<ReturnType<typeof withGithub>>) {
    const call = {
      kind: "call",
      method: "POST",
      url: `${GH}/repos/a/b/issues`,
      body: '{"title":"Bug"}',
      reason: "file it",
    };
    const asked = await tool(person.token, "request_elevated_access", call);
    await decideOnPage(person.browser, asked.structured?.approval_url, "approve");
    return { requestId: asked.structured?.request_id as string, call };
  }

  it("allows exactly that call once, and never again", async () => {
    const person = await withGithub();
    const { requestId, call } = await approvedCall(person);
    const first = await callApi(person.token, {
      method: call.method,
      url: call.url,
      body: call.body,
      request_id: requestId,
    });
    expect(first.structured?.status).toBe(200);
    const second = await callApi(person.token, {
      method: call.method,
      url: call.url,
      body: call.body,
      request_id: requestId,
    });
    expect(second.error?.code).toBe("expired");
    const implicit = await callApi(person.token, { method: call.method, url: call.url, body: call.body });
    expect(implicit.error?.code).toBe("access_required");
    expect(seenAt(GH)).toHaveLength(1);
  });

  it.each([
    ["a changed body", { body: '{"title":"Other"}' }],
    ["a changed URL", { url: `${GH}/repos/a/c/issues` }],
    ["an added query", { url: `${GH}/repos/a/b/issues?x=1` }],
    ["a changed method", { method: "PUT" }],
    ["an added header", { headers: { "X-Extra": "1" } }],
  ])("refuses %s and sends nothing", async (_label, change) => {
    const person = await withGithub();
    const { requestId, call } = await approvedCall(person);
    const result = await callApi(person.token, {
      method: call.method,
      url: call.url,
      body: call.body,
      request_id: requestId,
      ...change,
    });
    expect(result.error?.code).toBe("access_required");
    expect(JSON.parse(result.text as string).error.reason).toBe("call_mismatch");
    expect(seenAt(GH)).toEqual([]);
  });

  it("refuses use from another connection of the same person", async () => {
    const person = await withGithub();
    const { requestId, call } = await approvedCall(person);
    const sameUser = await signedInClient(idp, (await tool(person.token, "whoami")).structured?.user.subject);
    const result = await callApi(sameUser.tokens.access_token, {
      method: call.method,
      url: call.url,
      body: call.body,
      request_id: requestId,
    });
    expect(result.error?.code).toBe("access_required");
    expect(seenAt(GH)).toEqual([]);
  });

  it("lets exactly one of twenty parallel uses through", async () => {
    const person = await withGithub();
    const { requestId, call } = await approvedCall(person);
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        callApi(person.token, { method: call.method, url: call.url, body: call.body, request_id: requestId }),
      ),
    );
    expect(results.filter((result) => result.structured?.status === 200)).toHaveLength(1);
    expect(seenAt(GH)).toHaveLength(1);
  });
});

describe("SSRF", () => {
  it.each([
    ["https://169.254.169.254/latest/meta-data/"],
    ["https://metadata.google.internal/computeMetadata/v1/"],
    ["https://[::1]/"],
    ["https://[::ffff:127.0.0.1]/"],
    ["https://0.0.0.0/"],
    ["https://127.0.0.1/"],
    ["https://2130706433/"],
    ["https://0x7f.1/"],
    ["https://10.0.0.5/"],
    ["https://192.168.1.1/"],
    ["https://localhost/"],
    ["https://internal/"],
  ])("refuses %s before any fetch", async (url) => {
    const person = await withGithub();
    await grantAccess(person.token, person.browser, ["github"], "write");
    const result = await callApi(person.token, { method: "GET", url });
    expect(result.error?.code).toBe("invalid_request");
    expect(JSON.parse(result.text as string).error.reason).toBe("address_not_allowed");
    expect(seenAt(GH)).toEqual([]);
  });

  it.each([
    ["file:///etc/passwd"],
    ["data:text/plain,hi"],
    ["blob:https://api.github.com/x"],
    ["ftp://api.github.com/"],
    ["ws://api.github.com/"],
  ])("refuses the scheme of %s", async (url) => {
    const person = await withGithub();
    const result = await callApi(person.token, { method: "GET", url });
    expect(result.error?.code).toBe("invalid_request");
    expect(JSON.parse(result.text as string).error.reason).toBe("scheme_not_https");
    expect(seenAt(GH)).toEqual([]);
  });

  it("caps a huge response with a truncation marker", async () => {
    const person = await withGithub();
    await grantAccess(person.token, person.browser, ["github"], "read");
    fakeApi(GH, () => {
      const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
      let sent = 0;
      return new Response(
        new ReadableStream({
          pull(controller) {
            if (sent++ >= 64) controller.close();
            else controller.enqueue(chunk);
          },
        }),
        { headers: { "Content-Type": "application/json" } },
      );
    });
    const result = await callApi(person.token, { method: "GET", url: `${GH}/user` });
    expect(result.structured?.truncated).toBe(true);
    expect(String(result.structured?.body)).toContain("[countersign: response truncated at 1 MiB]");
    expect(String(result.structured?.body).length).toBeLessThan(1024 * 1024 + 100);
  });
});

/** A person with Google connected directly in their Durable Object, and a fake token endpoint. */
async function withGoogle(label: string, refreshToken: string, options: { expired: boolean }) {
  const client = await signedInClient(idp, `${label}-${crypto.randomUUID()}`);
  const userId = (await tool(client.tokens.access_token, "whoami")).structured?.user.id as string;
  const tokens = fakeTokenEndpoint("https://oauth2.googleapis.com");
  const now = Date.now();
  await runInDurableObject(sessionFor(env.SESSION, userId), (instance: UserSession) =>
    instance.connectProvider("google", {
      kind: "oauth2",
      accessToken: CANARY,
      refreshToken,
      ...(options.expired ? { expiresAt: now - 1000, obtainedAt: now - 3_600_000 } : { obtainedAt: now }),
    }),
  );
  return { client, userId, tokens };
}

describe("vault through calls", () => {
  it("answers a tampered vault record with reauth_required, never a 500 or ciphertext", async () => {
    const person = await withGithub();
    await grantAccess(person.token, person.browser, ["github"], "read");
    const key = vaultKey(person.userId, "github");
    const stored = JSON.parse((await env.VAULT_KV.get(key)) as string) as { ct: string };
    const flipped = stored.ct.startsWith("A") ? `B${stored.ct.slice(1)}` : `A${stored.ct.slice(1)}`;
    await env.VAULT_KV.put(key, JSON.stringify({ ...stored, ct: flipped }));
    // Evict the object so its in-memory copy is gone and the next call reads KV.
    await evictDurableObject(sessionFor(env.SESSION, person.userId));
    const result = await callApi(person.token, { method: "GET", url: `${GH}/user` });
    expect(result.error?.code).toBe("reauth_required");
    expect(result.text).not.toContain(flipped.slice(0, 20));
    expect(JSON.parse(result.text as string).error.reconnect_url).toContain("/connections?provider=github");
    expect(seenAt(GH)).toEqual([]);
  });

  it("does not decrypt a record copied from another user", async () => {
    const ada = await withGithub();
    const bob = await signedInClient(idp, `bob-${crypto.randomUUID()}`);
    const bobId = (await tool(bob.tokens.access_token, "whoami")).structured?.user.id as string;
    await runInDurableObject(sessionFor(env.SESSION, bobId), (instance: UserSession) =>
      instance.connectProvider("github", { kind: "oauth2", accessToken: "BOB-TOKEN", obtainedAt: 1 }),
    );
    await env.VAULT_KV.put(
      vaultKey(bobId, "github"),
      (await env.VAULT_KV.get(vaultKey(ada.userId, "github"))) as string,
    );
    await evictDurableObject(sessionFor(env.SESSION, bobId));
    await grantAccess(bob.tokens.access_token, bob.browser, ["github"], "read");
    const result = await callApi(bob.tokens.access_token, { method: "GET", url: `${GH}/user` });
    expect(result.error?.code).toBe("reauth_required");
    expect(seenAt(GH)).toEqual([]);
  });

  it("refreshes an expired token exactly once for 50 parallel calls", async () => {
    const { client, tokens } = await withGoogle("refresh", "google-refresh", { expired: true });
    fakeApi("https://www.googleapis.com");
    await grantAccess(client.tokens.access_token, client.browser, ["google"], "read");
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        callApi(client.tokens.access_token, {
          method: "GET",
          url: "https://www.googleapis.com/calendar/v3/users/me/calendarList",
        }),
      ),
    );
    expect(results.filter((result) => result.structured?.status === 200)).toHaveLength(50);
    expect(tokens.counts.refresh).toBe(1);
    const sent = seenAt("https://www.googleapis.com");
    expect(sent).toHaveLength(50);
    expect(new Set(sent.map((request) => request.headers.authorization))).toEqual(
      new Set([`Bearer ${CANARY}-refreshed-1`]),
    );
  });

  it("marks the connection reauth_required on invalid_grant and does not retry", async () => {
    const { client, tokens } = await withGoogle("dead", "revoked-refresh", { expired: true });
    tokens.refreshWill("invalid_grant");
    fakeApi("https://www.googleapis.com");
    await grantAccess(client.tokens.access_token, client.browser, ["google"], "read");
    const call = () =>
      callApi(client.tokens.access_token, { method: "GET", url: "https://www.googleapis.com/drive/v3/files" });
    expect((await call()).error?.code).toBe("reauth_required");
    expect((await call()).error?.code).toBe("reauth_required");
    expect(tokens.counts.refresh).toBe(1);
    expect(seenAt("https://www.googleapis.com")).toEqual([]);
    const list = await tool(client.tokens.access_token, "list_integrations");
    expect(list.structured?.integrations.find((item: { id: string }) => item.id === "google").status).toBe(
      "reauth_required",
    );
  });

  it("disconnects: record deleted, provider revocation called, grants for it dropped", async () => {
    const { client, userId, tokens } = await withGoogle("disc", "r", { expired: false });
    const grantId = await grantAccess(client.tokens.access_token, client.browser, ["google"], "read");
    const response = await client.browser.post("/connections/google/disconnect", {
      csrf: await connectionsCsrf(userId),
      confirm: "yes",
    });
    expect(response.status).toBe(303);
    expect(tokens.counts.revoke).toBe(1);
    expect(await env.VAULT_KV.get(vaultKey(userId, "google"))).toBeNull();
    const status = await tool(client.tokens.access_token, "check_access_request", { request_id: grantId });
    expect(status.structured?.status).toBe("revoked");
    const result = await callApi(client.tokens.access_token, {
      method: "GET",
      url: "https://www.googleapis.com/drive/v3/files",
    });
    expect(result.error?.code).toBe("not_connected");
  });
});

describe("account deletion and the connect callback", () => {
  it("revokes provider tokens upstream and deletes the vault records when the person deletes everything", async () => {
    const { client, userId, tokens } = await withGoogle("gone", "r", { expired: false });
    const csrf = await activityCsrf(userId);
    const deleted = await client.browser.post("/activity/delete", { csrf, confirm: "yes" });
    expect(deleted.status).toBe(200);
    expect(tokens.counts.revoke).toBe(1);
    expect(await env.VAULT_KV.get(vaultKey(userId, "google"))).toBeNull();
  });

  it("sends a signed-out callback to sign in and keeps the browser binding", async () => {
    const person = await withGithub();
    const start = await person.browser.post("/connections/github/connect", {
      csrf: await connectionsCsrf(person.userId),
    });
    const state = new URL(start.headers.get("Location") as string).searchParams.get("state") as string;
    person.browser.cookies.delete("__Host-cs_session");
    const callback = await person.browser.get(`/connections/callback?${new URLSearchParams({ code: "c", state })}`);
    expect(callback.status).toBe(302);
    expect(new URL(callback.headers.get("Location") as string, "https://countersign.test").pathname).toBe("/signin");
    expect(person.browser.cookies.has("__Host-cs_connect")).toBe(true);
  });

  it.each([
    ["no state", ""],
    ["a forged state", "?state=forged&code=c"],
  ])("refuses a callback with %s and stores nothing", async (_label, query) => {
    const person = await withGithub();
    const before = (await env.VAULT_KV.list()).keys.length;
    const response = await person.browser.get(`/connections/callback${query}`);
    expect(response.status).toBe(400);
    expect((await env.VAULT_KV.list()).keys.length).toBe(before);
  });

  it("refuses a callback finished by another signed-in person", async () => {
    const ada = await withGithub();
    const start = await ada.browser.post("/connections/github/connect", { csrf: await connectionsCsrf(ada.userId) });
    const state = new URL(start.headers.get("Location") as string).searchParams.get("state") as string;
    const mallory = await signedInClient(idp, `mallory-${crypto.randomUUID()}`);
    mallory.browser.cookies.set("__Host-cs_connect", ada.browser.cookies.get("__Host-cs_connect") as string);
    const response = await mallory.browser.get(`/connections/callback?${new URLSearchParams({ code: "c", state })}`);
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("wrong_user");
  });
});

describe("canary token", () => {
  it("never appears in tool output, pages, the audit log or the export", async () => {
    const person = await withGithub();
    const grantId = await grantAccess(person.token, person.browser, ["github"], "read");
    const call = await callApi(person.token, { method: "GET", url: `${GH}/user` });
    // The claim needs the token in play: the call ran with it and the provider answered.
    expect(call.error).toBeUndefined();
    expect(call.structured).toMatchObject({ status: 200, provider: "github", grant_id: grantId });
    expect(seenAt(GH).map((request) => request.headers.authorization)).toEqual([`Bearer ${CANARY}`]);
    const outputs = [
      call,
      await tool(person.token, "list_integrations"),
      await tool(person.token, "whoami"),
      await tool(person.token, "check_access_request", { request_id: grantId }),
    ];
    const pages = await Promise.all(
      ["/activity", "/activity/export.json", "/connections"].map(async (path) =>
        (await person.browser.get(path)).text(),
      ),
    );
    const audit = await runInDurableObject(sessionFor(env.SESSION, person.userId), (_instance: UserSession, state) =>
      JSON.stringify(state.storage.sql.exec("SELECT * FROM audit").toArray()),
    );
    for (const text of [JSON.stringify(outputs), ...pages, audit]) expect(text).not.toContain(CANARY);
    expect(await env.VAULT_KV.get(vaultKey(person.userId, "github"))).not.toContain(CANARY);
  });

  it("stays in the object: callProvider answers the Worker without it, after sending exactly the decided call", async () => {
    const person = await withGithub();
    const grantId = await grantAccess(person.token, person.browser, ["github"], "read");
    const input = { method: "get", url: `${GH}/user?b=2&a=1`, headers: { "X-Trace": "1" } };
    const config = loadConfig(env);
    if (!config.ok) throw new Error("config");
    const prepared = await prepareCall(input, config.value.registry);
    if (!prepared.ok) throw new Error(`prepareCall: ${prepared.error.code}`);
    const answer = await sessionFor(env.SESSION, person.userId).callProvider(
      prepared.value.classified,
      person.connectionId,
    );
    expect(answer).toMatchObject({ ok: true, grantId, sent: { ok: true, value: { status: 200 } } });
    expect(JSON.stringify(answer)).not.toContain(CANARY);
    // The body crosses the RPC as its bytes; the Worker decodes it (no decoded copy in the object).
    if (!answer.ok || !answer.sent.ok) throw new Error("not sent");
    expect(answer.sent.value.raw).toBeInstanceOf(Uint8Array);
    expect(JSON.parse(new TextDecoder().decode(answer.sent.value.raw))).toMatchObject({ login: "ada" });
    const sent = seenAt(GH).map((request) => [request.method, request.url, request.headers.authorization]);
    expect(sent).toEqual([["GET", prepared.value.canonical.url, `Bearer ${CANARY}`]]);
    expect(seenAt(GH)[0]?.headers["x-trace"]).toBe("1");
    const audit = await runInDurableObject(sessionFor(env.SESSION, person.userId), (_instance: UserSession, state) =>
      state.storage.sql
        .exec<{ event: string; detail: string }>(
          "SELECT event, detail FROM audit WHERE event LIKE 'call_%' ORDER BY seq",
        )
        .toArray(),
    );
    expect(audit.map((entry) => entry.event)).toEqual(["call_allowed", "call_completed"]);
    expect(JSON.parse(audit[1]?.detail ?? "{}")).toMatchObject({ outcome: "sent", status: 200 });
  });
});

describe("callProvider: what the object checks itself", () => {
  const auditOf = (person: { userId: string }) =>
    runInDurableObject(sessionFor(env.SESSION, person.userId), (_instance: UserSession, state) =>
      state.storage.sql
        .exec<{ event: string; detail: string }>(
          "SELECT event, detail FROM audit WHERE event LIKE 'call_%' ORDER BY seq",
        )
        .toArray()
        .map((entry) => [entry.event, JSON.parse(entry.detail) as Record<string, unknown>] as const),
    );

  /** A classified call with one more header and its fingerprint recomputed, as a forger would. */
  async function withHeader(call: ClassifiedCall, header: { name: string; value: string }): Promise<ClassifiedCall> {
    const canonical = { ...call.call, headers: [...call.call.headers, header] };
    return { ...call, call: canonical, fingerprint: await fingerprintCall(canonical) };
  }

  async function prepared(url: string) {
    const config = loadConfig(env);
    if (!config.ok) throw new Error("config");
    const call = await prepareCall({ method: "get", url }, config.value.registry);
    if (!call.ok) throw new Error(`prepareCall: ${call.error.code}`);
    return call.value.classified;
  }

  it("audits an unreachable provider as the outcome of the allowed call and answers provider_unavailable", async () => {
    const person = await withGithub();
    await grantAccess(person.token, person.browser, ["github"], "read");
    fakeApi(GH, () => {
      throw new TypeError("connection refused");
    });
    const answer = await callApi(person.token, { method: "GET", url: `${GH}/user` });
    expect(answer.error?.code).toBe("provider_unavailable");
    expect(answer.error).toMatchObject({ reason: "provider_unreachable" });
    const audit = await auditOf(person);
    expect(audit.map(([event]) => event)).toEqual(["call_allowed", "call_completed"]);
    expect(audit[1]?.[1]).toMatchObject({ outcome: "provider_unreachable" });
  });

  it.each([
    ["another provider's URL under github", async () => ({ ...(await prepared(`${GH}/user`)), provider: "linear" })],
    [
      "a URL that is not the one fingerprinted",
      async () => {
        const call = await prepared(`${GH}/user`);
        return { ...call, call: { ...call.call, url: `${GH}/user/emails` } };
      },
    ],
    [
      "the provider's credential header, spelled leniently, with the fingerprint made to match",
      async () => withHeader(await prepared(`${GH}/user`), { name: "authorization", value: "Bearer ATTACKER" }),
    ],
    [
      "a header no agent may set, with the fingerprint made to match",
      async () => withHeader(await prepared(`${GH}/user`), { name: "x-forwarded-host", value: "evil.example" }),
    ],
    [
      "a URL no provider owns",
      async () => {
        const call = await prepared(`${GH}/user`);
        return { ...call, call: { ...call.call, url: "https://evil.example/user" } };
      },
    ],
  ])("refuses %s and sends nothing, the token never leaving the object", async (_label, tamper) => {
    const person = await withGithub();
    await grantAccess(person.token, person.browser, ["github"], "read");
    const answer = await sessionFor(env.SESSION, person.userId).callProvider(await tamper(), person.connectionId);
    expect(answer.ok).toBe(false);
    expect(["unknown_provider", "denied"]).toContain(answer.ok ? "" : answer.code);
    if (!answer.ok && answer.code === "denied") expect(answer.reason).toBe("call_mismatch");
    expect(seenAt(GH)).toEqual([]);
    expect(seen.filter((request) => request.url.startsWith("https://evil.example"))).toEqual([]);
    expect((await auditOf(person)).filter(([event]) => event !== "call_denied")).toEqual([]);
  });

  it("holds a call past MAX_CALLS_IN_FLIGHT before deciding or sending it, until one in flight is done", async () => {
    const person = await withGithub();
    await grantAccess(person.token, person.browser, ["github"], "read");
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    fakeApi(GH, async () => {
      await held;
      return Response.json({ login: "ada" });
    });
    const session = sessionFor(env.SESSION, person.userId);
    const call = await prepared(`${GH}/user`);
    const first = Array.from({ length: MAX_CALLS_IN_FLIGHT }, () => session.callProvider(call, person.connectionId));
    await vi.waitFor(() => expect(seenAt(GH)).toHaveLength(MAX_CALLS_IN_FLIGHT));
    const extra = callApi(person.token, { method: "GET", url: `${GH}/user` });
    // The extra call is neither decided nor sent while every place is taken.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seenAt(GH)).toHaveLength(MAX_CALLS_IN_FLIGHT);
    expect((await auditOf(person)).filter(([event]) => event === "call_allowed")).toHaveLength(MAX_CALLS_IN_FLIGHT);
    release();
    for (const answer of await Promise.all(first)) expect(answer.ok).toBe(true);
    expect((await extra).error).toBeUndefined();
    expect(seenAt(GH)).toHaveLength(MAX_CALLS_IN_FLIGHT + 1);
    const audit = await auditOf(person);
    expect(audit.filter(([event]) => event === "call_completed")).toHaveLength(MAX_CALLS_IN_FLIGHT + 1);
  });

  it("answers outcome_unknown, not try again, when the object's call fails after it may have sent", async () => {
    const person = await withGithub();
    await grantAccess(person.token, person.browser, ["github"], "write");
    // The object reset, or its write of the outcome failed, after the provider got the call.
    const failing = vi.spyOn(UserSession.prototype, "callProvider").mockImplementation(async function (
      this: UserSession,
    ) {
      await fetch(`${GH}/user/repos`, { method: "POST", body: '{"name":"x"}' });
      throw new Error("Durable Object reset because its code was updated.");
    });
    const answer = await callApi(person.token, { method: "POST", url: `${GH}/user/repos`, body: '{"name":"x"}' });
    expect(failing).toHaveBeenCalledTimes(1);
    expect(seenAt(GH)).toHaveLength(1);
    expect(answer.error?.code).toBe("provider_unavailable");
    expect(answer.error).toMatchObject({ reason: "outcome_unknown" });
    expect(answer.error?.message).toContain("Check with the provider before repeating a write");
    expect(answer.error?.message).not.toContain("reset");
    expect(logs.some((line) => line.includes("call.outcome_unknown"))).toBe(true);
  });
});
