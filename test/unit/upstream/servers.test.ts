/**
 * The upstream server lifecycle (src/upstream/servers.ts) against a real Durable Object's SQL and
 * real KV, with the upstream faked at the fetch boundary: add (names, URLs, duplicates, the cap),
 * connect, disconnect and remove (ownership before revocation, vault records purged), and the
 * catalogue kept in line with configuration (docs/threat-model.md, upstream servers). Each test
 * asserts the code AND what was, or was not, stored and sent.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { sessionFor } from "../../../src/session/user-session";
import type { CatalogueServer } from "../../../src/upstream/catalogue";
import type { TokenSet } from "../../../src/upstream/client/oauth";
import { clientSecretVaultId, tokenVaultId } from "../../../src/upstream/credentials";
import { MAX_USER_SERVERS, type UpstreamEnv, UpstreamServers } from "../../../src/upstream/servers";
import { type OAuthBinding, UpstreamStore } from "../../../src/upstream/store";
import { resetFetchRoutes, seen, seenAt } from "../../helpers/fetch-router";
import { AS_ORIGIN, FakeUpstream, MCP_ORIGIN, UPSTREAM_ACCESS, UPSTREAM_REFRESH } from "../../helpers/upstream";
import { K1, keyring, userId as newUserId } from "../vault/fixtures";

const KEYRING = keyring(K1);
const CLIENT_SECRET = "UPSTREAM-CLIENT-SECRET-CANARY-41be";
const MCP_URL = `${MCP_ORIGIN}/mcp`;

type Body = (servers: UpstreamServers, store: UpstreamStore, settle: () => Promise<unknown>) => Promise<unknown>;

/** One person's object: run `body` on a fresh UpstreamServers over its SQL (a started object). */
function person(providerIds: string[] = ["github", "linear", "google"]) {
  const userId = newUserId();
  const stub = sessionFor(env.SESSION, userId);
  const within = (catalogue: CatalogueServer[], body: Body) =>
    runInDurableObject(stub, async (_instance, state) => {
      const background: Promise<unknown>[] = [];
      const upstreamEnv: UpstreamEnv = {
        kv: env.VAULT_KV,
        keyring: KEYRING,
        allowLoopback: false,
        catalogue,
        providerIds,
        background: (work) => background.push(work),
      };
      const store = new UpstreamStore(state.storage.sql);
      await body(new UpstreamServers(store, upstreamEnv, userId), store, () => Promise.all(background));
    });
  const record = (id: string) => env.VAULT_KV.get(`vault:${userId}:${id}`);
  return { userId, within, record };
}

const tokens = (): TokenSet => ({
  accessToken: UPSTREAM_ACCESS,
  refreshToken: UPSTREAM_REFRESH,
  tokenType: "Bearer",
  expiresAt: Date.now() + 3_600_000,
});

const binding = (resource = MCP_URL): OAuthBinding => ({
  issuer: AS_ORIGIN,
  authorizationEndpoint: `${AS_ORIGIN}/authorize`,
  tokenEndpoint: `${AS_ORIGIN}/token`,
  revocationEndpoint: `${AS_ORIGIN}/revoke`,
  tokenEndpointAuthMethodsSupported: ["none", "client_secret_basic"],
  authorizationResponseIssParameterSupported: false,
  resource,
  clientId: "dcr-client-1",
  registration: "dcr",
  hasClientSecret: false,
});

const catalogueEntry = (url = MCP_URL): CatalogueServer => ({ name: "team", title: "Team", url, readOnlyTools: [] });

const revoked = (upstream: FakeUpstream) => upstream.revocations.map((revocation) => revocation.form.get("token"));

beforeEach(() => resetFetchRoutes());

describe("UpstreamServers.add", () => {
  it("stores the server, probes it once and records an OAuth server as not connected, with nothing in the vault", async () => {
    new FakeUpstream().install();
    const { within, record } = person();
    await within([], async (servers, store) => {
      const added = await servers.add("notes", MCP_URL, Date.now());
      expect(added).toMatchObject({ ok: true, server: { name: "notes", auth: "oauth", status: "not_connected" } });
      expect(store.get("notes")).toMatchObject({ url: MCP_URL, source: "user", tokenObtainedAt: null, tools: [] });
    });
    expect(seenAt(MCP_ORIGIN).length).toBeGreaterThan(0);
    expect(seenAt(MCP_ORIGIN).every((request) => request.headers.authorization === undefined)).toBe(true);
    expect(await record(tokenVaultId("notes"))).toBeNull();
  });

  it("connects an open server at once and lists its tools", async () => {
    const upstream = new FakeUpstream().install();
    upstream.auth = { kind: "none" };
    const { within } = person();
    await within([], async (servers) => {
      const added = await servers.add("open", MCP_URL, Date.now());
      expect(added).toMatchObject({ ok: true, server: { auth: "none", status: "connected" } });
      expect(added.ok && added.server.tools.map((tool) => tool.name)).toEqual(["read_notes", "write_note"]);
    });
  });

  const refusals: [string, string, string, string][] = [
    ["an upper-case name", "Notes", MCP_URL, "name_invalid"],
    ["a name with __", "a__b", MCP_URL, "name_invalid"],
    ["a provider's name", "github", MCP_URL, "name_reserved"],
    ["an http URL", "notes", "http://mcp.example.com/mcp", "url_invalid"],
    ["a URL with userinfo", "notes", "https://user:pw@mcp.example.com/mcp", "url_invalid"],
    ["a loopback URL", "notes", "https://127.0.0.1/mcp", "url_invalid"],
  ];
  for (const [label, name, url, code] of refusals) {
    it(`refuses ${label}: ${code}, no row, nothing sent`, async () => {
      new FakeUpstream().install();
      const { within } = person();
      await within([], async (servers, store) => {
        expect(await servers.add(name, url, Date.now())).toEqual({ ok: false, code });
        expect(store.list()).toEqual([]);
      });
      expect(seen).toEqual([]);
    });
  }

  it("refuses a name taken: name_taken, the first server unchanged, nothing probed", async () => {
    new FakeUpstream().install();
    new FakeUpstream("https://other.example.com").install();
    const { within } = person();
    await within([], async (servers, store) => {
      expect((await servers.add("notes", MCP_URL, Date.now())).ok).toBe(true);
      const first = store.get("notes");
      const before = seen.length;
      expect(await servers.add("notes", "https://other.example.com/mcp", Date.now())).toEqual({
        ok: false,
        code: "name_taken",
      });
      expect(store.get("notes")).toEqual(first);
      expect(seen.length).toBe(before);
    });
    expect(seenAt("https://other.example.com")).toEqual([]);
  });

  it("refuses a catalogue server's name: name_taken, the catalogue row unchanged", async () => {
    const { within } = person();
    await within([catalogueEntry()], async (servers, store) => {
      expect(await servers.add("team", "https://other.example.com/mcp", Date.now())).toEqual({
        ok: false,
        code: "name_taken",
      });
      expect(store.get("team")).toMatchObject({ source: "catalogue", url: MCP_URL });
    });
    expect(seen).toEqual([]);
  });

  it(`refuses server ${MAX_USER_SERVERS + 1}: too_many_servers, no row, nothing sent; catalogue servers do not count`, async () => {
    new FakeUpstream().install();
    const { within } = person();
    await within([catalogueEntry()], async (servers, store) => {
      servers.list(Date.now());
      for (let i = 1; i < MAX_USER_SERVERS; i++) {
        store.insert({ name: `s${i}`, url: MCP_URL, source: "user", title: `s${i}` }, Date.now());
      }
      expect(await servers.add("last", MCP_URL, Date.now())).toMatchObject({ ok: true });
      const before = seen.length;
      expect(await servers.add("one-more", MCP_URL, Date.now())).toEqual({ ok: false, code: "too_many_servers" });
      expect(store.get("one-more")).toBeNull();
      expect(servers.list(Date.now())).toHaveLength(MAX_USER_SERVERS + 1);
      expect(seen.length).toBe(before);
    });
  });
});

describe("UpstreamServers.connectOAuth and connectApiKey", () => {
  it("seals the tokens and client secret in the vault, never in SQL, and lists the tools with the token", async () => {
    new FakeUpstream().install();
    const { within, record } = person();
    await within([], async (servers, store) => {
      await servers.add("notes", MCP_URL, Date.now());
      const connected = await servers.connectOAuth("notes", tokens(), binding(), CLIENT_SECRET);
      expect(connected).toMatchObject({ auth: "oauth", status: "connected", oauth: { hasClientSecret: true } });
      expect(connected?.tokenObtainedAt).toEqual(expect.any(Number));
      const row = JSON.stringify(store.get("notes"));
      for (const secret of [UPSTREAM_ACCESS, UPSTREAM_REFRESH, CLIENT_SECRET]) expect(row).not.toContain(secret);
    });
    const sealed = [await record(tokenVaultId("notes")), await record(clientSecretVaultId("notes"))];
    for (const value of sealed) {
      expect(value).not.toBeNull();
      for (const secret of [UPSTREAM_ACCESS, UPSTREAM_REFRESH, CLIENT_SECRET]) expect(value).not.toContain(secret);
    }
    const listing = seenAt(MCP_ORIGIN).filter((request) => request.headers.authorization !== undefined);
    expect(listing.length).toBeGreaterThan(0);
    expect(listing.every((request) => request.headers.authorization === `Bearer ${UPSTREAM_ACCESS}`)).toBe(true);
  });

  it("answers null for a server this person does not have, storing and sending nothing", async () => {
    const { within, record } = person();
    await within([], async (servers, store) => {
      expect(await servers.connectOAuth("ghost", tokens(), binding(), CLIENT_SECRET)).toBeNull();
      expect(await servers.connectApiKey("ghost", "key-canary", "Authorization")).toBeNull();
      expect(store.list()).toEqual([]);
    });
    expect(await record(tokenVaultId("ghost"))).toBeNull();
    expect(await record(clientSecretVaultId("ghost"))).toBeNull();
    expect(seen).toEqual([]);
  });

  it("revokes the OAuth tokens an API key replaces, and drops the client secret", async () => {
    const upstream = new FakeUpstream().install();
    const { within, record } = person();
    await within([], async (servers) => {
      await servers.add("notes", MCP_URL, Date.now());
      await servers.connectOAuth("notes", tokens(), binding(), CLIENT_SECRET);
      upstream.auth = { kind: "key", header: "x-api-key", value: "key-canary" };
      const keyed = await servers.connectApiKey("notes", "key-canary", "X-Api-Key");
      expect(keyed).toMatchObject({ auth: "api_key", apiKeyHeader: "X-Api-Key", status: "connected", oauth: null });
    });
    expect(revoked(upstream)).toEqual([UPSTREAM_REFRESH, UPSTREAM_ACCESS]);
    expect(await record(clientSecretVaultId("notes"))).toBeNull();
    expect(await record(tokenVaultId("notes"))).not.toBeNull();
    expect(upstream.calls).toEqual([]);
  });
});

describe("UpstreamServers.disconnect", () => {
  it("answers null for a name not in this person's object: nothing revoked, another server's records untouched", async () => {
    const upstream = new FakeUpstream().install();
    const { within, record } = person();
    await within([], async (servers, store) => {
      await servers.add("notes", MCP_URL, Date.now());
      await servers.connectOAuth("notes", tokens(), binding(), CLIENT_SECRET);
      expect(await servers.disconnect("ghost", false)).toBeNull();
      expect(await servers.disconnect("ghost", true)).toBeNull();
      expect(store.get("notes")).toMatchObject({ status: "connected" });
    });
    expect(upstream.revocations).toEqual([]);
    expect(await record(tokenVaultId("notes"))).not.toBeNull();
    expect(await record(clientSecretVaultId("notes"))).not.toBeNull();
  });

  it("revokes refresh then access token, deletes both vault records and keeps the row, not connected", async () => {
    const upstream = new FakeUpstream().install();
    const { within, record } = person();
    await within([], async (servers, store) => {
      await servers.add("notes", MCP_URL, Date.now());
      await servers.connectOAuth("notes", tokens(), binding(), CLIENT_SECRET);
      expect(await servers.disconnect("notes", false)).toEqual({ revokedUpstream: true });
      expect(store.get("notes")).toMatchObject({
        status: "not_connected",
        tokenObtainedAt: null,
        tools: [],
        oauth: null,
        session: null,
      });
    });
    expect(revoked(upstream)).toEqual([UPSTREAM_REFRESH, UPSTREAM_ACCESS]);
    expect(await record(tokenVaultId("notes"))).toBeNull();
    expect(await record(clientSecretVaultId("notes"))).toBeNull();
  });

  it("removes a user server: row, token and client secret gone", async () => {
    new FakeUpstream().install();
    const { within, record } = person();
    await within([], async (servers, store) => {
      await servers.add("notes", MCP_URL, Date.now());
      await servers.connectOAuth("notes", tokens(), binding(), CLIENT_SECRET);
      expect(await servers.disconnect("notes", true)).toEqual({ revokedUpstream: true });
      expect(store.get("notes")).toBeNull();
      expect(servers.get("notes")).toBeNull();
    });
    expect(await record(tokenVaultId("notes"))).toBeNull();
    expect(await record(clientSecretVaultId("notes"))).toBeNull();
  });

  it("refuses to remove a catalogue server: null, nothing revoked, still connected", async () => {
    const upstream = new FakeUpstream().install();
    const { within, record } = person();
    await within([catalogueEntry()], async (servers, store) => {
      await servers.connectOAuth("team", tokens(), binding(), CLIENT_SECRET);
      expect(await servers.disconnect("team", true)).toBeNull();
      expect(store.get("team")).toMatchObject({ status: "connected", source: "catalogue" });
    });
    expect(upstream.revocations).toEqual([]);
    expect(await record(tokenVaultId("team"))).not.toBeNull();
  });
});

describe("UpstreamServers catalogue sync", () => {
  it("retires a server the operator removed: tokens revoked, vault records purged, row deleted", async () => {
    const upstream = new FakeUpstream().install();
    const { within, record } = person();
    await within([catalogueEntry()], async (servers) => {
      expect(servers.list(Date.now()).map((server) => server.name)).toEqual(["team"]);
      await servers.connectOAuth("team", tokens(), binding(), CLIENT_SECRET);
    });
    // The next deployment's configuration no longer has the entry: a fresh instance syncs once.
    await within([], async (servers, store, settle) => {
      expect(servers.list(Date.now())).toEqual([]);
      expect(store.get("team")).toBeNull();
      await settle();
    });
    expect(revoked(upstream)).toEqual([UPSTREAM_REFRESH, UPSTREAM_ACCESS]);
    expect(await record(tokenVaultId("team"))).toBeNull();
    expect(await record(clientSecretVaultId("team"))).toBeNull();
  });

  it("starts a server over when its URL changes: old tokens revoked and purged, the row not connected", async () => {
    const upstream = new FakeUpstream().install();
    const { within, record } = person();
    await within([catalogueEntry()], async (servers) => {
      await servers.connectOAuth("team", tokens(), binding(), CLIENT_SECRET);
    });
    const moved = "https://mcp.example.com/v2/mcp";
    await within([catalogueEntry(moved)], async (servers, _store, settle) => {
      expect(servers.get("team")).toMatchObject({ url: moved, tokenObtainedAt: null, oauth: null, tools: [] });
      await settle();
    });
    expect(revoked(upstream)).toEqual([UPSTREAM_REFRESH, UPSTREAM_ACCESS]);
    expect(await record(tokenVaultId("team"))).toBeNull();
    expect(await record(clientSecretVaultId("team"))).toBeNull();
  });

  it("leaves a user server of the same name alone when the catalogue drops an entry", async () => {
    new FakeUpstream().install();
    const { within, record } = person();
    await within([], async (servers) => {
      await servers.add("notes", MCP_URL, Date.now());
      await servers.connectOAuth("notes", tokens(), binding(), CLIENT_SECRET);
    });
    await within([], async (servers, _store, settle) => {
      expect(servers.get("notes")).toMatchObject({ source: "user", status: "connected" });
      await settle();
    });
    expect(await record(tokenVaultId("notes"))).not.toBeNull();
  });
});
