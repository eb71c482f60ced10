/**
 * docs/threat-model.md section H: one user can never read, decide or revoke another's grants,
 * connections or requests; a foreign id behaves exactly like a missing one and nothing changes.
 * Deleting an account purges its Durable Object, alarm, pending approvals and client tokens.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { csrfToken } from "../../src/approvals/link";
import { loadConfig } from "../../src/config";
import { sessionFor, type UserSession } from "../../src/session/user-session";
import { TestBrowser } from "../helpers/browser";
import { FakeIdp } from "../helpers/fake-idp";
import { askSession, decideOnPage, openApproval, pathOf, submitApproval, tool } from "../helpers/grants";
import { mcpRequest, signedInClient } from "../helpers/oauth";
import { fetchWorker } from "../helpers/worker";

let idp: FakeIdp;
beforeEach(async () => {
  idp = await FakeIdp.create();
  idp.install();
});

async function person(label: string) {
  const sub = `${label}-${crypto.randomUUID()}`;
  const client = await signedInClient(idp, sub, `${label}@example.com`);
  const whoami = await tool(client.tokens.access_token, "whoami");
  return {
    ...client,
    sub,
    userId: whoami.structured?.user.id as string,
    connectionId: whoami.structured?.client.connection_id as string,
  };
}

const auditRows = (userId: string) =>
  runInDurableObject(
    sessionFor(env.SESSION, userId),
    (_instance: UserSession, state) => state.storage.sql.exec("SELECT * FROM audit").toArray().length,
  );

describe("cross-user access", () => {
  it("answers another user's request id with not_found through every tool, changing nothing", async () => {
    const ada = await person("ada");
    const bob = await person("bob");
    const asked = await askSession(bob.tokens.access_token);
    const before = await auditRows(bob.userId);
    expect(
      (await tool(ada.tokens.access_token, "check_access_request", { request_id: asked.request_id })).error?.code,
    ).toBe("not_found");
    expect(
      (await tool(ada.tokens.access_token, "check_access_request", { request_id: asked.request_id, wait_seconds: 1 }))
        .error?.code,
    ).toBe("not_found");
    expect((await tool(ada.tokens.access_token, "revoke_access", { request_id: asked.request_id })).error?.code).toBe(
      "not_found",
    );
    expect(
      (await tool(ada.tokens.access_token, "check_access_request", { request_id: "req_missing" })).error?.code,
    ).toBe("not_found");
    expect(await auditRows(bob.userId)).toBe(before);
    expect(
      (await tool(bob.tokens.access_token, "check_access_request", { request_id: asked.request_id })).structured
        ?.status,
    ).toBe("pending");
  });

  it("refuses another user's approval POST like a missing request, even with the right link token", async () => {
    const ada = await person("ada");
    const bob = await person("bob");
    const asked = await askSession(bob.tokens.access_token);
    const bobPage = await openApproval(bob.browser, asked.approval_url);
    const id = new URL(asked.approval_url).pathname.split("/").pop() as string;
    const config = loadConfig(env);
    if (!config.ok) throw new Error("config");
    const before = await auditRows(bob.userId);
    const response = await submitApproval(ada.browser, asked.approval_url, {
      t: bobPage.t as string,
      csrf: await csrfToken(config.value, ada.userId, id),
      decision: "approve",
      providers: ["github"],
      level: "write",
      duration: "300",
    });
    expect(response.status).toBe(404);
    expect(await auditRows(bob.userId)).toBe(before);
    expect((await ada.browser.get(pathOf(asked.approval_url))).status).toBe(404);
  });

  it("refuses to revoke another user's grant or disconnect their app from /activity, before any side effect", async () => {
    const ada = await person("ada");
    const bob = await person("bob");
    const asked = await askSession(bob.tokens.access_token);
    await decideOnPage(bob.browser, asked.approval_url, "approve");
    const config = loadConfig(env);
    if (!config.ok) throw new Error("config");
    const adaCsrf = await csrfToken(config.value, ada.userId, "activity");
    const before = await auditRows(bob.userId);
    const revokeGrant = await ada.browser.post(`/activity/grants/${asked.request_id}/revoke`, { csrf: adaCsrf });
    const disconnect = await ada.browser.post(`/activity/connections/${bob.connectionId}/revoke`, { csrf: adaCsrf });
    expect(revokeGrant.status).toBe(404);
    expect(disconnect.status).toBe(404);
    expect(await auditRows(bob.userId)).toBe(before);
    expect((await tool(bob.tokens.access_token, "whoami")).structured?.authority.grants).toHaveLength(1);
    const stillWorks = await mcpRequest(bob.tokens.access_token, { jsonrpc: "2.0", id: 1, method: "tools/list" });
    expect(stillWorks.status).toBe(200);
  });

  it("ignores a Durable Object name or user id smuggled in headers or query", async () => {
    const ada = await person("ada");
    const bob = await person("bob");
    const response = await mcpRequest(
      ada.tokens.access_token,
      { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "whoami", arguments: {} } },
      { "X-User-Id": bob.userId, "X-Countersign-User": bob.userId },
    );
    const text = await response.text();
    expect(text).toContain(ada.userId);
    expect(text).not.toContain(bob.userId);
    const viaQuery = await fetchWorker(
      `/mcp?${new URLSearchParams({ user_id: bob.userId, userId: bob.userId, sub: bob.sub })}`,
      {
        method: "POST",
        headers: {
          Authorization: `Bearer ${ada.tokens.access_token}`,
          "Content-Type": "application/json",
          Accept: "application/json, text/event-stream",
          "MCP-Protocol-Version": "2025-06-18",
        },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 2,
          method: "tools/call",
          params: { name: "whoami", arguments: {} },
        }),
      },
    );
    const queried = await viaQuery.text();
    expect(queried).not.toContain(bob.userId);
    if (viaQuery.status === 200) expect(queried).toContain(ada.userId);
  });
});

describe("account deletion", () => {
  it("purges the Durable Object, its alarm, pending approvals and every client token", async () => {
    const ada = await person("ada");
    const pending = await askSession(ada.tokens.access_token, { providers: ["github"] });
    const live = await askSession(ada.tokens.access_token, { providers: ["linear"] });
    await decideOnPage(ada.browser, live.approval_url, "approve", { providers: ["linear"] });
    const stub = sessionFor(env.SESSION, ada.userId);
    expect(await runInDurableObject(stub, (_i: UserSession, state) => state.storage.getAlarm())).not.toBeNull();
    // A pasted key sits sealed in the vault until the account goes.
    await stub.connectProvider("sentry", { kind: "api_key", accessToken: "SENTRY-KEY", obtainedAt: 1 });
    expect(await env.VAULT_KV.get(`vault:${ada.userId}:sentry`)).not.toBeNull();
    const config = loadConfig(env);
    if (!config.ok) throw new Error("config");
    const csrf = await csrfToken(config.value, ada.userId, "activity");
    const refused = await ada.browser.post("/activity/delete", { csrf });
    expect(refused.status).toBe(400);
    const deleted = await ada.browser.post("/activity/delete", { csrf, confirm: "yes" });
    expect(deleted.status).toBe(200);
    expect(ada.browser.cookies.has("__Host-cs_session")).toBe(false);
    expect((await env.VAULT_KV.list({ prefix: `vault:${ada.userId}:` })).keys).toEqual([]);
    await runInDurableObject(stub, async (_i: UserSession, state) => {
      expect(await state.storage.getAlarm()).toBeNull();
      const tables = state.storage.sql
        .exec<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'sqlite_%'",
        )
        .toArray()
        .map((row) => row.name)
        .filter((name) => name !== "schema_version");
      expect(tables.length).toBeGreaterThan(0);
      for (const table of tables) {
        expect(state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).one().n).toBe(0);
      }
    });
    // The same object keeps working after the purge: the person can connect again at once.
    const again = await signedInClient(idp, ada.sub, "ada@example.com");
    const whoami = await tool(again.tokens.access_token, "whoami");
    expect(whoami.structured?.user.id).toBe(ada.userId);
    expect(whoami.structured?.authority.grants).toEqual([]);
    expect((await again.browser.get("/activity")).status).toBe(200);
    const after = await mcpRequest(ada.tokens.access_token, { jsonrpc: "2.0", id: 1, method: "tools/list" });
    expect(after.status).toBe(401);
    const phone = new TestBrowser();
    await phone.get("/signin?return_to=/");
    expect((await openApproval(ada.browser, pending.approval_url)).response.status).toBe(302);
  });
});
