/**
 * docs/threat-model.md section I: flood limits with a clear 429, and timers that stay cheap:
 * one alarm at the earliest deadline, expiry in idempotent batches, surviving eviction.
 */
import { env, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { sessionFor, type UserSession } from "../../src/session/user-session";
import { FakeIdp } from "../helpers/fake-idp";
import { askSession, decideOnPage, openApproval, submitApproval, tool } from "../helpers/grants";
import { mcpRequest, registerClient, signedInClient } from "../helpers/oauth";
import { fetchWorker } from "../helpers/worker";

let idp: FakeIdp;
beforeEach(async () => {
  idp = await FakeIdp.create();
  idp.install();
});

/**
 * Send requests (in batches) until the first 429, at most twice the limit plus a batch. Workers
 * rate limits count in fixed windows aligned to the clock, so a window may roll over during the
 * flood: the first 429 then comes later, but never before `limit` requests went through.
 */
async function floodUntilLimited(send: () => Promise<Response>, limit: number, batch = 1) {
  let accepted = 0;
  while (accepted <= limit * 2 + batch) {
    const responses = await Promise.all(Array.from({ length: batch }, send));
    const limited = responses.find((response) => response.status === 429);
    accepted += responses.filter((response) => response.status !== 429).length;
    if (limited) return { accepted, limited };
  }
  return { accepted, limited: undefined };
}

describe("flood limits", () => {
  it("answers a flood of registrations from one address with 429 and Retry-After", async () => {
    const ip = "203.0.113.7";
    const register = () =>
      fetchWorker("/oauth/register", {
        method: "POST",
        headers: { "Content-Type": "application/json", "CF-Connecting-IP": ip },
        body: JSON.stringify({
          client_name: "flood",
          redirect_uris: ["https://client.test/cb"],
          token_endpoint_auth_method: "none",
        }),
      });
    const flood = await floodUntilLimited(register, 20);
    expect(flood.accepted).toBeGreaterThanOrEqual(20);
    const limited = flood.limited as Response;
    expect(limited.status).toBe(429);
    expect(limited.headers.get("Retry-After")).toBe("60");
    expect(((await limited.json()) as { error: string }).error).toBe("rate_limited");
    expect((await registerClient()).client_id).toBeTruthy(); // another address is unaffected
  });

  it("answers a flood of authorization and sign-in requests from one address with 429", async () => {
    const ip = "203.0.113.8";
    const flood = await floodUntilLimited(
      () => fetchWorker("/signin?return_to=/", { headers: { "CF-Connecting-IP": ip } }),
      60,
    );
    expect(flood.limited?.status).toBe(429);
    expect(flood.accepted).toBeGreaterThanOrEqual(60);
  });

  it("answers a flood of tool calls from one client with 429, without touching other clients", async () => {
    const flooder = await signedInClient(idp, `flood-${crypto.randomUUID()}`);
    const calm = await signedInClient(idp, `calm-${crypto.randomUUID()}`);
    const body = { jsonrpc: "2.0", id: 1, method: "tools/list" };
    const flood = await floodUntilLimited(() => mcpRequest(flooder.tokens.access_token, body), 600, 50);
    expect(flood.limited?.status).toBe(429);
    expect(flood.accepted).toBeGreaterThanOrEqual(600);
    expect((await mcpRequest(calm.tokens.access_token, body)).status).toBe(200);
  });
});

describe("per-connection and per-user request limits", () => {
  it("refuses the 31st new request from one connection in ten minutes, even when earlier ones were withdrawn", async () => {
    const client = await signedInClient(idp, `window-${crypto.randomUUID()}`);
    for (let i = 0; i < 30; i++) {
      const asked = await askSession(client.tokens.access_token, { duration_minutes: (i % 60) + 1, reason: `r${i}` });
      await tool(client.tokens.access_token, "revoke_access", { request_id: asked.request_id });
    }
    const over = await tool(client.tokens.access_token, "request_elevated_access", {
      kind: "broad",
      providers: ["github"],
      reason: "one more",
    });
    expect(over.error?.code).toBe("rate_limited");
    expect(over.error?.message).toMatch(/10 minutes/);
  });

  it("answers a flood of approval decisions from one person with a 429 page", async () => {
    const client = await signedInClient(idp, `decider-${crypto.randomUUID()}`);
    const asked = await askSession(client.tokens.access_token);
    const page = await openApproval(client.browser, asked.approval_url);
    const fields = { t: page.t as string, csrf: page.csrf as string, decision: "deny" };
    const first = await submitApproval(client.browser, asked.approval_url, fields);
    expect(first.status).toBe(200);
    const flood = await floodUntilLimited(() => submitApproval(client.browser, asked.approval_url, fields), 119);
    expect(flood.accepted).toBeGreaterThanOrEqual(119);
    expect(flood.limited?.status).toBe(429);
    expect(flood.limited?.headers.get("Content-Type")).toContain("text/html");
  });
});

describe("timers", () => {
  async function userWithRequests(count: number) {
    const client = await signedInClient(idp, `timer-${crypto.randomUUID()}`);
    const asked = [];
    for (let i = 0; i < count; i++)
      asked.push(await askSession(client.tokens.access_token, { duration_minutes: i + 1 }));
    const userId = (await tool(client.tokens.access_token, "whoami")).structured?.user.id as string;
    return { client, asked, stub: sessionFor(env.SESSION, userId) };
  }

  it("keeps one alarm, at the earliest open deadline", async () => {
    const { stub } = await userWithRequests(3);
    await runInDurableObject(stub, async (_i: UserSession, state) => {
      const earliest = state.storage.sql
        .exec<{ at: number }>("SELECT MIN(pending_expires_at) AS at FROM grants WHERE status = 'pending'")
        .one().at;
      expect(await state.storage.getAlarm()).toBe(earliest);
    });
  });

  it("expires due grants after the object was evicted, when the alarm fires", async () => {
    const { client, asked, stub } = await userWithRequests(2);
    const [first, second] = asked as [(typeof asked)[0], (typeof asked)[0]];
    await runInDurableObject(stub, (_i: UserSession, state) => {
      state.storage.sql.exec(
        "UPDATE grants SET pending_expires_at = ? WHERE id = ?",
        Date.now() - 1000,
        first.request_id,
      );
    });
    await evictDurableObject(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const check = (id: string) => tool(client.tokens.access_token, "check_access_request", { request_id: id });
    expect((await check(first.request_id)).structured?.status).toBe("expired");
    expect((await check(second.request_id)).structured?.status).toBe("pending");
    await runInDurableObject(stub, async (_i: UserSession, state) => {
      const expiredEntries = state.storage.sql
        .exec<{ n: number }>("SELECT COUNT(*) AS n FROM audit WHERE event = 'expired'")
        .one().n;
      expect(expiredEntries).toBe(1);
      const next = state.storage.sql
        .exec<{ at: number }>("SELECT pending_expires_at AS at FROM grants WHERE id = ?", second.request_id)
        .one().at;
      expect(await state.storage.getAlarm()).toBe(next);
    });
  });

  it("expires approved authority on the clock, even before the alarm runs", async () => {
    const { client, asked, stub } = await userWithRequests(1);
    const [grant] = asked as [(typeof asked)[0]];
    await decideOnPage(client.browser, grant.approval_url, "approve", { duration: "60" });
    expect((await tool(client.tokens.access_token, "whoami")).structured?.authority.grants).toHaveLength(1);
    await runInDurableObject(stub, (_i: UserSession, state) => {
      state.storage.sql.exec("UPDATE grants SET expires_at = ? WHERE id = ?", Date.now() - 1, grant.request_id);
    });
    expect((await tool(client.tokens.access_token, "whoami")).structured?.authority.grants).toEqual([]);
    const status = await tool(client.tokens.access_token, "check_access_request", { request_id: grant.request_id });
    expect(status.structured?.status).toBe("expired");
  });

  it("handles thousands of staggered expiries in idempotent batches with one alarm", async () => {
    const { stub } = await userWithRequests(1);
    const now = Date.now();
    await runInDurableObject(stub, (_i: UserSession, state) => {
      const template = state.storage.sql.exec("SELECT * FROM grants LIMIT 1").one() as Record<string, unknown>;
      for (let i = 0; i < 3000; i++) {
        state.storage.sql.exec(
          `INSERT INTO grants (id, kind, status, connection_id, client_name, reason, requested_level, requested_providers,
             requested_duration_s, providers, requested_at, pending_expires_at, link_token_hash, request_key)
           VALUES (?, 'broad', 'pending', ?, 'c', 'r', 'read', '["github"]', 300, '[]', ?, ?, 'h', ?)`,
          `req_bulk_${i}`,
          template.connection_id as string,
          now,
          i < 2500 ? now - 1000 - i : now + 600_000 + i,
          `k${i}`,
        );
      }
    });
    // The scheduled alarm runs once and expires every due grant in batches of 500.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    // Idempotent: running it again (a retried alarm) changes nothing.
    await runInDurableObject(stub, (instance: UserSession) => instance.alarm());
    await runInDurableObject(stub, async (_i: UserSession, state) => {
      const counts = state.storage.sql
        .exec<{ status: string; n: number }>("SELECT status, COUNT(*) AS n FROM grants GROUP BY status ORDER BY status")
        .toArray();
      expect(counts).toEqual([
        { status: "expired", n: 2500 },
        { status: "pending", n: 501 },
      ]);
      const expiredEntries = state.storage.sql
        .exec<{ n: number }>("SELECT COUNT(*) AS n FROM audit WHERE event = 'expired'")
        .one().n;
      expect(expiredEntries).toBe(2500);
      const earliest = state.storage.sql
        .exec<{ at: number }>("SELECT MIN(pending_expires_at) AS at FROM grants WHERE status = 'pending'")
        .one().at;
      expect(await state.storage.getAlarm()).toBe(earliest);
    });
  });
});
