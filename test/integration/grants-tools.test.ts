/**
 * The access tools through the Worker with real tokens: request, approve on the page, wait,
 * check, revoke, whoami authority, coalescing and limits, and identity from the token only.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { FakeIdp } from "../helpers/fake-idp";
import { askSession, decideOnPage, type Loose, openApproval, submitApproval, tool } from "../helpers/grants";
import { signedInClient } from "../helpers/oauth";

let idp: FakeIdp;
beforeEach(async () => {
  idp = await FakeIdp.create();
  idp.install();
});

/** A signed-in client of a brand-new user (each test gets its own Durable Object). */
const fresh = () => signedInClient(idp, `user-${crypto.randomUUID()}`);

describe("request_elevated_access", () => {
  it("returns a pending request with an approval link under PUBLIC_URL", async () => {
    const { tokens } = await fresh();
    const asked = await askSession(tokens.access_token);
    expect(asked.request_id).toMatch(/^req_[A-Za-z0-9_-]{22}$/);
    expect(asked.approval_url).toMatch(
      new RegExp(`^https://countersign\\.test/approve/${asked.request_id}\\?t=[A-Za-z0-9_-]{43}$`),
    );
    expect(Date.parse(asked.expires_at) - Date.now()).toBeGreaterThan(590_000);
    expect(asked.coalesced).toBe(false);
  });

  it("coalesces an identical pending request into the same id and link", async () => {
    const { tokens } = await fresh();
    const first = await askSession(tokens.access_token);
    const second = await askSession(tokens.access_token, { reason: "again, please" });
    expect(second.request_id).toBe(first.request_id);
    expect(second.approval_url).toBe(first.approval_url);
    expect(second.coalesced).toBe(true);
  });

  const badArgs: [string, Record<string, unknown>, string][] = [
    ["duration -1", { duration_minutes: -1 }, "rpc"],
    ["duration 0", { duration_minutes: 0 }, "rpc"],
    ["duration 1e12", { duration_minutes: 1e12 }, "invalid_request"],
    ["duration as a string", { duration_minutes: "10" }, "rpc"],
    ["duration NaN (null on the wire)", { duration_minutes: Number.NaN }, "rpc"],
    ["duration 1.5", { duration_minutes: 1.5 }, "rpc"],
    ["duration over the cap", { duration_minutes: 61 }, "invalid_request"],
    ["no providers", { providers: [] }, "invalid_request"],
    ["an unknown provider", { providers: ["github", "myspace"] }, "unknown_provider"],
    ["an empty reason", { reason: "  " }, "rpc"],
    ["a kind that does not exist", { kind: "admin" }, "rpc"],
    ["the old kind name session", { kind: "session" }, "rpc"],
    ["the stored kind name request", { kind: "request" }, "rpc"],
  ];
  for (const [label, args, expected] of badArgs) {
    it(`rejects ${label} and stores nothing`, async () => {
      const { tokens } = await fresh();
      const outcome = await tool(tokens.access_token, "request_elevated_access", {
        kind: "broad",
        providers: ["github"],
        reason: "x",
        ...args,
      });
      expect(outcome.error?.code).toBe(expected === "rpc" ? "invalid_params" : expected);
      const whoami = await tool(tokens.access_token, "whoami");
      expect(whoami.structured?.authority.grants).toEqual([]);
      const pending = await tool(tokens.access_token, "revoke_access", {});
      expect(pending.structured?.revoked).toEqual([]);
    });
  }

  const badCalls: [string, Record<string, unknown>, string][] = [
    ["an unknown host", { method: "GET", url: "https://evil.test/x" }, "unknown_provider"],
    ["plain http", { method: "GET", url: "http://api.github.com/user" }, "invalid_request"],
    ["userinfo", { method: "GET", url: "https://api.github.com@evil.test/user" }, "invalid_request"],
    ["a GET with a body", { method: "GET", url: "https://api.github.com/user", body: "{}" }, "invalid_request"],
    [
      "an Authorization header",
      { method: "GET", url: "https://api.github.com/user", headers: { Authorization: "x" } },
      "invalid_request",
    ],
    ["TRACE", { method: "TRACE", url: "https://api.github.com/user" }, "invalid_request"],
    ["no url", { method: "GET" }, "invalid_request"],
  ];
  for (const [label, args, code] of badCalls) {
    it(`rejects a call request with ${label}`, async () => {
      const { tokens } = await fresh();
      const outcome = await tool(tokens.access_token, "request_elevated_access", {
        kind: "call",
        reason: "x",
        ...args,
      });
      expect(outcome.error?.code).toBe(code);
    });
  }

  it("caps pending requests per user with rate_limited", async () => {
    const { tokens } = await fresh();
    for (let i = 0; i < 20; i++) await askSession(tokens.access_token, { duration_minutes: i + 1 });
    const over = await tool(tokens.access_token, "request_elevated_access", {
      kind: "broad",
      providers: ["github"],
      duration_minutes: 30,
      reason: "one more",
    });
    expect(over.error?.code).toBe("rate_limited");
    expect(over.error?.message).toMatch(/waiting/);
    const duplicate = await askSession(tokens.access_token, { duration_minutes: 1 });
    expect(duplicate.coalesced).toBe(true);
  });

  it("ignores a user id, subject or org passed in the arguments", async () => {
    const ada = await signedInClient(idp, `ada-${crypto.randomUUID()}`, "ada@example.com");
    const bob = await signedInClient(idp, `bob-${crypto.randomUUID()}`, "bob@example.com");
    const bobId = (await tool(bob.tokens.access_token, "whoami")).structured?.user.id;
    const outcome = await tool(ada.tokens.access_token, "request_elevated_access", {
      kind: "broad",
      providers: ["github"],
      reason: "x",
      user_id: bobId,
      userId: bobId,
      subject: "bob",
      org: "bob-org",
    });
    const id = outcome.structured?.request_id;
    expect(id).toBeTruthy();
    expect((await tool(ada.tokens.access_token, "check_access_request", { request_id: id })).structured?.status).toBe(
      "pending",
    );
    expect((await tool(bob.tokens.access_token, "check_access_request", { request_id: id })).error?.code).toBe(
      "not_found",
    );
  });
});

describe("check_access_request", () => {
  it("waits for the decision and returns only what the person approved, with their note", async () => {
    const { tokens, browser } = await fresh();
    const asked = await askSession(tokens.access_token);
    const waiting = tool(tokens.access_token, "check_access_request", {
      request_id: asked.request_id,
      wait_seconds: 30,
    });
    const decided = await decideOnPage(browser, asked.approval_url, "approve", {
      providers: ["github"],
      level: "read",
      duration: "900",
      note: "Only the countersign repo, please.",
    });
    expect(decided.status).toBe(200);
    const result = (await waiting).structured as Loose;
    expect(result).toMatchObject({
      request_id: asked.request_id,
      status: "approved",
      kind: "broad",
      providers: ["github"],
      level: "read",
      note: "Only the countersign repo, please.",
    });
    expect(result.seconds_left).toBeGreaterThan(890);
    expect(result.instructions).toContain("Only the countersign repo");
    const whoami = await tool(tokens.access_token, "whoami");
    expect(whoami.structured?.authority.grants).toHaveLength(1);
    expect(whoami.structured?.authority.grants[0]).toMatchObject({
      request_id: asked.request_id,
      providers: ["github"],
    });
  });

  it("returns pending at once without wait_seconds, and denied after a denial", async () => {
    const { tokens, browser } = await fresh();
    const asked = await askSession(tokens.access_token);
    const now = await tool(tokens.access_token, "check_access_request", { request_id: asked.request_id });
    expect(now.structured?.status).toBe("pending");
    await decideOnPage(browser, asked.approval_url, "deny", { note: "Not today." });
    const after = await tool(tokens.access_token, "check_access_request", {
      request_id: asked.request_id,
      wait_seconds: 5,
    });
    expect(after.structured).toMatchObject({ status: "denied", note: "Not today." });
  });

  it("returns when the wait ends with the request still pending", async () => {
    const { tokens } = await fresh();
    const asked = await askSession(tokens.access_token);
    const result = await tool(tokens.access_token, "check_access_request", {
      request_id: asked.request_id,
      wait_seconds: 1,
    });
    expect(result.structured?.status).toBe("pending");
  });

  it.each([[-1], [51], [1.5]])("rejects wait_seconds %s", async (wait) => {
    const { tokens } = await fresh();
    const asked = await askSession(tokens.access_token);
    const result = await tool(tokens.access_token, "check_access_request", {
      request_id: asked.request_id,
      wait_seconds: wait,
    });
    expect(result.error?.code).toBe("invalid_params");
  });

  it("answers not_found for an unknown id", async () => {
    const { tokens } = await fresh();
    expect((await tool(tokens.access_token, "check_access_request", { request_id: "req_nope" })).error?.code).toBe(
      "not_found",
    );
  });
});

describe("connections and revoke_access", () => {
  it("binds a grant to the client connection that asked: another client of the same user cannot see or use it", async () => {
    const sub = `same-${crypto.randomUUID()}`;
    const claude = await signedInClient(idp, sub);
    const cursor = await signedInClient(idp, sub);
    const asked = await askSession(claude.tokens.access_token);
    await decideOnPage(claude.browser, asked.approval_url, "approve");
    expect(
      (await tool(cursor.tokens.access_token, "check_access_request", { request_id: asked.request_id })).error?.code,
    ).toBe("not_found");
    expect((await tool(cursor.tokens.access_token, "whoami")).structured?.authority.grants).toEqual([]);
    expect(
      (await tool(cursor.tokens.access_token, "revoke_access", { request_id: asked.request_id })).error?.code,
    ).toBe("not_found");
    expect((await tool(claude.tokens.access_token, "whoami")).structured?.authority.grants).toHaveLength(1);
  });

  it("revokes one grant, then everything", async () => {
    const { tokens, browser } = await fresh();
    const first = await askSession(tokens.access_token, { providers: ["github"] });
    const second = await askSession(tokens.access_token, { providers: ["linear"] });
    await decideOnPage(browser, first.approval_url, "approve", { providers: ["github"] });
    await decideOnPage(browser, second.approval_url, "approve", { providers: ["linear"] });
    const one = await tool(tokens.access_token, "revoke_access", { request_id: first.request_id });
    expect(one.structured?.revoked.map((grant: { request_id: string }) => grant.request_id)).toEqual([
      first.request_id,
    ]);
    expect(
      (await tool(tokens.access_token, "check_access_request", { request_id: first.request_id })).structured?.status,
    ).toBe("revoked");
    const all = await tool(tokens.access_token, "revoke_access", {});
    expect(all.structured?.revoked.map((grant: { request_id: string }) => grant.request_id)).toEqual([
      second.request_id,
    ]);
    expect((await tool(tokens.access_token, "whoami")).structured?.authority.grants).toEqual([]);
    const again = await tool(tokens.access_token, "revoke_access", { request_id: first.request_id });
    expect(again.structured?.revoked).toEqual([]);
  });

  it("withdraws a pending request: the open approval page can no longer approve it", async () => {
    const { tokens, browser } = await fresh();
    const asked = await askSession(tokens.access_token);
    const page = await openApproval(browser, asked.approval_url);
    await tool(tokens.access_token, "revoke_access", { request_id: asked.request_id });
    const late = await submitApproval(browser, asked.approval_url, {
      t: page.t as string,
      csrf: page.csrf as string,
      decision: "approve",
      providers: ["github"],
      level: "read",
      duration: "300",
    });
    expect(late.status).toBe(409);
    const reopened = await openApproval(browser, asked.approval_url);
    expect(reopened.html).toContain("Revoked");
    expect(reopened.t).toBeUndefined();
    expect(
      (await tool(tokens.access_token, "check_access_request", { request_id: asked.request_id })).structured?.status,
    ).toBe("revoked");
  });
});
