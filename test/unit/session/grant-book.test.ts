/**
 * The grant book over a real Durable Object's SQL (workerd): asking and coalescing, the caps,
 * deciding and consuming exactly once, expiry by the alarm, revoking, and waking waiters. Each test
 * builds its own book inside a fresh object, so no state is shared between tests.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { REQUESTS_PER_WINDOW } from "../../../src/grants/rules";
import type { ClassifiedCall, GrantPolicy } from "../../../src/grants/types";
import { Alarm } from "../../../src/session/alarm";
import { AuditLog } from "../../../src/session/audit-log";
import { type AccessRequestInput, GrantBook } from "../../../src/session/grant-book";
import { GrantStore } from "../../../src/session/grant-store";
import type { UserSession } from "../../../src/session/user-session";
import { POLICY } from "../../helpers/grant-fixtures";

const LINK = "link-token-hash";

interface Room {
  book: GrantBook;
  state: DurableObjectState;
  rows: (sql: string) => Record<string, SqlStorageValue>[];
}

/** Run `body` inside a fresh Durable Object with a grant book of its own over that object's SQL. */
function inBook<T>(body: (room: Room) => Promise<T> | T, policy: Partial<GrantPolicy> = {}) {
  const stub = env.SESSION.get(env.SESSION.idFromName(`book-${crypto.randomUUID()}`));
  const result = runInDurableObject(stub, (_instance: UserSession, state) => {
    const sql = state.storage.sql;
    const grants = new GrantStore(sql);
    const alarm = new Alarm(state.storage, [() => grants.nextDeadline()]);
    const book = new GrantBook(grants, new AuditLog(sql), alarm, () => ({ ...POLICY, ...policy }));
    return body({ book, state, rows: (query) => sql.exec(query).toArray() });
  });
  return { stub, result };
}

let ids = 0;
function ask(overrides: Partial<AccessRequestInput> = {}): AccessRequestInput {
  return {
    id: `req_${++ids}`,
    linkTokenHash: LINK,
    kind: "broad",
    connectionId: "conn-a",
    clientName: "Claude",
    reason: "triage",
    level: "read",
    providers: ["github"],
    durationSeconds: 300,
    call: null,
    callFingerprint: null,
    ...overrides,
  };
}

const approval = (providers = ["github"], level: "read" | "write" = "read") => ({
  kind: "approve" as const,
  input: { providers, level, durationSeconds: 300, note: null },
});

const call: ClassifiedCall = {
  provider: "github",
  access: "write",
  fingerprint: "fp-issue",
  call: { method: "POST", url: "https://api.github.com/repos/a/b/issues", body: "{}", headers: [] },
};

const events = (room: Room) => room.rows("SELECT event FROM audit ORDER BY seq").map((row) => row.event);

describe("GrantBook.requestAccess", () => {
  it("coalesces a duplicate pending request of the same connection into the first, with no new row or audit", async () => {
    await inBook(async (room) => {
      const first = await room.book.requestAccess(ask({ providers: ["github", "linear"] }));
      const again = await room.book.requestAccess(ask({ providers: ["linear", "github"] }));
      expect(first.ok && !first.coalesced).toBe(true);
      expect(again.ok && again.coalesced && again.grant.id).toBe(first.ok && first.grant.id);
      expect(room.rows("SELECT id FROM grants")).toHaveLength(1);
      expect(events(room)).toEqual(["requested"]);
    }).result;
  });

  it("does not coalesce across connections, shapes, or with a request already decided", async () => {
    await inBook(async (room) => {
      const first = await room.book.requestAccess(ask());
      expect((await room.book.requestAccess(ask({ connectionId: "conn-b" }))).ok).toBe(true);
      expect((await room.book.requestAccess(ask({ level: "write" }))).ok).toBe(true);
      if (!first.ok) throw new Error("first request refused");
      expect((await room.book.decide(first.grant.id, LINK, { kind: "deny", note: null })).ok).toBe(true);
      const after = await room.book.requestAccess(ask());
      expect(after.ok && !after.coalesced && after.grant.id).not.toBe(first.grant.id);
      expect(room.rows("SELECT id FROM grants")).toHaveLength(4);
    }).result;
  });

  it("refuses a request past the pending cap, storing and auditing nothing", async () => {
    await inBook(
      async (room) => {
        for (const connectionId of ["c1", "c2", "c3"])
          expect((await room.book.requestAccess(ask({ connectionId }))).ok).toBe(true);
        const refused = await room.book.requestAccess(ask({ connectionId: "c4" }));
        expect(refused).toEqual({
          ok: false,
          code: "rate_limited",
          message: expect.stringContaining("3 requests waiting"),
        });
        expect(room.rows("SELECT id FROM grants")).toHaveLength(3);
        expect(events(room)).toEqual(["requested", "requested", "requested"]);
      },
      { maxPendingPerUser: 3 },
    ).result;
  });

  it("refuses one connection's flood past the window while another connection may still ask", async () => {
    await inBook(
      async (room) => {
        for (let i = 0; i < REQUESTS_PER_WINDOW; i++) {
          expect((await room.book.requestAccess(ask({ providers: [`p${i}`] }))).ok).toBe(true);
        }
        const refused = await room.book.requestAccess(ask({ providers: ["one-more"] }));
        expect(!refused.ok && refused.message).toContain("Too many access requests");
        expect(room.rows("SELECT id FROM grants")).toHaveLength(REQUESTS_PER_WINDOW);
        expect((await room.book.requestAccess(ask({ connectionId: "conn-b" }))).ok).toBe(true);
      },
      { maxPendingPerUser: 1000 },
    ).result;
  });
});

describe("GrantBook.decide", () => {
  it("lets exactly one of 20 parallel approvals and denials win, audited once", async () => {
    await inBook(async (room) => {
      const asked = await room.book.requestAccess(ask());
      if (!asked.ok) throw new Error("request refused");
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          room.book.decide(asked.grant.id, LINK, i % 2 === 0 ? approval() : { kind: "deny", note: null }),
        ),
      );
      expect(results.filter((result) => result.ok)).toHaveLength(1);
      expect(results.filter((result) => !result.ok && result.code === "conflict")).toHaveLength(19);
      expect(events(room).filter((event) => event === "approved" || event === "denied")).toHaveLength(1);
    }).result;
  });

  it("answers not_found for a wrong link token and changes nothing", async () => {
    await inBook(async (room) => {
      const asked = await room.book.requestAccess(ask());
      if (!asked.ok) throw new Error("request refused");
      expect(await room.book.decide(asked.grant.id, "wrong-hash", approval())).toEqual({
        ok: false,
        code: "not_found",
      });
      expect(room.rows("SELECT status FROM grants")).toEqual([{ status: "pending" }]);
      expect(events(room)).toEqual(["requested"]);
    }).result;
  });
});

describe("GrantBook.authorizeCall", () => {
  it("consumes a call grant exactly once when ten uses race", async () => {
    await inBook(async (room) => {
      const asked = await room.book.requestAccess(
        ask({ kind: "call", level: "write", call: call.call, callFingerprint: call.fingerprint }),
      );
      if (!asked.ok) throw new Error("request refused");
      expect((await room.book.decide(asked.grant.id, LINK, approval(["github"], "write"))).ok).toBe(true);
      const uses = await Promise.all(
        Array.from({ length: 10 }, () =>
          Promise.resolve().then(() => room.book.authorizeCall(call, "conn-a", asked.grant.id)),
        ),
      );
      expect(uses.filter((use) => use.allow)).toHaveLength(1);
      expect(uses.filter((use) => !use.allow && use.reason === "consumed")).toHaveLength(9);
      expect(room.rows("SELECT status FROM grants")).toEqual([{ status: "consumed" }]);
      expect(events(room).filter((event) => event === "call_allowed")).toHaveLength(1);
    }).result;
  });

  it("never lets another connection use a grant", async () => {
    await inBook(async (room) => {
      const asked = await room.book.requestAccess(ask({ level: "write" }));
      if (!asked.ok) throw new Error("request refused");
      await room.book.decide(asked.grant.id, LINK, approval(["github"], "write"));
      expect(room.book.authorizeCall(call, "conn-b")).toEqual({ allow: false, reason: "no_grant" });
      expect(room.book.authorizeCall(call, "conn-a")).toMatchObject({ allow: true, grantId: asked.grant.id });
    }).result;
  });
});

describe("GrantBook expiry", () => {
  it("expires a due request when the object's alarm runs, and clears the alarm", async () => {
    const { stub, result } = inBook(
      async (room) => {
        const asked = await room.book.requestAccess(ask());
        expect(await room.state.storage.getAlarm()).not.toBeNull();
        return asked.ok ? asked.grant.id : null;
      },
      { pendingTtlSeconds: 0 },
    );
    const id = await result;
    // The alarm is due at once, so workerd may already have run it; either way only the alarm
    // handler (expireDue) writes an "expired" row, which is what is checked below.
    await runDurableObjectAlarm(stub);
    await runInDurableObject(stub, async (_instance: UserSession, state) => {
      const sql = state.storage.sql;
      expect(sql.exec("SELECT id, status FROM grants").toArray()).toEqual([{ id, status: "expired" }]);
      expect(sql.exec("SELECT event, actor FROM audit ORDER BY seq").toArray()).toEqual([
        { event: "requested", actor: "agent" },
        { event: "expired", actor: "system" },
      ]);
      expect(await state.storage.getAlarm()).toBeNull();
    });
  });
});

describe("GrantBook revoking", () => {
  it("lets the owner revoke any grant, audited as the human", async () => {
    await inBook(async (room) => {
      const asked = await room.book.requestAccess(ask());
      if (!asked.ok) throw new Error("request refused");
      expect((await room.book.revokeByOwner(asked.grant.id))?.status).toBe("revoked");
      expect(room.rows("SELECT event, actor FROM audit ORDER BY seq").at(-1)).toEqual({
        event: "revoked",
        actor: "human",
      });
      expect(await room.book.revokeByOwner("no-such-grant")).toBeNull();
    }).result;
  });

  it("lets a connection revoke only its own grants, audited as the agent", async () => {
    await inBook(async (room) => {
      const mine = await room.book.requestAccess(ask());
      const theirs = await room.book.requestAccess(ask({ connectionId: "conn-b" }));
      if (!mine.ok || !theirs.ok) throw new Error("request refused");
      expect(await room.book.revokeForConnection("conn-a", theirs.grant.id)).toBeNull();
      expect(room.rows("SELECT status FROM grants WHERE connection_id = 'conn-b'")).toEqual([{ status: "pending" }]);
      const revoked = await room.book.revokeForConnection("conn-a");
      expect(revoked?.revoked.map((grant) => grant.id)).toEqual([mine.grant.id]);
      expect(room.rows("SELECT event, actor FROM audit WHERE event = 'revoked'")).toEqual([
        { event: "revoked", actor: "agent" },
      ]);
      expect(room.rows("SELECT status FROM grants WHERE connection_id = 'conn-b'")).toEqual([{ status: "pending" }]);
    }).result;
  });

  it("ends the grants naming a disconnected provider, pending by request and approved by approval", async () => {
    await inBook(async (room) => {
      const pending = await room.book.requestAccess(ask({ providers: ["github", "linear"] }));
      const approved = await room.book.requestAccess(ask({ connectionId: "conn-b", providers: ["github", "linear"] }));
      if (!pending.ok || !approved.ok) throw new Error("request refused");
      await room.book.decide(approved.grant.id, LINK, approval(["linear"]));
      await room.book.endNaming("github");
      expect(room.rows("SELECT id, status FROM grants ORDER BY connection_id")).toEqual([
        { id: pending.grant.id, status: "revoked" },
        { id: approved.grant.id, status: "approved" },
      ]);
    }).result;
  });
});

describe("GrantBook.waitForDecision", () => {
  it("wakes every waiter when the person decides, without waiting for the timeout", async () => {
    await inBook(async (room) => {
      const asked = await room.book.requestAccess(ask());
      if (!asked.ok) throw new Error("request refused");
      const waiting = Promise.all([
        room.book.waitForDecision(asked.grant.id, "conn-a", 60_000),
        room.book.waitForDecision(asked.grant.id, "conn-a", 60_000),
      ]);
      await room.book.decide(asked.grant.id, LINK, approval());
      const woken = await waiting;
      expect(woken.map((grant) => grant?.status)).toEqual(["approved", "approved"]);
    }).result;
  });

  it("wakes a waiter when the agent withdraws the request, and shows another connection nothing", async () => {
    await inBook(async (room) => {
      const asked = await room.book.requestAccess(ask());
      if (!asked.ok) throw new Error("request refused");
      expect(await room.book.waitForDecision(asked.grant.id, "conn-b", 60_000)).toBeNull();
      const waiting = room.book.waitForDecision(asked.grant.id, "conn-a", 60_000);
      await room.book.revokeForConnection("conn-a", asked.grant.id);
      expect((await waiting)?.status).toBe("revoked");
    }).result;
  });
});
