/**
 * Standing rules over a real Durable Object's SQL (workerd): making (capped, audited), the call
 * decision and requests through the grant book, expiry by the object's alarm, and the person's
 * "+15 min" and "Revoke everything". Each test runs in a fresh object.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { EXTEND_STEP_MS } from "../../../src/grants/extension";
import { MAX_LIVE_RULES, type RuleInput } from "../../../src/grants/standing-rules";
import type { ClassifiedCall } from "../../../src/grants/types";
import { Alarm } from "../../../src/session/alarm";
import { AuditLog } from "../../../src/session/audit-log";
import { type AccessRequestInput, GrantBook } from "../../../src/session/grant-book";
import { GrantStore } from "../../../src/session/grant-store";
import { OwnerActions } from "../../../src/session/owner-actions";
import { StandingRuleStore } from "../../../src/session/standing-rule-store";
import type { UserSession } from "../../../src/session/user-session";
import { POLICY } from "../../helpers/grant-fixtures";

const LINK = "link-token-hash";

interface Room {
  book: GrantBook;
  rules: StandingRuleStore;
  owner: OwnerActions;
  state: DurableObjectState;
  rows: (sql: string) => Record<string, SqlStorageValue>[];
}

function inRoom<T>(body: (room: Room) => Promise<T> | T) {
  const stub = env.SESSION.get(env.SESSION.idFromName(`rules-${crypto.randomUUID()}`));
  const result = runInDurableObject(stub, (_instance: UserSession, state) => {
    const sql = state.storage.sql;
    const audit = new AuditLog(sql);
    const rules = new StandingRuleStore(sql, audit);
    const grants = new GrantStore(sql);
    const alarm = new Alarm(state.storage, [() => grants.nextDeadline(), () => rules.nextDeadline()]);
    const book = new GrantBook(grants, audit, alarm, () => POLICY, rules);
    const owner = new OwnerActions(
      grants,
      book,
      rules,
      () => POLICY,
      () => 24,
    );
    return body({ book, rules, owner, state, rows: (query) => sql.exec(query).toArray() });
  });
  return { stub, result };
}

const rule = (overrides: Partial<RuleInput> = {}): RuleInput => ({
  connectionId: "conn-a",
  target: "github",
  level: "read",
  effect: "allow",
  source: "activity",
  grantId: null,
  hours: 8,
  ...overrides,
});

let ids = 0;
const ask = (overrides: Partial<AccessRequestInput> = {}): AccessRequestInput => ({
  id: `req_${++ids}`,
  linkTokenHash: LINK,
  kind: "broad",
  connectionId: "conn-a",
  clientName: "Claude",
  reason: "triage",
  level: "write",
  providers: ["github"],
  durationSeconds: 300,
  call: null,
  callFingerprint: null,
  ...overrides,
});

const read: ClassifiedCall = {
  provider: "github",
  access: "read",
  fingerprint: "fp-read",
  call: { method: "GET", url: "https://api.github.com/user", body: "", headers: [] },
};
const write: ClassifiedCall = {
  ...read,
  access: "write",
  fingerprint: "fp-write",
  call: { ...read.call, method: "POST" },
};

describe("StandingRuleStore.create", () => {
  it("stores a rule and audits it as the person's", async () => {
    await inRoom((room) => {
      const created = room.rules.create(rule(), 24, Date.now());
      expect(created.ok).toBe(true);
      expect(room.rows("SELECT target, level, effect, ended_at FROM standing_rules")).toEqual([
        { target: "github", level: "read", effect: "allow", ended_at: null },
      ]);
      expect(room.rows("SELECT event, actor FROM audit")).toEqual([{ event: "rule_created", actor: "human" }]);
    }).result;
  });

  it(`refuses the rule past ${MAX_LIVE_RULES} live ones with too_many_rules, storing nothing`, async () => {
    await inRoom((room) => {
      const now = Date.now();
      for (let i = 0; i < MAX_LIVE_RULES; i++) expect(room.rules.create(rule(), 24, now).ok).toBe(true);
      expect(room.rules.create(rule(), 24, now)).toEqual({ ok: false, code: "too_many_rules" });
      expect(room.rows("SELECT COUNT(*) AS n FROM standing_rules")).toEqual([{ n: MAX_LIVE_RULES }]);
      expect(room.rows("SELECT COUNT(*) AS n FROM audit")).toEqual([{ n: MAX_LIVE_RULES }]);
    }).result;
  });

  const refusals: [string, Partial<RuleInput>, string][] = [
    ["a write allow rule from /activity", { level: "write" }, "write_rule_needs_approval"],
    ["hours over the cap", { hours: 25 }, "hours_invalid"],
    ["another person's or an unknown connection", { connectionId: "conn-x" }, "unknown_connection"],
    ["an unknown provider", { target: "gitlab" }, "unknown_target"],
  ];
  for (const [label, overrides, code] of refusals) {
    it(`refuses ${label} with ${code}, storing and auditing nothing`, async () => {
      await inRoom((room) => {
        const known = { connections: ["conn-a"], targets: ["github"] };
        expect(room.rules.create(rule(overrides), 24, Date.now(), known)).toEqual({ ok: false, code });
        expect(room.rows("SELECT * FROM standing_rules")).toEqual([]);
        expect(room.rows("SELECT * FROM audit")).toEqual([]);
      }).result;
    });
  }
});

describe("GrantBook with standing rules", () => {
  it("lets a covered call run with no grant, audited with the rule's id", async () => {
    await inRoom((room) => {
      const created = room.rules.create(rule(), 24, Date.now());
      const id = created.ok ? created.rule.id : "";
      expect(room.book.authorizeCall(read, "conn-a")).toEqual({ allow: true, grantId: null, ruleId: id, kind: null });
      expect(room.book.authorizeCall(write, "conn-a")).toEqual({ allow: false, reason: "no_grant" });
      expect(room.book.authorizeCall(read, "conn-b")).toEqual({ allow: false, reason: "no_grant" });
      const allowed = room.rows("SELECT grant_id, detail FROM audit WHERE event = 'call_allowed'");
      expect(allowed).toHaveLength(1);
      expect(allowed[0]?.grant_id).toBeNull();
      expect(JSON.parse(allowed[0]?.detail as string)).toMatchObject({ rule: id, provider: "github", access: "read" });
    }).result;
  });

  it("refuses an ask a never rule covers with refused_by_rule, writing nothing", async () => {
    await inRoom((room) => {
      const now = Date.now();
      room.rules.create(rule({ effect: "never", level: "write", connectionId: null }), 24, now);
      const before = room.rows("SELECT COUNT(*) AS n FROM audit");
      expect(room.rules.refuseAsk(["linear", "github"], "write", "conn-a", now)).toMatchObject({
        ok: false,
        code: "refused_by_rule",
      });
      expect(room.rows("SELECT COUNT(*) AS n FROM audit")).toEqual(before);
      // A read ask, another target, or a rule that has ended: not what it refuses.
      expect(room.rules.refuseAsk(["github"], "read", "conn-a", now)).toBeNull();
      expect(room.rules.refuseAsk(["linear"], "write", "conn-a", now)).toBeNull();
      expect(room.rules.refuseAsk(["github"], "write", "conn-a", now + 24 * 3_600_000)).toBeNull();
    }).result;
  });

  it("aims the alarm at a rule's end, and the alarm expires it as the system", async () => {
    const { stub, result } = inRoom(async (room) => {
      const created = room.rules.create(rule(), 24, Date.now());
      const endsAt = created.ok ? created.rule.endsAt : 0;
      await room.book.schedule();
      expect(await room.state.storage.getAlarm()).toBe(endsAt);
      // Move the rule's end into the past, as the clock would.
      room.state.storage.sql.exec("UPDATE standing_rules SET ends_at = ?", Date.now() - 1);
      await room.book.schedule();
    });
    await result;
    await runDurableObjectAlarm(stub);
    await runInDurableObject(stub, async (_instance: UserSession, state) => {
      const sql = state.storage.sql;
      expect(sql.exec("SELECT end_reason FROM standing_rules").toArray()).toEqual([{ end_reason: "expired" }]);
      expect(sql.exec("SELECT event, actor FROM audit ORDER BY seq").toArray()).toEqual([
        { event: "rule_created", actor: "human" },
        { event: "rule_expired", actor: "system" },
      ]);
      expect(await state.storage.getAlarm()).toBeNull();
    });
  });
});

describe("GrantBook.extendByOwner", () => {
  async function liveGrant(room: Room, kind: "broad" | "call" = "broad", seconds = 300) {
    const asked = await room.book.requestAccess(
      ask(kind === "call" ? { kind, call: write.call, callFingerprint: write.fingerprint } : {}),
    );
    if (!asked.ok) throw new Error("ask");
    const input = { providers: ["github"], level: "write" as const, durationSeconds: seconds, note: null };
    const decided = await room.book.decide(asked.grant.id, LINK, { kind: "approve", input });
    if (!decided.ok) throw new Error("decide");
    return decided.grant;
  }

  it("adds 15 minutes to a live broad grant, audited as the person", async () => {
    await inRoom(async (room) => {
      const grant = await liveGrant(room);
      const extended = await room.owner.extend(grant.id);
      expect(extended.ok && extended.grant.expiresAt).toBe((grant.expiresAt as number) + EXTEND_STEP_MS);
      expect(room.rows("SELECT event, actor FROM audit ORDER BY seq DESC LIMIT 1")).toEqual([
        { event: "extended", actor: "human" },
      ]);
      expect(await room.state.storage.getAlarm()).toBe((grant.expiresAt as number) + EXTEND_STEP_MS);
    }).result;
  });

  it("never goes past GRANT_MAX_MINUTES from now, then refuses with at_limit", async () => {
    await inRoom(async (room) => {
      const grant = await liveGrant(room, "broad", POLICY.maxDurationSeconds);
      const before = Date.now();
      expect(await room.owner.extend(grant.id)).toEqual({ ok: false, code: "at_limit" });
      expect(room.rows(`SELECT expires_at FROM grants WHERE id = '${grant.id}'`)).toEqual([
        { expires_at: grant.expiresAt },
      ]);
      expect((grant.expiresAt as number) - before).toBeLessThanOrEqual(POLICY.maxDurationSeconds * 1000);
    }).result;
  });

  it("refuses a call grant, a pending request and an unknown id, changing nothing", async () => {
    await inRoom(async (room) => {
      const oneCall = await liveGrant(room, "call");
      expect(await room.owner.extend(oneCall.id)).toEqual({ ok: false, code: "not_extendable" });
      const pending = await room.book.requestAccess(ask({ providers: ["linear"] }));
      expect(await room.owner.extend(pending.ok ? pending.grant.id : "")).toEqual({
        ok: false,
        code: "not_live",
      });
      expect(await room.owner.extend("req_nope")).toEqual({ ok: false, code: "not_found" });
      expect(room.rows("SELECT COUNT(*) AS n FROM audit WHERE event = 'extended'")).toEqual([{ n: 0 }]);
    }).result;
  });
});

describe("Revoke everything", () => {
  it("revokes every open grant of every connection and ends allow rules, keeping never rules", async () => {
    await inRoom(async (room) => {
      const now = Date.now();
      await room.book.requestAccess(ask());
      await room.book.requestAccess(ask({ connectionId: "conn-b" }));
      room.rules.create(rule(), 24, now);
      room.rules.create(rule({ effect: "never", level: "write" }), 24, now);
      expect(await room.owner.revokeEverything()).toEqual({ grants: 2, rules: 1 });
      expect(room.rows("SELECT DISTINCT status FROM grants")).toEqual([{ status: "revoked" }]);
      expect(room.rules.live(Date.now()).map((live) => live.effect)).toEqual(["never"]);
    }).result;
  });
});
