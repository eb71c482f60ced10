/**
 * An upstream server's credential (src/upstream/credentials.ts) against a real Durable Object's
 * SQL and real KV, with the authorization server faked at the fetch boundary and the MCP request
 * faked as an operation: a 401 renews once and retries once, and only while the rejected token
 * is the newest; `invalid_grant` is final; a stale KV copy is never used; an API key is never
 * "refreshed" (docs/threat-model.md, section F). Each test asserts the code AND what was sent.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { err, ok } from "../../../src/lib/result";
import { sessionFor } from "../../../src/session/user-session";
import type { McpClientError } from "../../../src/upstream/client/errors";
import { type Operation, ServerCredentials } from "../../../src/upstream/credentials";
import { type OAuthBinding, UpstreamStore } from "../../../src/upstream/store";
import type { VaultSecret } from "../../../src/vault/store";
import { resetFetchRoutes } from "../../helpers/fetch-router";
import { AS_ORIGIN, FakeUpstream, MCP_ORIGIN, UPSTREAM_ACCESS, UPSTREAM_REFRESH } from "../../helpers/upstream";
import { K1, keyring, userId as newUserId } from "../vault/fixtures";

const NEW_ACCESS = "UPSTREAM-RENEWED-ACCESS-CANARY-2d81";
const MCP_URL = `${MCP_ORIGIN}/mcp`;

const binding: OAuthBinding = {
  issuer: AS_ORIGIN,
  authorizationEndpoint: `${AS_ORIGIN}/authorize`,
  tokenEndpoint: `${AS_ORIGIN}/token`,
  revocationEndpoint: `${AS_ORIGIN}/revoke`,
  tokenEndpointAuthMethodsSupported: ["none"],
  authorizationResponseIssParameterSupported: false,
  resource: MCP_URL,
  clientId: "dcr-client-1",
  authMethod: "none",
  registration: "dcr",
  hasClientSecret: false,
};

type Body = (credentials: ServerCredentials, store: UpstreamStore) => Promise<unknown>;

/** One person's object with server "notes" connected by OAuth (or an API key) at `obtainedAt`. */
function connected(options: { apiKey?: boolean; obtainedAt?: number; expiresAt?: number } = {}) {
  const userId = newUserId();
  const stub = sessionFor(env.SESSION, userId);
  const upstreamEnv = { kv: env.VAULT_KV, keyring: keyring(K1), allowLoopback: false, catalogue: [] };
  const within = (body: Body) =>
    runInDurableObject(stub, async (_instance, state) => {
      const store = new UpstreamStore(state.storage.sql);
      await body(new ServerCredentials(store, upstreamEnv, userId), store);
    });
  const setup = within(async (credentials, store) => {
    const now = Date.now();
    const obtainedAt = options.obtainedAt ?? now;
    store.insert({ name: "notes", url: MCP_URL, source: "user", title: "notes" }, now);
    const secret: VaultSecret = options.apiKey
      ? { kind: "api_key", accessToken: UPSTREAM_ACCESS, obtainedAt }
      : {
          kind: "oauth2",
          accessToken: UPSTREAM_ACCESS,
          refreshToken: UPSTREAM_REFRESH,
          obtainedAt,
          expiresAt: options.expiresAt ?? now + 3_600_000,
        };
    await credentials.storeToken("notes", secret);
    if (options.apiKey) store.setAuth("notes", "api_key", "X-Api-Key", now);
    else {
      store.setAuth("notes", "oauth", null, now);
      store.setOAuth("notes", binding, now);
    }
    store.setTokenObtainedAt("notes", obtainedAt, now);
    store.setStatus("notes", "connected", null, now);
  });
  return { within, setup };
}

/** An MCP request that refuses `refused` tokens with a 401, recording the headers it saw. */
function operation(refused: (headers: Record<string, string>) => boolean) {
  const sent: Record<string, string>[] = [];
  const run: Operation<string> = async (headers) => {
    sent.push(headers);
    return refused(headers) ? err<McpClientError>({ code: "unauthorized", status: 401 }) : ok("answered");
  };
  return { run, sent };
}

const refreshes = (upstream: FakeUpstream) =>
  upstream.tokenRequests.filter((request) => request.form.get("grant_type") === "refresh_token");
const bearerOf = (token: string) => ({ Authorization: `Bearer ${token}` });

beforeEach(() => resetFetchRoutes());

describe("ServerCredentials after a 401", () => {
  it("renews once and retries once with the new token; obtainedAt is max(now, old + 1)", async () => {
    const upstream = new FakeUpstream().install();
    upstream.accessToken = NEW_ACCESS;
    const later = Date.now() + 60_000;
    const person = connected({ obtainedAt: later });
    await person.setup;
    const op = operation((headers) => headers.Authorization === `Bearer ${UPSTREAM_ACCESS}`);
    await person.within(async (credentials, store) => {
      const server = store.get("notes");
      if (!server) throw new Error("missing server");
      expect(await credentials.withCredential(server, op.run)).toEqual({ ok: true, value: "answered" });
      expect(store.get("notes")?.tokenObtainedAt).toBe(later + 1);
      expect((await credentials.read("notes"))?.obtainedAt).toBe(later + 1);
    });
    expect(op.sent).toEqual([bearerOf(UPSTREAM_ACCESS), bearerOf(NEW_ACCESS)]);
    expect(refreshes(upstream)).toHaveLength(1);
    expect(refreshes(upstream)[0]?.form.get("refresh_token")).toBe(UPSTREAM_REFRESH);
  });

  it("uses the token another call already renewed instead of refreshing again", async () => {
    const upstream = new FakeUpstream().install();
    upstream.accessToken = NEW_ACCESS;
    const person = connected();
    await person.setup;
    const op = operation((headers) => headers.Authorization === `Bearer ${UPSTREAM_ACCESS}`);
    await person.within(async (credentials, store) => {
      const server = store.get("notes");
      if (!server) throw new Error("missing server");
      const stale = await credentials.credential(server, Date.now());
      if (!stale.ok) throw new Error("no credential");
      expect((await credentials.send(server, stale, op.run)).ok).toBe(true);
      expect((await credentials.send(server, stale, op.run)).ok).toBe(true);
    });
    expect(refreshes(upstream)).toHaveLength(1);
    expect(op.sent).toEqual([
      bearerOf(UPSTREAM_ACCESS),
      bearerOf(NEW_ACCESS),
      bearerOf(UPSTREAM_ACCESS),
      bearerOf(NEW_ACCESS),
    ]);
  });

  it("marks reauth_required when the renewed token is refused too, and does not retry a third time", async () => {
    const upstream = new FakeUpstream().install();
    upstream.accessToken = NEW_ACCESS;
    const person = connected();
    await person.setup;
    const op = operation(() => true);
    await person.within(async (credentials, store) => {
      const server = store.get("notes");
      if (!server) throw new Error("missing server");
      const sent = await credentials.withCredential(server, op.run);
      expect(sent).toEqual({ ok: false, failure: { ok: false, code: "reauth_required" } });
      expect(store.get("notes")).toMatchObject({ status: "reauth_required", lastError: "unauthorized" });
    });
    expect(op.sent).toHaveLength(2);
    expect(refreshes(upstream)).toHaveLength(1);
  });

  it("treats invalid_grant as final: reauth_required, the retry never sent, no second refresh later", async () => {
    const upstream = new FakeUpstream().install();
    upstream.refreshToken = "another-refresh-token"; // ours is refused with invalid_grant
    const person = connected();
    await person.setup;
    const op = operation(() => true);
    await person.within(async (credentials, store) => {
      const server = store.get("notes");
      if (!server) throw new Error("missing server");
      const sent = await credentials.withCredential(server, op.run);
      expect(sent).toEqual({ ok: false, failure: { ok: false, code: "reauth_required" } });
      expect(store.get("notes")).toMatchObject({ status: "reauth_required", lastError: "invalid_grant" });
      expect(await credentials.credential(server, Date.now())).toEqual({ ok: false, code: "reauth_required" });
    });
    expect(op.sent).toHaveLength(1);
    expect(refreshes(upstream)).toHaveLength(1);
  });

  it("never refreshes an API key: a 401 marks reauth_required after one request", async () => {
    const upstream = new FakeUpstream().install();
    const person = connected({ apiKey: true });
    await person.setup;
    const op = operation(() => true);
    await person.within(async (credentials, store) => {
      const server = store.get("notes");
      if (!server) throw new Error("missing server");
      const sent = await credentials.withCredential(server, op.run);
      expect(sent).toEqual({ ok: false, failure: { ok: false, code: "reauth_required" } });
      expect(store.get("notes")).toMatchObject({ status: "reauth_required", lastError: "unauthorized" });
    });
    expect(op.sent).toEqual([{ "X-Api-Key": UPSTREAM_ACCESS }]);
    expect(upstream.tokenRequests).toEqual([]);
  });
});

describe("ServerCredentials before a request", () => {
  it("refuses a KV copy older than SQL's newest token (vault_stale): nothing sent, nothing refreshed", async () => {
    const upstream = new FakeUpstream().install();
    const person = connected({ expiresAt: Date.now() + 1_000 });
    await person.setup;
    const op = operation(() => false);
    await person.within(async (credentials, store) => {
      // A refresh elsewhere in this object recorded a newer token than KV now serves.
      const server = store.get("notes");
      if (!server?.tokenObtainedAt) throw new Error("missing server");
      store.setTokenObtainedAt("notes", server.tokenObtainedAt + 5, Date.now());
      const sent = await credentials.withCredential(server, op.run);
      expect(sent).toEqual({
        ok: false,
        failure: { ok: false, code: "upstream_unavailable", reason: "vault_stale" },
      });
    });
    expect(op.sent).toEqual([]);
    expect(upstream.tokenRequests).toEqual([]);
  });

  it("marks reauth_required when the vault record is gone: nothing sent", async () => {
    new FakeUpstream().install();
    const person = connected();
    await person.setup;
    const op = operation(() => false);
    await person.within(async (credentials, store) => {
      await credentials.purge("notes");
      const server = store.get("notes");
      if (!server) throw new Error("missing server");
      const sent = await credentials.withCredential(server, op.run);
      expect(sent).toEqual({ ok: false, failure: { ok: false, code: "reauth_required" } });
      expect(store.get("notes")).toMatchObject({ status: "reauth_required", lastError: "vault_record_missing" });
    });
    expect(op.sent).toEqual([]);
  });

  it("refreshes a token inside the margin once for 20 concurrent requests", async () => {
    const upstream = new FakeUpstream().install();
    upstream.accessToken = NEW_ACCESS;
    const person = connected({ expiresAt: Date.now() + 30_000 });
    await person.setup;
    const op = operation(() => false);
    await person.within(async (credentials, store) => {
      const server = store.get("notes");
      if (!server) throw new Error("missing server");
      const sent = await Promise.all(Array.from({ length: 20 }, () => credentials.withCredential(server, op.run)));
      expect(sent.every((result) => result.ok)).toBe(true);
    });
    expect(refreshes(upstream)).toHaveLength(1);
    expect(op.sent).toHaveLength(20);
    expect(op.sent.every((headers) => headers.Authorization === `Bearer ${NEW_ACCESS}`)).toBe(true);
  });
});
