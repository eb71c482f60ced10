/**
 * Standing rules through the Worker with real tokens (issue 10 part 3) and /activity's "+15 min"
 * and "Revoke everything" (part 4): a rule lets a matching call through with no request and it
 * is audited; a non-matching call still asks; a never rule refuses and stores no request; an
 * ended rule asks again; no tool can make a rule; forged forms and other people change nothing.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { csrfToken } from "../../src/approvals/link";
import { loadConfig } from "../../src/config";
import { sessionFor, type UserSession } from "../../src/session/user-session";
import { FakeIdp } from "../helpers/fake-idp";
import { resetFetchRoutes, seenAt } from "../helpers/fetch-router";
import { askSession, decideOnPage, tool } from "../helpers/grants";
import { mcpJson, mcpRequest, signedInClient } from "../helpers/oauth";
import { callApi, connectOAuth, fakeApi, fakeTokenEndpoint } from "../helpers/providers";
import { FakeUpstream, MCP_ORIGIN, serverAction, signedInPerson } from "../helpers/upstream";

const GH = "https://api.github.com";
const READ = { method: "GET", url: `${GH}/user` };
const WRITE = { method: "POST", url: `${GH}/repos/a/b/issues`, body: '{"title":"t"}' };

let idp: FakeIdp;
beforeEach(async () => {
  resetFetchRoutes();
  idp = await FakeIdp.create();
  idp.install();
});

/** A signed-in person with GitHub connected, a fake GitHub API, and the /activity CSRF token. */
async function person() {
  const client = await signedInClient(idp, `rules-${crypto.randomUUID()}`);
  const whoami = (await tool(client.tokens.access_token, "whoami")).structured;
  const userId = whoami?.user.id as string;
  fakeTokenEndpoint("https://github.com");
  fakeApi(GH, () => Response.json({ login: "ada" }));
  await connectOAuth(client.browser, userId, "github");
  const config = loadConfig(env);
  if (!config.ok) throw new Error("config");
  return {
    ...client,
    userId,
    token: client.tokens.access_token,
    connectionId: whoami?.client.connection_id as string,
    csrf: await csrfToken(config.value, userId, "activity"),
  };
}
type Person = Awaited<ReturnType<typeof person>>;

/** Rows of the person's Durable Object. */
function rows(userId: string, query: string) {
  return runInDurableObject(sessionFor(env.SESSION, userId), (_instance: UserSession, state) =>
    state.storage.sql.exec(query).toArray(),
  );
}

async function addRule(who: Person, fields: Record<string, string> = {}, headers: Record<string, string> = {}) {
  return who.browser.post(
    "/activity/rules",
    { csrf: who.csrf, connection: who.connectionId, target: "github", rule: "allow-read", hours: "8", ...fields },
    headers,
  );
}

async function onlyRuleId(userId: string): Promise<string> {
  const live = await rows(userId, "SELECT id FROM standing_rules WHERE ended_at IS NULL");
  expect(live).toHaveLength(1);
  return live[0]?.id as string;
}

describe("an allow rule from /activity", () => {
  it("lets a matching call through with no request, audited as allowed by the rule", async () => {
    const who = await person();
    expect((await addRule(who)).status).toBe(303);
    const ruleId = await onlyRuleId(who.userId);
    const result = await callApi(who.token, READ);
    expect(result.error).toBeUndefined();
    expect(result.structured).toMatchObject({ status: 200, rule_id: ruleId });
    expect(result.structured?.grant_id).toBeUndefined();
    expect(seenAt(GH)).toHaveLength(1);
    expect(await rows(who.userId, "SELECT * FROM grants")).toEqual([]);
    const audit = await rows(who.userId, "SELECT event, actor, grant_id, detail FROM audit ORDER BY seq");
    const created = audit.find((entry) => entry.event === "rule_created");
    expect(created?.actor).toBe("human");
    const allowed = audit.filter((entry) => entry.event === "call_allowed");
    expect(allowed).toHaveLength(1);
    expect(allowed[0]?.grant_id).toBeNull();
    expect(JSON.parse(allowed[0]?.detail as string)).toMatchObject({ rule: ruleId, access: "read" });
    const completed = audit.find((entry) => entry.event === "call_completed");
    expect(JSON.parse(completed?.detail as string)).toMatchObject({ rule: ruleId, outcome: "sent" });
  });

  it("still asks for a call it does not cover (a write), sending nothing", async () => {
    const who = await person();
    await addRule(who, { connection: "all" });
    const result = await callApi(who.token, WRITE);
    expect(result.error?.code).toBe("access_required");
    expect(seenAt(GH)).toEqual([]);
  });

  it("asks again once the rule has ended, and the alarm marks it expired", async () => {
    const who = await person();
    await addRule(who);
    const stub = sessionFor(env.SESSION, who.userId);
    // The rule's end moves into the past, as the clock would; the alarm is due at once.
    await runInDurableObject(stub, async (_instance: UserSession, state) => {
      state.storage.sql.exec("UPDATE standing_rules SET ends_at = ?", Date.now() - 1);
      await state.storage.setAlarm(Date.now());
    });
    const result = await callApi(who.token, READ);
    expect(result.error?.code).toBe("access_required");
    expect(seenAt(GH)).toEqual([]);
    await runDurableObjectAlarm(stub);
    expect(await rows(who.userId, "SELECT end_reason FROM standing_rules")).toEqual([{ end_reason: "expired" }]);
    const expired = await rows(who.userId, "SELECT actor FROM audit WHERE event = 'rule_expired'");
    expect(expired).toEqual([{ actor: "system" }]);
  });

  it("refuses an allow rule that writes: that only comes from a write approval", async () => {
    const who = await person();
    const response = await addRule(who, { rule: "allow-write" });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("level_invalid");
    expect(await rows(who.userId, "SELECT * FROM standing_rules")).toEqual([]);
  });
});

describe("a never rule", () => {
  it("refuses a write under a live write grant with refused_by_rule, sending nothing", async () => {
    const who = await person();
    const asked = await askSession(who.token, { providers: ["github"], level: "write" });
    await decideOnPage(who.browser, asked.approval_url, "approve", { providers: ["github"], level: "write" });
    expect((await addRule(who, { rule: "never-write", connection: "all" })).status).toBe(303);
    const result = await callApi(who.token, WRITE);
    expect(result.error?.code).toBe("refused_by_rule");
    expect(seenAt(GH)).toEqual([]);
    // Reads are not what it refuses.
    expect((await callApi(who.token, READ)).structured?.status).toBe(200);
  });

  it("refuses request_elevated_access for what it covers, storing no request", async () => {
    const who = await person();
    await addRule(who, { rule: "never-write" });
    const broad = await tool(who.token, "request_elevated_access", {
      kind: "broad",
      level: "write",
      providers: ["github"],
      reason: "change things",
    });
    expect(broad.error?.code).toBe("refused_by_rule");
    const oneCall = await tool(who.token, "request_elevated_access", { kind: "call", ...WRITE, reason: "one issue" });
    expect(oneCall.error?.code).toBe("refused_by_rule");
    expect(await rows(who.userId, "SELECT * FROM grants")).toEqual([]);
    expect(await rows(who.userId, "SELECT * FROM audit WHERE event = 'requested'")).toEqual([]);
  });
});

describe("only the person makes rules", () => {
  it("no tool makes a rule, whatever rule-shaped arguments it is given", async () => {
    const who = await person();
    const listed = await mcpJson(await mcpRequest(who.token, { jsonrpc: "2.0", id: 1, method: "tools/list" }));
    const names = ((listed.result as { tools: { name: string }[] }).tools ?? []).map((listedTool) => listedTool.name);
    expect(names).toContain("request_elevated_access");
    const ruleShaped = {
      kind: "broad",
      rule: "allow-write",
      effect: "allow",
      standing: "yes",
      standing_hours: 24,
      hours: 24,
      level: "write",
      providers: ["github"],
      target: "github",
      connection: "all",
      reason: "make a standing rule",
      name: "rule",
      url: `${GH}/activity/rules`,
      method: "POST",
      request_id: "rule_1",
    };
    for (const name of names) await tool(who.token, name, ruleShaped);
    expect(await rows(who.userId, "SELECT * FROM standing_rules")).toEqual([]);
    expect(await rows(who.userId, "SELECT * FROM audit WHERE event LIKE 'rule_%'")).toEqual([]);
  });

  it("refuses forged and cross-site posts to every new form, changing nothing", async () => {
    const who = await person();
    await addRule(who);
    const ruleId = await onlyRuleId(who.userId);
    const asked = await askSession(who.token, { providers: ["github"], level: "read" });
    await decideOnPage(who.browser, asked.approval_url, "approve", { providers: ["github"], level: "read" });
    const forms: [string, Record<string, string>][] = [
      ["/activity/rules", { connection: "all", target: "github", rule: "never-read", hours: "8" }],
      [`/activity/rules/${ruleId}/remove`, {}],
      [`/activity/grants/${asked.request_id}/extend`, {}],
      ["/activity/revoke-everything", {}],
    ];
    const before = {
      rules: await rows(who.userId, "SELECT * FROM standing_rules"),
      grants: await rows(who.userId, "SELECT * FROM grants"),
      audit: await rows(who.userId, "SELECT COUNT(*) AS n FROM audit"),
    };
    for (const [path, fields] of forms) {
      const noCsrf = await who.browser.post(path, fields);
      expect(noCsrf.status).toBe(403);
      expect(await noCsrf.text()).toContain("csrf_invalid");
      const wrongCsrf = await who.browser.post(path, { ...fields, csrf: "forged" });
      expect(wrongCsrf.status).toBe(403);
      const crossSite = await who.browser.post(path, { ...fields, csrf: who.csrf }, { Origin: "https://evil.test" });
      expect(crossSite.status).toBe(403);
    }
    expect(await rows(who.userId, "SELECT * FROM standing_rules")).toEqual(before.rules);
    expect(await rows(who.userId, "SELECT * FROM grants")).toEqual(before.grants);
    expect(await rows(who.userId, "SELECT COUNT(*) AS n FROM audit")).toEqual(before.audit);
  });

  it("another person cannot remove your rule: it looks like one that does not exist", async () => {
    const ada = await person();
    const bob = await person();
    await addRule(ada);
    const ruleId = await onlyRuleId(ada.userId);
    const response = await bob.browser.post(`/activity/rules/${ruleId}/remove`, { csrf: bob.csrf });
    expect(response.status).toBe(404);
    expect(await onlyRuleId(ada.userId)).toBe(ruleId);
    // Nor can Bob name Ada's connection in a rule of his.
    const foreign = await addRule({ ...bob, connectionId: ada.connectionId });
    expect(foreign.status).toBe(400);
    expect(await rows(bob.userId, "SELECT * FROM standing_rules")).toEqual([]);
    // Ada can.
    expect((await ada.browser.post(`/activity/rules/${ruleId}/remove`, { csrf: ada.csrf })).status).toBe(303);
    expect(await rows(ada.userId, "SELECT end_reason FROM standing_rules")).toEqual([{ end_reason: "removed" }]);
  });
});

describe("the approval page's 'also allow this'", () => {
  it("makes an allow rule for this connection on what was approved, then calls need no request", async () => {
    const who = await person();
    const asked = await askSession(who.token, { providers: ["github"], level: "write" });
    const page = await who.browser.get(new URL(asked.approval_url).pathname + new URL(asked.approval_url).search);
    expect(await page.text()).toContain("without asking");
    // Approved narrower (read): the rule is read too, though write was asked.
    const decided = await decideOnPage(who.browser, asked.approval_url, "approve", {
      providers: ["github"],
      level: "read",
      standing: "yes",
      standing_hours: "8",
    });
    expect(decided.status).toBe(200);
    expect(await decided.text()).toContain("Also allowed without asking for 8 h");
    const made = await rows(
      who.userId,
      "SELECT connection_id, target, level, effect, source, grant_id FROM standing_rules",
    );
    expect(made).toEqual([
      {
        connection_id: who.connectionId,
        target: "github",
        level: "read",
        effect: "allow",
        source: "approval",
        grant_id: asked.request_id,
      },
    ]);
    await who.browser.post(`/activity/grants/${asked.request_id}/revoke`, { csrf: who.csrf });
    const result = await callApi(who.token, READ);
    expect(result.structured?.rule_id).toBeDefined();
    expect((await callApi(who.token, WRITE)).error?.code).toBe("access_required");
  });

  it("from a one-call write approval, allows writes on the call's provider for this connection", async () => {
    const who = await person();
    const asked = await tool(who.token, "request_elevated_access", { kind: "call", ...WRITE, reason: "one issue" });
    const url = asked.structured?.approval_url as string;
    const decided = await decideOnPage(who.browser, url, "approve", { standing: "yes", standing_hours: "1" });
    expect(decided.status).toBe(200);
    const made = await rows(who.userId, "SELECT connection_id, target, level, source FROM standing_rules");
    expect(made).toEqual([{ connection_id: who.connectionId, target: "github", level: "write", source: "approval" }]);
    // The approved call itself, then another write: both run, the second by the rule.
    expect((await callApi(who.token, WRITE)).structured?.grant_id).toBe(asked.structured?.request_id);
    const other = await callApi(who.token, { ...WRITE, body: '{"title":"another"}' });
    expect(other.structured?.rule_id).toBe(await onlyRuleId(who.userId));
    expect(seenAt(GH)).toHaveLength(2);
  });

  it("refuses a forged or cross-site approval carrying the box, storing no rule", async () => {
    const who = await person();
    const asked = await askSession(who.token, { providers: ["github"], level: "write" });
    const id = new URL(asked.approval_url).pathname.split("/").pop() as string;
    const t = new URL(asked.approval_url).searchParams.get("t") as string;
    const fields = {
      t,
      decision: "approve",
      providers: "github",
      level: "write",
      standing: "yes",
      standing_hours: "8",
    };
    expect((await who.browser.post(`/approve/${id}`, fields)).status).toBe(403);
    expect((await who.browser.post(`/approve/${id}`, { ...fields, csrf: "forged" })).status).toBe(403);
    const page = await who.browser.get(`/approve/${id}?t=${encodeURIComponent(t)}`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1] as string;
    const crossSite = await who.browser.post(`/approve/${id}`, { ...fields, csrf }, { Origin: "https://evil.test" });
    expect(crossSite.status).toBe(403);
    expect(await rows(who.userId, "SELECT status FROM grants")).toEqual([{ status: "pending" }]);
    expect(await rows(who.userId, "SELECT * FROM standing_rules")).toEqual([]);
  });

  it("refuses hours that are not offered, deciding nothing", async () => {
    const who = await person();
    const asked = await askSession(who.token, { providers: ["github"], level: "read" });
    const refused = await decideOnPage(who.browser, asked.approval_url, "approve", {
      providers: ["github"],
      level: "read",
      standing: "yes",
      standing_hours: "9999",
    });
    expect(refused.status).toBe(400);
    expect(await rows(who.userId, "SELECT status FROM grants")).toEqual([{ status: "pending" }]);
    expect(await rows(who.userId, "SELECT * FROM standing_rules")).toEqual([]);
  });
});

describe("/activity: +15 min and Revoke everything", () => {
  it("adds 15 minutes to a live grant, and refuses a pending one", async () => {
    const who = await person();
    const asked = await askSession(who.token, { providers: ["github"], level: "read" });
    await decideOnPage(who.browser, asked.approval_url, "approve", { providers: ["github"], level: "read" });
    const [before] = await rows(who.userId, "SELECT expires_at FROM grants");
    const page = await (await who.browser.get("/activity")).text();
    expect(page).toContain("+15 min");
    expect(page).toContain("Standing rules");
    const response = await who.browser.post(`/activity/grants/${asked.request_id}/extend`, { csrf: who.csrf });
    expect(response.status).toBe(303);
    const [after] = await rows(who.userId, "SELECT expires_at FROM grants");
    expect((after?.expires_at as number) - (before?.expires_at as number)).toBe(15 * 60_000);
    const pending = await askSession(who.token, { providers: ["github"], level: "write" });
    const refused = await who.browser.post(`/activity/grants/${pending.request_id}/extend`, { csrf: who.csrf });
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain("not_live");
  });

  it("revokes every grant and every allow rule, keeping never rules", async () => {
    const who = await person();
    const asked = await askSession(who.token, { providers: ["github"], level: "read" });
    await decideOnPage(who.browser, asked.approval_url, "approve", { providers: ["github"], level: "read" });
    await askSession(who.token, { providers: ["linear"], level: "read" });
    await addRule(who);
    await addRule(who, { rule: "never-write" });
    const response = await who.browser.post("/activity/revoke-everything", { csrf: who.csrf });
    expect(response.status).toBe(303);
    expect(await rows(who.userId, "SELECT DISTINCT status FROM grants")).toEqual([{ status: "revoked" }]);
    const rules = await rows(who.userId, "SELECT effect, end_reason FROM standing_rules ORDER BY effect");
    expect(rules).toEqual([
      { effect: "allow", end_reason: "revoked_all" },
      { effect: "never", end_reason: null },
    ]);
    expect((await callApi(who.token, READ)).error?.code).toBe("access_required");
  });
});

describe("standing rules on an upstream MCP server", () => {
  it("allow and never rules decide upstream tool calls exactly as provider calls", async () => {
    const upstream = new FakeUpstream().install();
    upstream.auth = { kind: "none" };
    const base = await signedInPerson(idp, "rules-up");
    await tool(base.token, "add_mcp_server", { name: "notes", url: `${MCP_ORIGIN}/mcp` });
    expect((await serverAction(base, "notes", "reads", { tools: ["read_notes"] })).status).toBe(303);
    const config = loadConfig(env);
    if (!config.ok) throw new Error("config");
    const who = { ...base, csrf: await csrfToken(config.value, base.userId, "activity") };
    const post = (fields: Record<string, string>) =>
      who.browser.post("/activity/rules", {
        csrf: who.csrf,
        connection: "all",
        target: "notes",
        hours: "8",
        ...fields,
      });

    expect((await tool(who.token, "notes__read_notes", {})).error?.code).toBe("access_required");
    expect((await post({ rule: "allow-read" })).status).toBe(303);
    const read = await tool(who.token, "notes__read_notes", {});
    expect(read.error).toBeUndefined();
    expect((await tool(who.token, "notes__write_note", {})).error?.code).toBe("access_required");
    expect(upstream.calls.map((call) => call.tool)).toEqual(["read_notes"]);
    const allowed = await rows(who.userId, "SELECT grant_id, detail FROM audit WHERE event = 'call_allowed'");
    expect(allowed.map((entry) => [entry.grant_id, JSON.parse(entry.detail as string).rule])).toEqual([
      [null, expect.stringMatching(/^rule_/)],
    ]);

    expect((await post({ rule: "never-read" })).status).toBe(303);
    expect((await tool(who.token, "notes__read_notes", {})).error?.code).toBe("refused_by_rule");
    expect(upstream.calls).toHaveLength(1);
  });
});
