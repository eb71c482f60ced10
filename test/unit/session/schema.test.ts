/**
 * The Durable Object's migrations over real SQL (workerd): a fresh object lands on the latest
 * version, re-running is a no-op, and the step that renamed the one-call grant kind from `request`
 * to `call` carries stored grants over so they still decide, consume and coalesce as before.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { requestKey } from "../../../src/grants/rules";
import type { ClassifiedCall } from "../../../src/grants/types";
import { Alarm } from "../../../src/session/alarm";
import { AuditLog } from "../../../src/session/audit-log";
import { GrantBook } from "../../../src/session/grant-book";
import { GrantStore } from "../../../src/session/grant-store";
import { MIGRATIONS, migrate } from "../../../src/session/schema";
import type { UserSession } from "../../../src/session/user-session";
import { POLICY } from "../../helpers/grant-fixtures";

const call: ClassifiedCall = {
  provider: "github",
  access: "write",
  call: { method: "POST", url: "https://api.github.com/repos/a/b/issues", body: '{"title":"t"}', headers: [] },
  fingerprint: "fp-legacy",
};

/** Run `body` inside a fresh Durable Object, over its SQL. */
function inObject<T>(body: (sql: SqlStorage, storage: DurableObjectStorage) => T | Promise<T>): Promise<T> {
  const stub = env.SESSION.get(env.SESSION.idFromName(`schema-${crypto.randomUUID()}`));
  return runInDurableObject(stub, (_instance: UserSession, state) => body(state.storage.sql, state.storage));
}

const version = (sql: SqlStorage) => sql.exec<{ version: number }>("SELECT version FROM schema_version").one().version;

/** A grant row as the schema before the rename stored it: kind `request` and its old coalescing key. */
function insertLegacy(sql: SqlStorage, id: string, status: "pending" | "approved", now: number): void {
  const oldKey = JSON.stringify(["request", "write", ["github"], 300, call.fingerprint]);
  sql.exec(
    `INSERT INTO grants (id, kind, status, connection_id, client_name, reason, requested_level, requested_providers,
       requested_duration_s, call, call_fingerprint, level, providers, duration_s, requested_at, pending_expires_at,
       decided_at, expires_at, link_token_hash, request_key)
     VALUES (?, 'request', ?, 'conn-a', 'Claude', 'why', 'write', '["github"]', 300, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'h', ?)`,
    id,
    status,
    JSON.stringify(call.call),
    call.fingerprint,
    status === "approved" ? "write" : null,
    status === "approved" ? '["github"]' : "[]",
    status === "approved" ? 300 : null,
    now,
    now + 600_000,
    status === "approved" ? now : null,
    status === "approved" ? now + 300_000 : null,
    oldKey,
  );
}

describe("migrate", () => {
  it("brings a fresh object to the latest version, and running again changes nothing", async () => {
    await inObject((sql) => {
      expect(version(sql)).toBe(MIGRATIONS.length);
      migrate(sql);
      expect(version(sql)).toBe(MIGRATIONS.length);
      expect(sql.exec("SELECT COUNT(*) AS n FROM schema_version").one().n).toBe(1);
    });
  });

  it("renames stored one-call grants to kind call, so they still consume and coalesce", async () => {
    await inObject(async (sql, storage) => {
      // Rebuild the object as it stood just before the rename: every step before it, no later one.
      const rename = MIGRATIONS.findIndex((step) => step.includes("SET kind = 'call'"));
      expect(rename).toBeGreaterThan(0);
      await storage.deleteAll();
      sql.exec("CREATE TABLE schema_version (version INTEGER NOT NULL)");
      sql.exec("INSERT INTO schema_version (version) VALUES (?)", rename);
      for (const step of MIGRATIONS.slice(0, rename)) sql.exec(step);
      const now = Date.now();
      insertLegacy(sql, "req_live", "approved", now);
      insertLegacy(sql, "req_wait", "pending", now);
      migrate(sql);

      expect(version(sql)).toBe(MIGRATIONS.length);
      const rows = sql.exec("SELECT id, kind, request_key FROM grants ORDER BY id").toArray();
      const newKey = requestKey({
        kind: "call",
        level: "write",
        providers: ["github"],
        durationSeconds: 300,
        callFingerprint: call.fingerprint,
      });
      expect(rows).toEqual([
        { id: "req_live", kind: "call", request_key: newKey },
        { id: "req_wait", kind: "call", request_key: newKey },
      ]);

      const grants = new GrantStore(sql);
      const book = new GrantBook(
        grants,
        new AuditLog(sql),
        new Alarm(storage, [() => grants.nextDeadline()]),
        () => POLICY,
      );
      // The migrated pending request still coalesces with the same ask made under the new name.
      const again = await book.requestAccess({
        id: "req_new",
        linkTokenHash: "h",
        kind: "call",
        connectionId: "conn-a",
        clientName: "Claude",
        reason: "again",
        level: "write",
        providers: ["github"],
        durationSeconds: 300,
        call: call.call,
        callFingerprint: call.fingerprint,
      });
      expect(again.ok && again.coalesced && again.grant.id).toBe("req_wait");
      // The migrated approved grant still allows its one call, once.
      expect(book.authorizeCall(call, "conn-a")).toMatchObject({ allow: true, grantId: "req_live", kind: "call" });
      expect(book.authorizeCall(call, "conn-a")).toEqual({ allow: false, reason: "no_grant" });
      expect(sql.exec("SELECT COUNT(*) AS n FROM grants WHERE kind = 'request'").one().n).toBe(0);
    });
  });
});
