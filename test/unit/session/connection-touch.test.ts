/**
 * "Last used" in the connection store over a real Durable Object's SQL (workerd): a touch
 * records a connection it has never seen, writes again only once `LAST_SEEN_INTERVAL_MS` has
 * passed however often it is asked, follows a clock moved back, and leaves everything else of
 * the row (client, scopes, authorization time, revocation) as it was. `ensure` (whoami's read of
 * the connection) records a missing row and only reads a known one.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ConnectionStore, LAST_SEEN_INTERVAL_MS } from "../../../src/session/connection-store";
import type { UserSession } from "../../../src/session/user-session";

const T = 1_800_000_000_000;
const facts = { connectionId: "conn-a", clientId: "client-a", clientName: "Claude", scopes: ["mcp"] };

function inStore<T>(body: (store: ConnectionStore, statements: string[]) => T) {
  const stub = env.SESSION.get(env.SESSION.idFromName(`touch-${crypto.randomUUID()}`));
  return runInDurableObject(stub, (_instance: UserSession, state) => {
    // The first word of every statement the store runs, so a test can tell reads from writes.
    const statements: string[] = [];
    const sql = state.storage.sql;
    const recording = {
      exec: (query: string, ...bindings: unknown[]) => {
        statements.push((query.trim().split(/\s/)[0] ?? "").toUpperCase());
        return sql.exec(query, ...bindings);
      },
    } as unknown as SqlStorage;
    return body(new ConnectionStore(recording), statements);
  });
}

describe("ConnectionStore.touch", () => {
  it("records an unknown connection from the token's facts, used now", async () => {
    await inStore((store) => {
      store.touch(facts, T);
      expect(store.get("conn-a")).toEqual({
        ...facts,
        redirectUri: "",
        authorizedAt: T,
        lastSeenAt: T,
        revokedAt: null,
      });
    });
  });

  it.each([
    ["a moment later", 1, T],
    ["just inside the interval", LAST_SEEN_INTERVAL_MS - 1, T],
    ["once the interval has passed", LAST_SEEN_INTERVAL_MS, T + LAST_SEEN_INTERVAL_MS],
    ["long after", 10 * LAST_SEEN_INTERVAL_MS, T + 10 * LAST_SEEN_INTERVAL_MS],
    ["with the clock moved back", -5_000, T - 5_000],
  ])("touched again %s keeps the expected last use", async (_label, later, expected) => {
    await inStore((store) => {
      store.record({ ...facts, redirectUri: "https://client.test/cb" }, T - 1_000);
      store.touch(facts, T);
      store.touch(facts, T + later);
      expect(store.get("conn-a")).toEqual({
        ...facts,
        redirectUri: "https://client.test/cb",
        authorizedAt: T - 1_000,
        lastSeenAt: expected,
        revokedAt: null,
      });
    });
  });

  it("writes a row only for a new connection or once the interval has passed", async () => {
    await inStore((store) => {
      expect(store.touch(facts, T)).toBe(true);
      expect(store.touch(facts, T + 1)).toBe(false);
      expect(store.touch(facts, T + LAST_SEEN_INTERVAL_MS - 1)).toBe(false);
      expect(store.touch(facts, T + LAST_SEEN_INTERVAL_MS)).toBe(true);
      expect(store.touch({ ...facts, connectionId: "conn-b" }, T + LAST_SEEN_INTERVAL_MS)).toBe(true);
    });
  });

  it("does not bring a revoked connection back", async () => {
    await inStore((store) => {
      store.record({ ...facts, redirectUri: "https://client.test/cb" }, T);
      store.markRevoked("conn-a", T + 1);
      store.touch(facts, T + LAST_SEEN_INTERVAL_MS);
      expect(store.get("conn-a")?.revokedAt).toBe(T + 1);
    });
  });
});

describe("ConnectionStore.ensure", () => {
  it("records a connection it has never seen, from the token's facts", async () => {
    await inStore((store, statements) => {
      expect(store.ensure(facts, T)).toEqual({
        ...facts,
        redirectUri: "",
        authorizedAt: T,
        lastSeenAt: null,
        revokedAt: null,
      });
      expect(statements).toContain("INSERT");
      expect(store.get("conn-a")?.authorizedAt).toBe(T);
    });
  });

  it("only reads a known connection: no write statement, the row as it was (revocation too)", async () => {
    await inStore((store, statements) => {
      const known = store.record({ ...facts, redirectUri: "https://client.test/cb" }, T - 1_000);
      store.markRevoked("conn-a", T - 500);
      statements.length = 0;
      const seen = store.ensure({ ...facts, clientName: "Renamed", scopes: ["mcp", "extra"] }, T);
      expect(statements).toEqual(["SELECT"]);
      expect(seen).toEqual({ ...known, revokedAt: T - 500 });
      expect(store.get("conn-a")).toEqual(seen);
    });
  });
});
