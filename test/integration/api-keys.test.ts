/**
 * Personal API keys (issue 12 parts 1 and 2), through the Worker: made on /activity and shown
 * once with only its SHA-256 stored; accepted on /mcp as a bearer or as `x-api-key`, as its own
 * client connection (grants and approvals as for an OAuth client); refused with 401
 * `invalid_api_key` when revoked, expired, disconnected or wrong; never accepted anywhere but
 * /mcp; and never written to a log line.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_API_KEYS } from "../../src/apikeys/key";
import { sha256Hex } from "../../src/lib/crypto";
import { apiKeyIndexKey } from "../../src/lib/storage-keys";
import { sessionFor, type UserSession } from "../../src/session/user-session";
import { inputValue, location, TestBrowser } from "../helpers/browser";
import { FakeIdp } from "../helpers/fake-idp";
import { askSession, decideOnPage, type Loose, tool } from "../helpers/grants";
import { mcpJson, mcpRequest, signedInClient } from "../helpers/oauth";
import { fetchWorker, PUBLIC_ORIGIN } from "../helpers/worker";

let idp: FakeIdp;
let logs: string[];
/** Every key value a test saw: none may appear in any log line. */
let keys: string[];
/** How far the clock is moved ahead of the real one. */
let ahead = 0;

beforeEach(async () => {
  logs = [];
  keys = [];
  ahead = 0;
  for (const method of ["log", "warn", "error", "info", "debug"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => logs.push(args.map(String).join(" ")));
  }
  const realNow = Date.now;
  vi.spyOn(Date, "now").mockImplementation(() => realNow() + ahead);
  idp = await FakeIdp.create();
  idp.install();
});
afterEach(() => {
  const all = logs.join("\n");
  for (const key of keys) {
    expect(all).not.toContain(key);
    expect(all).not.toContain(key.slice(-64));
  }
  vi.restoreAllMocks();
});

type Row = Record<string, SqlStorageValue>;

const apiKeyRows = (userId: string) =>
  runInDurableObject(sessionFor(env.SESSION, userId) as DurableObjectStub<UserSession>, async (_instance, state) =>
    state.storage.sql.exec<Row>("SELECT * FROM api_keys").toArray(),
  );

/** A signed-in person (browser cookie), their user id and the /activity CSRF token. */
async function person(label = "keys") {
  const client = await signedInClient(idp, `${label}-${crypto.randomUUID()}`, `${label}@example.com`);
  const userId = (await tool(client.tokens.access_token, "whoami")).structured?.user.id as string;
  const page = await client.browser.get("/activity");
  const csrf = inputValue(await page.text(), "csrf") as string;
  return { browser: client.browser, userId, csrf, oauthToken: client.tokens.access_token };
}

/** Create a key through the page; the value is read from the page that shows it once. */
async function createKey(browser: TestBrowser, csrf: string, form: Record<string, string> = {}) {
  const response = await browser.post("/activity/api-keys", { csrf, name: "nightly CI", ...form });
  const html = await response.text();
  const key = /cs_key_[0-9a-f]{16}_[0-9a-f]{64}/.exec(html)?.[0];
  if (key) keys.push(key);
  return { response, html, key: key as string, id: key?.slice(7, 23) as string };
}

const rpc = (method: string, params: unknown = {}) => ({ jsonrpc: "2.0", id: 1, method, params });

async function expectInvalidKey(response: Response) {
  expect(response.status).toBe(401);
  expect(response.headers.get("WWW-Authenticate")).toBe(
    `Bearer realm="OAuth", resource_metadata="${PUBLIC_ORIGIN}/.well-known/oauth-protected-resource/mcp", error="invalid_token", scope="mcp"`,
  );
  const body = (await response.json()) as { error: string; error_description: string };
  expect(body.error).toBe("invalid_api_key");
  return body;
}

describe("/activity API keys", () => {
  it("shows a new key once, keeps only its SHA-256 and indexes its id to the person", async () => {
    const { browser, csrf, userId } = await person();
    const { response, html, key, id } = await createKey(browser, csrf, { name: "nightly <CI>" });
    expect(response.status).toBe(200);
    expect(response.headers.get("Cache-Control")).toContain("no-store");
    expect(html).toContain("nightly &lt;CI&gt;");
    expect(key).toMatch(/^cs_key_[0-9a-f]{16}_[0-9a-f]{64}$/);

    const again = await (await browser.get("/activity")).text();
    expect(again).toContain(`cs_key_${id}_`);
    expect(again).not.toContain(key);
    expect(again).toContain("last used never");

    const rows = await apiKeyRows(userId);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.hash).toBe(await sha256Hex(key));
    expect(JSON.stringify(rows)).not.toContain(key.slice(-64));
    const days = ((rows[0]?.expires_at as number) - (rows[0]?.created_at as number)) / 86_400_000;
    expect(days).toBe(90);
    expect(await env.OAUTH_KV.get(apiKeyIndexKey(id))).toBe(userId);
  });

  const badForms: [string, Record<string, string>, string][] = [
    ["an empty name", { name: "  " }, "name_invalid"],
    ["a name too long", { name: "x".repeat(61) }, "name_invalid"],
    ["a control character", { name: "ci\u0007" }, "name_invalid"],
    ["zero days", { days: "0" }, "days_invalid"],
    ["more than 365 days", { days: "366" }, "days_invalid"],
    ["days that are not a number", { days: "1e2" }, "days_invalid"],
  ];
  for (const [label, form, code] of badForms) {
    it(`refuses ${label} with ${code} and stores nothing`, async () => {
      const { browser, csrf, userId } = await person();
      const { response, html, key } = await createKey(browser, csrf, form);
      expect(response.status).toBe(400);
      expect(html).toContain(code);
      expect(key).toBeUndefined();
      expect(await apiKeyRows(userId)).toEqual([]);
    });
  }

  it("accepts an expiry of up to 365 days", async () => {
    const { browser, csrf, userId } = await person();
    expect((await createKey(browser, csrf, { days: "365" })).response.status).toBe(200);
    const [row] = await apiKeyRows(userId);
    expect(((row?.expires_at as number) - (row?.created_at as number)) / 86_400_000).toBe(365);
  });

  it("refuses a key without the CSRF token or from another site, and stores nothing", async () => {
    const { browser, csrf, userId } = await person();
    const missing = await browser.post("/activity/api-keys", { name: "ci" });
    expect(missing.status).toBe(403);
    expect(await missing.text()).toContain("csrf_invalid");
    const foreign = await browser.post("/activity/api-keys", { csrf, name: "ci" }, { Origin: "https://evil.test" });
    expect(foreign.status).toBe(403);
    const signedOut = await new TestBrowser().post("/activity/api-keys", { csrf, name: "ci" });
    expect(signedOut.status).toBe(403);
    expect(await apiKeyRows(userId)).toEqual([]);
    expect((await sessionFor(env.SESSION, userId).activity()).connections).toHaveLength(1);
  });

  it(`allows at most ${MAX_API_KEYS} live keys and stores nothing past them`, async () => {
    const { browser, csrf, userId } = await person();
    for (let i = 0; i < MAX_API_KEYS; i++) expect((await createKey(browser, csrf)).response.status).toBe(200);
    const over = await createKey(browser, csrf);
    expect(over.response.status).toBe(409);
    expect(over.html).toContain("too_many_keys");
    expect(over.key).toBeUndefined();
    expect(await apiKeyRows(userId)).toHaveLength(MAX_API_KEYS);
    expect((await sessionFor(env.SESSION, userId).activity()).connections).toHaveLength(MAX_API_KEYS + 1);
    expect(await (await browser.get("/activity")).text()).toContain("the most there can be");
  });

  it("refuses to revoke another person's key: their key and its index stay", async () => {
    const ada = await person("ada");
    const { key, id } = await createKey(ada.browser, ada.csrf);
    const eve = await person("eve");
    const response = await eve.browser.post(`/activity/api-keys/${id}/revoke`, { csrf: eve.csrf });
    expect(response.status).toBe(404);
    expect(await env.OAUTH_KV.get(apiKeyIndexKey(id))).toBe(ada.userId);
    expect((await mcpRequest(key, rpc("tools/list"))).status).toBe(200);
  });

  it("refuses a revoke without the CSRF token: the key keeps working", async () => {
    const { browser, key, id } = await (async () => {
      const p = await person();
      return { ...p, ...(await createKey(p.browser, p.csrf)) };
    })();
    expect((await browser.post(`/activity/api-keys/${id}/revoke`, {})).status).toBe(403);
    expect((await mcpRequest(key, rpc("tools/list"))).status).toBe(200);
  });
});

describe("/mcp with an API key", () => {
  it("lists and calls tools with a bearer key and with x-api-key, as the key's own connection", async () => {
    const { browser, csrf, userId } = await person();
    const { key, id } = await createKey(browser, csrf);
    const listed = await mcpJson(await mcpRequest(key, rpc("tools/list")));
    expect(((listed.result as Loose).tools as Loose[]).map((t) => t.name)).toContain("whoami");

    const viaHeader = await mcpRequest(null, rpc("tools/call", { name: "whoami", arguments: {} }), {
      "x-api-key": key,
    });
    expect(viaHeader.status).toBe(200);
    const whoami = ((await mcpJson(viaHeader)).result as Loose).structuredContent as Loose;
    expect(whoami.user.id).toBe(userId);
    expect(whoami.client.connection_id).toBe(`key_${id}`);
    expect(whoami.client.name).toBe("nightly CI");
    expect(whoami.scopes).toEqual(["mcp"]);

    const [row] = await apiKeyRows(userId);
    expect(row?.last_used_at).toEqual(expect.any(Number));
    expect(await (await browser.get("/activity")).text()).not.toContain("last used never");
  });

  it("runs the request and approve flow for the key's connection only", async () => {
    const { browser, csrf, oauthToken } = await person();
    const { key } = await createKey(browser, csrf);
    const asked = await askSession(key, { providers: ["linear"], reason: "nightly triage" });
    expect((await decideOnPage(browser, asked.approval_url, "approve", { providers: ["linear"] })).status).toBe(200);
    const status = await tool(key, "check_access_request", { request_id: asked.request_id });
    expect(status.structured?.status).toBe("approved");
    expect((await tool(key, "whoami")).structured?.authority.grants).toHaveLength(1);
    expect((await tool(oauthToken, "whoami")).structured?.authority.grants).toEqual([]);
  });

  it("answers 401 invalid_api_key once the key is revoked, and ends its grants", async () => {
    const { browser, csrf, userId } = await person();
    const { key, id } = await createKey(browser, csrf);
    const asked = await askSession(key, { providers: ["linear"] });
    await decideOnPage(browser, asked.approval_url, "approve", { providers: ["linear"] });
    const revoked = await browser.post(`/activity/api-keys/${id}/revoke`, { csrf });
    expect(revoked.status).toBe(303);
    expect(location(revoked).pathname).toBe("/activity");
    await expectInvalidKey(await mcpRequest(key, rpc("tools/list")));
    await expectInvalidKey(await mcpRequest(null, rpc("tools/list"), { "x-api-key": key }));
    expect(await apiKeyRows(userId)).toEqual([]);
    expect(await env.OAUTH_KV.get(apiKeyIndexKey(id))).toBeNull();
    expect((await sessionFor(env.SESSION, userId).integrations(`key_${id}`)).grants.length).toBe(0);
  });

  it("answers 401 invalid_api_key once the key expired", async () => {
    const { browser, csrf } = await person();
    const { key } = await createKey(browser, csrf, { days: "1" });
    expect((await mcpRequest(key, rpc("tools/list"))).status).toBe(200);
    ahead = 86_400_000 + 1000;
    await expectInvalidKey(await mcpRequest(key, rpc("tools/list")));
  });

  it("answers 401 invalid_api_key once the key's connection is disconnected", async () => {
    const { browser, csrf } = await person();
    const { key, id } = await createKey(browser, csrf);
    expect((await browser.post(`/activity/connections/key_${id}/revoke`, { csrf })).status).toBe(303);
    await expectInvalidKey(await mcpRequest(key, rpc("tools/list")));
  });

  it("learns nothing from another person's key id with a wrong secret", async () => {
    const ada = await person("ada");
    const { key, id } = await createKey(ada.browser, ada.csrf);
    const [before] = await apiKeyRows(ada.userId);
    const forged = `cs_key_${id}_${"0".repeat(64)}`;
    const unknown = `cs_key_${"f".repeat(16)}_${"0".repeat(64)}`;
    const wrong = await expectInvalidKey(await mcpRequest(forged, rpc("tools/list")));
    const missing = await expectInvalidKey(await mcpRequest(unknown, rpc("tools/list")));
    expect(wrong).toEqual(missing);
    const [after] = await apiKeyRows(ada.userId);
    expect(after).toEqual(before);
    expect((await mcpRequest(key, rpc("tools/list"))).status).toBe(200);
  });

  const malformed = [
    "cs_key_",
    "cs_key_abc",
    `cs_key_${"g".repeat(16)}_${"0".repeat(64)}`,
    `cs_key_${"0".repeat(16)}_x`,
  ];
  for (const token of malformed) {
    it(`answers the malformed key ${JSON.stringify(token.slice(0, 24))} with invalid_api_key`, async () => {
      await expectInvalidKey(await mcpRequest(token, rpc("tools/list")));
      await expectInvalidKey(await mcpRequest(null, rpc("tools/list"), { "x-api-key": token }));
    });
  }

  it("still answers a bearer that is not a key with invalid_token", async () => {
    const response = await mcpRequest("not-a-token", rpc("tools/list"));
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe("invalid_token");
  });
});

describe("an API key anywhere but /mcp", () => {
  it("is not a sign-in on /activity, /connections or its forms", async () => {
    const { browser, csrf, userId } = await person();
    const { key } = await createKey(browser, csrf);
    const ways: Record<string, string>[] = [{ Authorization: `Bearer ${key}` }, { "x-api-key": key }];
    for (const headers of ways) {
      const page = await fetchWorker("/activity", { headers });
      expect(page.status).toBe(302);
      expect(location(page).pathname).toBe("/signin");
      const post = await fetchWorker("/activity/api-keys", {
        method: "POST",
        headers: { ...headers, Origin: PUBLIC_ORIGIN, "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ csrf, name: "by key" }),
      });
      expect(post.status).toBe(403);
    }
    expect(await apiKeyRows(userId)).toHaveLength(1);
  });

  it("gets no token from /oauth/token", async () => {
    const { browser, csrf } = await person();
    const { key } = await createKey(browser, csrf);
    const forms: Record<string, string>[] = [
      { grant_type: "client_credentials" },
      { grant_type: "refresh_token", refresh_token: key },
      { grant_type: "authorization_code", code: key },
    ];
    for (const form of forms) {
      const response = await fetchWorker("/oauth/token", {
        method: "POST",
        headers: {
          Authorization: `Bearer ${key}`,
          "x-api-key": key,
          "Content-Type": "application/x-www-form-urlencoded",
        },
        body: new URLSearchParams(form),
      });
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(await response.text()).not.toContain("access_token");
    }
  });

  it("cannot approve a request on /approve", async () => {
    const { browser, csrf } = await person();
    const { key } = await createKey(browser, csrf);
    const asked = await askSession(key, { providers: ["linear"] });
    const id = new URL(asked.approval_url).pathname.split("/").pop() as string;
    const t = new URL(asked.approval_url).searchParams.get("t") ?? "";
    const response = await fetchWorker(`/approve/${id}`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${key}`,
        "x-api-key": key,
        Origin: PUBLIC_ORIGIN,
        "Content-Type": "application/x-www-form-urlencoded",
      },
      body: new URLSearchParams({ t, decision: "approve", providers: "linear", level: "write", duration: "300" }),
    });
    expect(response.status).toBe(403);
    expect((await tool(key, "check_access_request", { request_id: asked.request_id })).structured?.status).toBe(
      "pending",
    );
  });
});
