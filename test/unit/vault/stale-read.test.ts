/**
 * The stale-read guard of the token cache under the race docs/threat-model.md F6 describes: a
 * call whose KV read started before another call's refresh, and answers (with the old, expired
 * record) after it. The guard must keep the refreshed token: the late read neither puts the old
 * token back in the cache nor starts a second refresh with the old refresh token.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { type VaultSecret, VaultStore } from "../../../src/vault/store";
import { TokenCache, type TokenSource, type TokenState } from "../../../src/vault/token-cache";
import { CANARY_REFRESH, K1, keyring, userId } from "./fixtures";

const NOW = 1_800_000_000_000;
const OLD: VaultSecret = {
  kind: "oauth2",
  accessToken: "old-access-token",
  refreshToken: CANARY_REFRESH,
  obtainedAt: NOW - 3_600_000,
  expiresAt: NOW - 1,
};
const NEW: VaultSecret = {
  kind: "oauth2",
  accessToken: "refreshed-access-token",
  refreshToken: "refreshed-refresh-token",
  obtainedAt: NOW,
  expiresAt: NOW + 3_600_000,
};

/** A vault whose first `get` answers only when released, after reading KV like any other. */
class FirstReadHeld extends VaultStore {
  #held = true;
  #release: () => void = () => {};
  readonly #gate = new Promise<void>((resolve) => {
    this.#release = resolve;
  });
  release(): void {
    this.#release();
  }
  override async get(...args: Parameters<VaultStore["get"]>) {
    const held = this.#held;
    this.#held = false;
    const answer = await super.get(...args);
    if (held) await this.#gate;
    return answer;
  }
}

function setup() {
  const user = userId();
  const vault = new FirstReadHeld(env.OAUTH_KV, keyring(K1));
  let state: TokenState = { reauthRequired: false, tokenObtainedAt: OLD.obtainedAt };
  const refreshedWith: (string | undefined)[] = [];
  const source: TokenSource<string> = {
    vaultId: (key) => `rec_${key}`,
    state: () => state,
    refreshable: () => true,
    markReauth: () => {
      state = { ...state, reauthRequired: true };
    },
    refreshed: (_key, secret) => {
      state = { reauthRequired: false, tokenObtainedAt: secret.obtainedAt };
    },
    refresh: async (_key, current) => {
      refreshedWith.push(current.refreshToken);
      return { ok: true, secret: NEW };
    },
  };
  return { user, vault, refreshedWith, cache: new TokenCache(vault, user, source), state: () => state };
}

describe("TokenCache stale-read guard", () => {
  it("keeps the refreshed token when a KV read that started before the refresh answers after it", async () => {
    const { user, vault, refreshedWith, cache, state } = setup();
    await vault.put(user, "rec_google", OLD);
    // Call A reads KV first and is held; call B reads the same expired record and refreshes.
    const late = cache.fresh("google", NOW);
    const refreshing = await cache.fresh("google", NOW);
    expect(refreshing).toEqual({ ok: true, secret: NEW });
    expect(state().tokenObtainedAt).toBe(NEW.obtainedAt);
    // A's read now answers with the old record: it must get the new token, not the old one.
    vault.release();
    expect(await late).toEqual({ ok: true, secret: NEW });
    expect(refreshedWith).toEqual([CANARY_REFRESH]);
    expect(await cache.read("google")).toEqual({ ok: true, secret: NEW });
    const stored = await vault.get(user, "rec_google");
    expect(stored.ok && stored.value?.accessToken).toBe(NEW.accessToken);
    // Later calls use the new token without another refresh.
    expect(await cache.fresh("google", NOW + 1000)).toEqual({ ok: true, secret: NEW });
    expect(refreshedWith).toHaveLength(1);
  });
});
