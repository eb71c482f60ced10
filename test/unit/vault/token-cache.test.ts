/**
 * The shared token cache in real KV: read-through, the stale-read guard, single-flight refresh,
 * final refusals marking reauth, and renewal after a 401 (docs/threat-model.md, section F).
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { type VaultSecret, VaultStore } from "../../../src/vault/store";
import {
  REFRESH_MARGIN_MS,
  type Refreshed,
  TokenCache,
  type TokenSource,
  type TokenState,
} from "../../../src/vault/token-cache";
import { CANARY_ACCESS, CANARY_REFRESH, K1, keyring, userId } from "./fixtures";

const NOW = 1_800_000_000_000;
const secret = (obtainedAt: number, expiresAt?: number, accessToken = CANARY_ACCESS): VaultSecret => ({
  kind: "oauth2",
  accessToken,
  refreshToken: CANARY_REFRESH,
  obtainedAt,
  ...(expiresAt === undefined ? {} : { expiresAt }),
});

/** A feature's SQL and token endpoint, in memory, recording what the cache asked of it. */
function fakeSource(options: { refreshable?: boolean; answer?: () => Promise<Refreshed> } = {}) {
  const states = new Map<string, TokenState>();
  const log = { refreshes: 0, marked: [] as string[], refreshed: [] as number[] };
  const source: TokenSource<string> = {
    vaultId: (key) => `rec_${key}`,
    state: (key) => states.get(key) ?? null,
    refreshable: () => options.refreshable ?? true,
    markReauth: (key, reason) => {
      log.marked.push(reason);
      const state = states.get(key);
      if (state) states.set(key, { ...state, reauthRequired: true });
    },
    refreshed: (key, fresh) => {
      log.refreshed.push(fresh.obtainedAt);
      states.set(key, { reauthRequired: false, tokenObtainedAt: fresh.obtainedAt });
    },
    refresh: async () => {
      log.refreshes += 1;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return options.answer
        ? options.answer()
        : { ok: true, secret: secret(NOW + 1, NOW + 3_600_000, "fresh-access-token") };
    },
  };
  return { source, states, log };
}

function setup(options?: Parameters<typeof fakeSource>[0]) {
  const fake = fakeSource(options);
  const user = userId();
  const vault = new VaultStore(env.OAUTH_KV, keyring(K1));
  return { ...fake, user, vault, cache: new TokenCache(vault, user, fake.source) };
}

describe("TokenCache.fresh", () => {
  it("answers not_connected without reading KV when the feature has no connection", async () => {
    const { cache, vault, user } = setup();
    await vault.put(user, "rec_github", secret(NOW, NOW + 3_600_000));
    expect(await cache.fresh("github", NOW)).toEqual({ ok: false, code: "not_connected" });
  });

  it("returns the stored secret while it is outside the refresh margin", async () => {
    const { cache, states, log } = setup();
    states.set("github", { reauthRequired: false, tokenObtainedAt: NOW });
    await cache.store("github", secret(NOW, NOW + REFRESH_MARGIN_MS + 1));
    expect(await cache.fresh("github", NOW)).toEqual({ ok: true, secret: secret(NOW, NOW + REFRESH_MARGIN_MS + 1) });
    expect(log.refreshes).toBe(0);
  });

  it("refuses a KV copy older than the newest token SQL knows of (vault_stale), and refreshes nothing", async () => {
    const { cache, states, vault, user, log } = setup();
    await vault.put(user, "rec_github", secret(NOW, NOW + 3_600_000));
    states.set("github", { reauthRequired: false, tokenObtainedAt: NOW + 10 });
    expect(await cache.fresh("github", NOW)).toEqual({ ok: false, code: "unavailable", reason: "vault_stale" });
    expect(log.refreshes).toBe(0);
  });

  it("marks reauth when SQL says connected but the vault record is gone", async () => {
    const { cache, states, log } = setup();
    states.set("github", { reauthRequired: false, tokenObtainedAt: NOW });
    expect(await cache.fresh("github", NOW)).toEqual({
      ok: false,
      code: "reauth_required",
      reason: "vault_record_missing",
    });
    expect(log.marked).toEqual(["vault_record_missing"]);
  });

  it("answers reauth_required (marked) for a credential SQL marks, without refreshing", async () => {
    const { cache, states, log } = setup();
    states.set("github", { reauthRequired: true, tokenObtainedAt: NOW });
    await cache.store("github", secret(NOW, NOW + 1));
    expect(await cache.fresh("github", NOW)).toEqual({ ok: false, code: "reauth_required", reason: "marked" });
    expect(log.refreshes).toBe(0);
  });

  it("refreshes 50 concurrent calls within the margin exactly once and stores the new token", async () => {
    const { cache, states, vault, user, log } = setup();
    states.set("github", { reauthRequired: false, tokenObtainedAt: NOW });
    await cache.store("github", secret(NOW, NOW + REFRESH_MARGIN_MS - 1));
    const results = await Promise.all(Array.from({ length: 50 }, () => cache.fresh("github", NOW)));
    expect(log.refreshes).toBe(1);
    for (const result of results)
      expect(result).toMatchObject({ ok: true, secret: { accessToken: "fresh-access-token" } });
    expect(log.refreshed).toEqual([NOW + 1]);
    const stored = await vault.get(user, "rec_github");
    expect(stored.ok && stored.value?.accessToken).toBe("fresh-access-token");
  });

  it("marks a final refusal reauth_required, forgets the token, and never retries it", async () => {
    const { cache, states, log } = setup({
      answer: async () => ({ ok: false, reauth: true, reason: "invalid_grant" }),
    });
    states.set("github", { reauthRequired: false, tokenObtainedAt: NOW });
    await cache.store("github", secret(NOW, NOW));
    expect(await cache.fresh("github", NOW)).toEqual({ ok: false, code: "reauth_required", reason: "invalid_grant" });
    expect(await cache.fresh("github", NOW)).toEqual({ ok: false, code: "reauth_required", reason: "marked" });
    expect(log.refreshes).toBe(1);
    expect(log.marked).toEqual(["invalid_grant"]);
  });

  it("answers unavailable for a passing refusal, keeps the credential, and tries again next time", async () => {
    const { cache, states, log } = setup({
      answer: async () => ({ ok: false, reauth: false, reason: "provider_timeout" }),
    });
    states.set("github", { reauthRequired: false, tokenObtainedAt: NOW });
    await cache.store("github", secret(NOW, NOW));
    expect(await cache.fresh("github", NOW)).toEqual({ ok: false, code: "unavailable", reason: "provider_timeout" });
    expect(await cache.fresh("github", NOW)).toEqual({ ok: false, code: "unavailable", reason: "provider_timeout" });
    expect(log.refreshes).toBe(2);
    expect(log.marked).toEqual([]);
  });

  it("marks a credential that expires but cannot be refreshed, and asks no token endpoint", async () => {
    const { cache, states, log } = setup({ refreshable: false });
    states.set("github", { reauthRequired: false, tokenObtainedAt: NOW });
    await cache.store("github", secret(NOW, NOW));
    expect(await cache.fresh("github", NOW)).toEqual({ ok: false, code: "reauth_required", reason: "not_refreshable" });
    expect(log.refreshes).toBe(0);
  });

  it("never expires a secret without expiresAt (an API key)", async () => {
    const { cache, states, log } = setup({ refreshable: false });
    states.set("key", { reauthRequired: false, tokenObtainedAt: NOW });
    await cache.store("key", { kind: "api_key", accessToken: "k", obtainedAt: NOW });
    expect(await cache.fresh("key", NOW + 10 * 365 * 86_400_000)).toMatchObject({ ok: true });
    expect(log.refreshes).toBe(0);
  });
});

describe("TokenCache.read", () => {
  it("never lets a slower KV read replace a newer token stored while it was in flight", async () => {
    const fake = fakeSource();
    const user = userId();
    const vault = new VaultStore(env.OAUTH_KV, keyring(K1));
    await vault.put(user, "rec_github", secret(NOW, NOW + 3_600_000, "old-token"));
    // A KV read that answers (with the old record) only after the newer token was stored.
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    class SlowVault extends VaultStore {
      override async get(...args: Parameters<VaultStore["get"]>) {
        const answer = await super.get(...args);
        await gate;
        return answer;
      }
    }
    const slowVault = new SlowVault(env.OAUTH_KV, keyring(K1));
    const cache = new TokenCache(slowVault, user, fake.source);
    const slowRead = cache.read("github");
    await cache.store("github", secret(NOW + 5, NOW + 3_600_000, "new-token"));
    release();
    const read = await slowRead;
    expect(read.ok && read.secret?.accessToken).toBe("new-token");
    const again = await cache.read("github");
    expect(again.ok && again.secret?.accessToken).toBe("new-token");
  });
});

describe("TokenCache.renew", () => {
  it("returns the newer token another call already got instead of refreshing again", async () => {
    const { cache, states, log } = setup();
    states.set("github", { reauthRequired: false, tokenObtainedAt: NOW });
    await cache.store("github", secret(NOW + 7, NOW + 3_600_000, "already-new"));
    expect(await cache.renew("github", NOW)).toMatchObject({ ok: true, secret: { accessToken: "already-new" } });
    expect(log.refreshes).toBe(0);
  });

  it("refreshes once for 20 calls that saw the same token refused", async () => {
    const { cache, states, log } = setup();
    states.set("github", { reauthRequired: false, tokenObtainedAt: NOW });
    await cache.store("github", secret(NOW, NOW + 3_600_000));
    const results = await Promise.all(Array.from({ length: 20 }, () => cache.renew("github", NOW)));
    expect(log.refreshes).toBe(1);
    for (const result of results)
      expect(result).toMatchObject({ ok: true, secret: { accessToken: "fresh-access-token" } });
  });
});

describe("TokenCache.delete", () => {
  it("removes the vault record and the copy in memory", async () => {
    const { cache, states, vault, user } = setup();
    states.set("github", { reauthRequired: false, tokenObtainedAt: NOW });
    await cache.store("github", secret(NOW, NOW + 3_600_000));
    await cache.delete("github");
    expect(await vault.get(user, "rec_github")).toEqual({ ok: true, value: null });
    expect(await cache.read("github")).toEqual({ ok: true, secret: null });
  });
});
