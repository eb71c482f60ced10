/**
 * The upstream feature the Durable Object delegates to (src/upstream/upstream.ts), in a real
 * object's SQL with a real GrantBook and AuditLog: a disconnect ends exactly the grants naming
 * the server and is audited; a tool call without a grant is refused and audited and nothing is
 * sent; stale tool lists are refreshed in the background, fresh ones are not; a tools/call's
 * listing holds only the tool it names, presented exactly as in the full list, and reads and
 * refreshes only that tool's server; a session equal to the saved one is not written again.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_POLICY } from "../../../src/grants/types";
import { Alarm } from "../../../src/session/alarm";
import { AuditLog } from "../../../src/session/audit-log";
import { GrantBook } from "../../../src/session/grant-book";
import { GrantStore, type StoredGrant } from "../../../src/session/grant-store";
import { sessionFor } from "../../../src/session/user-session";
import { TOOLS_TTL_MS } from "../../../src/upstream/calls";
import { UpstreamStore } from "../../../src/upstream/store";
import { Upstream } from "../../../src/upstream/upstream";
import { resetFetchRoutes } from "../../helpers/fetch-router";
import { approvedGrant, pendingGrant } from "../../helpers/grant-fixtures";
import { FakeUpstream, MCP_ORIGIN } from "../../helpers/upstream";
import { K1, keyring, userId as newUserId } from "../vault/fixtures";

const MCP_URL = `${MCP_ORIGIN}/mcp`;

interface Parts {
  upstream: Upstream;
  store: UpstreamStore;
  grants: GrantStore;
  audit: AuditLog;
  background: Promise<unknown>[];
}

/** Run `body` on a fresh Upstream over one person's object. */
function within(body: (parts: Parts) => Promise<unknown>) {
  const userId = newUserId();
  return runInDurableObject(sessionFor(env.SESSION, userId), async (_instance, state) => {
    const sql = state.storage.sql;
    const audit = new AuditLog(sql);
    const grants = new GrantStore(sql);
    const book = new GrantBook(
      grants,
      audit,
      new Alarm(state.storage, [() => grants.nextDeadline()]),
      () => DEFAULT_POLICY,
    );
    const store = new UpstreamStore(sql);
    const background: Promise<unknown>[] = [];
    const upstream = new Upstream({
      store,
      book,
      audit,
      userId,
      env: {
        kv: env.VAULT_KV,
        keyring: keyring(K1),
        allowLoopback: false,
        catalogue: [],
        providerIds: ["github"],
        background: (work) => background.push(work),
      },
    });
    await body({ upstream, store, grants, audit, background });
    await Promise.all(background);
  });
}

const stored = (grant: ReturnType<typeof pendingGrant>): StoredGrant => ({
  ...grant,
  linkTokenHash: "0".repeat(64),
  requestKey: grant.id,
});

beforeEach(() => resetFetchRoutes());

describe("Upstream.disconnect", () => {
  it("ends the pending and approved grants naming the server, and only those; audits the disconnect", async () => {
    const fake = new FakeUpstream().install();
    fake.auth = { kind: "none" };
    await within(async ({ upstream, grants, audit }) => {
      await upstream.add("notes", MCP_URL, "human");
      const now = Date.now();
      const times = { requestedAt: now, pendingExpiresAt: now + 600_000 };
      grants.insert(stored(pendingGrant({ id: "req_p", requestedProviders: ["notes"], ...times })));
      grants.insert(
        stored(
          approvedGrant({ id: "req_a", providers: ["github", "notes"], decidedAt: now, expiresAt: now + 300_000 }),
        ),
      );
      grants.insert(
        stored(approvedGrant({ id: "req_o", providers: ["github"], decidedAt: now, expiresAt: now + 300_000 })),
      );
      expect(await upstream.disconnect("notes", false)).toEqual({ revokedUpstream: false });
      expect(grants.get("req_p")?.status).toBe("revoked");
      expect(grants.get("req_a")?.status).toBe("revoked");
      expect(grants.get("req_o")?.status).toBe("approved");
      expect(audit.list(10).find((entry) => entry.event === "server_disconnected")).toMatchObject({
        actor: "human",
        detail: { server: "notes", revoked_upstream: false },
      });
    });
  });

  it("answers null for a server this person does not have: no grant ended, nothing audited", async () => {
    await within(async ({ upstream, grants, audit }) => {
      const now = Date.now();
      grants.insert(
        stored(
          pendingGrant({
            id: "req_p",
            requestedProviders: ["ghost"],
            requestedAt: now,
            pendingExpiresAt: now + 600_000,
          }),
        ),
      );
      expect(await upstream.disconnect("ghost", true)).toBeNull();
      expect(grants.get("req_p")?.status).toBe("pending");
      expect(audit.list(10)).toEqual([]);
    });
  });
});

describe("Upstream.callTool", () => {
  it("refuses a call no grant covers: access needed, the refusal audited, nothing sent", async () => {
    const fake = new FakeUpstream().install();
    fake.auth = { kind: "none" };
    await within(async ({ upstream, audit }) => {
      await upstream.add("notes", MCP_URL, "agent");
      const outcome = await upstream.callTool("c_1", "notes", "write_note", { text: "hi" });
      expect(outcome).toMatchObject({ ok: false, code: "denied", access: "write" });
      const refused = audit.list(10).filter((entry) => entry.event === "call_denied");
      expect(refused).toHaveLength(1);
      expect(refused[0]).toMatchObject({ connectionId: "c_1", detail: { provider: "notes", access: "write" } });
    });
    expect(fake.calls).toEqual([]);
  });

  it("answers not_found for an unknown server and audits server, tool and code", async () => {
    await within(async ({ upstream, audit }) => {
      expect(await upstream.callTool("c_1", "ghost", "anything", {})).toEqual({
        ok: false,
        code: "not_found",
        reason: "server",
      });
      expect(audit.list(10)).toMatchObject([
        {
          event: "call_denied",
          connectionId: "c_1",
          detail: { server: "ghost", tool: "anything", reason: "not_found:server" },
        },
      ]);
    });
  });
});

describe("Upstream.tools", () => {
  it("lists namespaced tools and refreshes only a stale list in the background", async () => {
    const fake = new FakeUpstream().install();
    fake.auth = { kind: "none" };
    await within(async ({ upstream, store, background }) => {
      await upstream.add("notes", MCP_URL, "human");
      const groups = upstream.tools();
      expect(groups.map((group) => group.tools.map((tool) => tool.name))).toEqual([
        ["notes__read_notes", "notes__write_note"],
      ]);
      expect(background).toHaveLength(0);
      const row = store.get("notes");
      store.setTools("notes", row?.tools ?? [], Date.now() - TOOLS_TTL_MS - 1);
      upstream.tools();
      expect(background).toHaveLength(1);
      await Promise.all(background);
      expect(Date.now() - (store.get("notes")?.toolsAt ?? 0)).toBeLessThan(TOOLS_TTL_MS);
    });
  });

  it("lists only the one tool a call names, as the full list presents it", async () => {
    const fake = new FakeUpstream().install();
    fake.auth = { kind: "none" };
    await within(async ({ upstream }) => {
      await upstream.add("notes", MCP_URL, "human");
      const [all] = upstream.tools();
      const write = all?.tools.find((tool) => tool.name === "notes__write_note");
      expect(upstream.tools("notes__write_note")).toEqual([{ server: "notes", title: all?.title, tools: [write] }]);
      for (const missing of ["notes__nothing", "write_note", "other__write_note", "notes_write_note"]) {
        expect(upstream.tools(missing)).toEqual([]);
      }
    });
  });

  it("reads and refreshes only the server a call's tool name names", async () => {
    const fake = new FakeUpstream().install();
    fake.auth = { kind: "none" };
    await within(async ({ upstream, store, background }) => {
      await upstream.add("notes", MCP_URL, "human");
      await upstream.add("jots", MCP_URL, "human");
      const stale = Date.now() - TOOLS_TTL_MS - 1;
      for (const name of ["notes", "jots"]) store.setTools(name, store.get(name)?.tools ?? [], stale);
      expect(upstream.tools("notes__write_note").map((group) => group.server)).toEqual(["notes"]);
      expect(background).toHaveLength(1);
      await Promise.all(background);
      expect(store.get("notes")?.toolsAt).toBeGreaterThan(stale);
      expect(store.get("jots")?.toolsAt).toBe(stale);
    });
  });
});

describe("UpstreamStore.setSession", () => {
  it("writes a new or changed session and nothing for the one already saved", async () => {
    const fake = new FakeUpstream().install();
    fake.auth = { kind: "none" };
    await within(async ({ upstream, store }) => {
      await upstream.add("notes", MCP_URL, "human");
      const first = {
        transport: "streamable-http",
        era: { kind: "legacy" },
        sessionId: "s-1",
        protocolVersion: "2025-06-18",
      } as const;
      const saved = store.sessionOf("notes");
      expect(store.setSession("notes", saved)).toBe(false);
      expect(store.setSession("notes", first)).toBe(true);
      expect(store.setSession("notes", { ...first })).toBe(false);
      expect(store.sessionOf("notes")).toEqual(first);
      expect(store.setSession("notes", { ...first, sessionId: "s-2" })).toBe(true);
      expect(store.sessionOf("notes")?.sessionId).toBe("s-2");
      expect(store.setSession("notes", null)).toBe(true);
      expect(store.setSession("notes", null)).toBe(false);
      expect(store.sessionOf("notes")).toBeNull();
      expect(store.get("notes")?.session).toBeNull();
    });
  });
});
