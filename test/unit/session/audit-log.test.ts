/**
 * The audit log over a real Durable Object's SQL (workerd): entries keep time order, so an entry
 * stamped before the newest one (a clock moved back, a caller that read the clock early) is
 * stored at the newest entry's time, and one stamped later keeps its own.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { AuditLog } from "../../../src/session/audit-log";
import type { UserSession } from "../../../src/session/user-session";

const T = 1_800_000_000_000;

const entry = (at: number, event: "requested" | "expired" = "requested") => ({
  at,
  event,
  actor: "system" as const,
  grantId: "req_1",
  connectionId: "conn-a",
  clientName: null,
  detail: {},
});

function inLog<T>(body: (log: AuditLog, sql: SqlStorage) => T) {
  const stub = env.SESSION.get(env.SESSION.idFromName(`audit-${crypto.randomUUID()}`));
  return runInDurableObject(stub, (_instance: UserSession, state) =>
    body(new AuditLog(state.storage.sql), state.storage.sql),
  );
}

describe("AuditLog.append", () => {
  it("stores an entry stamped before the newest one at the newest one's time, never earlier", async () => {
    await inLog((log, sql) => {
      log.append(entry(T));
      log.append(entry(T - 5_000));
      log.append(entry(T - 1));
      log.append(entry(T + 10, "expired"));
      log.append(entry(T + 3));
      const rows = sql.exec<{ seq: number; at: number }>("SELECT seq, at FROM audit ORDER BY seq").toArray();
      expect(rows.map((row) => row.at)).toEqual([T, T, T, T + 10, T + 10]);
      expect(log.list(10).map((listed) => listed.at)).toEqual([T + 10, T + 10, T, T, T]);
    });
  });

  it("keeps the time of the first entry and of every later one as given", async () => {
    await inLog((log) => {
      for (const at of [T, T, T + 1, T + 500]) log.append(entry(at));
      expect(
        log
          .list(10)
          .map((listed) => listed.at)
          .reverse(),
      ).toEqual([T, T, T + 1, T + 500]);
    });
  });
});
