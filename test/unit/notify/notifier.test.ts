/**
 * The notifier over a real Durable Object's SQL (workerd), for what the Worker-level tests cannot
 * reach: a delivery whose attempt throws (a bug, a bad key) is retried with backoff and never
 * left due in the past, where it would wake the alarm again and again; and a request that is no
 * longer pending is dropped unsent.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../src/config";
import type { Grant } from "../../../src/grants/types";
import { BACKOFF_MS, Notifier } from "../../../src/notify/notifier";
import { NotifyStore } from "../../../src/notify/store";
import { AuditLog } from "../../../src/session/audit-log";
import type { UserSession } from "../../../src/session/user-session";
import { pendingGrant } from "../../helpers/grant-fixtures";

function inObject<T>(body: (sql: SqlStorage) => T | Promise<T>): Promise<T> {
  const stub = env.SESSION.get(env.SESSION.idFromName(`notifier-${crypto.randomUUID()}`));
  return runInDurableObject(stub, (_instance: UserSession, state) => body(state.storage.sql));
}

const config = () => {
  const loaded = loadConfig(env);
  if (!loaded.ok) throw new Error("config");
  return loaded.value;
};

describe("Notifier.deliverDue", () => {
  it("retries a delivery whose attempt throws, with backoff, instead of leaving it due", async () => {
    await inObject(async (sql) => {
      const store = new NotifyStore(sql);
      const notifier = new Notifier({
        store,
        audit: new AuditLog(sql),
        grant: () => {
          throw new Error("storage exploded");
        },
        config,
        userId: () => "u_test",
      });
      store.replaceWebhook({ id: "whk_1", url: "https://hooks.example/in", addedAt: 0 });
      const now = Date.now();
      store.enqueue("req_1", "webhook", "whk_1", now);
      await notifier.deliverDue(now);
      expect(store.due(now, 10)).toEqual([]);
      expect(store.nextDeadline()).toBe(now + BACKOFF_MS[0]);
      expect(sql.exec("SELECT attempts, last_status FROM deliveries, webhook").toArray()).toEqual([
        { attempts: 1, last_status: "failed: internal_error" },
      ]);
    });
  });

  it("sends a delivery once when two runs overlap while the first waits on the network", async () => {
    await inObject(async (sql) => {
      const store = new NotifyStore(sql);
      let fetched = 0;
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const notifier = new Notifier({
        store,
        audit: new AuditLog(sql),
        grant: () => pendingGrant({ id: "req_1", pendingExpiresAt: Date.now() + 60_000 }),
        config,
        userId: () => "u_test",
        fetcher: async () => {
          fetched++;
          await gate;
          return new Response(null, { status: 200 });
        },
      });
      store.replaceWebhook({ id: "whk_1", url: "https://hooks.example/in", addedAt: 0 });
      store.enqueue("req_1", "webhook", "whk_1", Date.now());
      const first = notifier.deliverDue(Date.now());
      await new Promise((resolve) => setTimeout(resolve, 50));
      await notifier.deliverDue(Date.now());
      release();
      await first;
      expect(fetched).toBe(1);
      expect(store.owed()).toBe(0);
    });
  });

  it("drops a delivery for a request that is no longer pending, sending nothing", async () => {
    await inObject(async (sql) => {
      const store = new NotifyStore(sql);
      let fetched = 0;
      const notifier = new Notifier({
        store,
        audit: new AuditLog(sql),
        grant: () => ({ id: "req_1", status: "approved", pendingExpiresAt: Date.now() + 60_000 }) as Grant,
        config,
        userId: () => "u_test",
        fetcher: async () => {
          fetched++;
          return new Response(null, { status: 200 });
        },
      });
      store.replaceWebhook({ id: "whk_1", url: "https://hooks.example/in", addedAt: 0 });
      store.enqueue("req_1", "webhook", "whk_1", Date.now());
      await notifier.deliverDue(Date.now());
      expect(fetched).toBe(0);
      expect(store.owed()).toBe(0);
    });
  });
});
