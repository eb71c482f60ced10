/**
 * The one token cache of a person's Durable Object, for provider credentials and upstream MCP
 * servers alike: a read-through copy of sealed vault records (KV), the stale-read guard, and
 * refresh before expiry, single-flight per credential inside this object.
 *
 * Invariants:
 * - SQL, owned by the feature (its `TokenSource`), is the source of truth for "connected",
 *   "reauth required" and the time of the newest token; it is read again after every await.
 * - A slower KV read never replaces a newer token cached while it was in flight, and a KV copy
 *   older than the newest token SQL knows of is never used ("vault_stale").
 * - One refresh at a time per credential: 50 concurrent calls cause at most one token request.
 * - A refusal the feature calls final (`reauth: true`, e.g. `invalid_grant`) marks the credential
 *   reauth-required and forgets it; it is never retried here.
 * - Secrets leave only as the `secret` of a successful result; no reason carries token text.
 */
import type { Coded } from "../lib/errors";
import type { VaultSecret, VaultStore } from "./store";

/** Refresh this long before an access token expires. */
export const REFRESH_MARGIN_MS = 60_000;

/** What the owner's SQL says of one connected credential. */
export interface TokenState {
  reauthRequired: boolean;
  /** When the newest token this object stored was obtained. */
  tokenObtainedAt: number;
}

/** A token endpoint's answer to one refresh, as the owning feature judged it. */
export type Refreshed = { ok: true; secret: VaultSecret } | { ok: false; reauth: boolean; reason: string };

export type TokenResult =
  | { ok: true; secret: VaultSecret }
  | Coded<"tokenCache", "not_connected", { ok: false }>
  | Coded<"tokenCache", "reauth_required", { ok: false; reason: string }>
  | Coded<"tokenCache", "unavailable", { ok: false; reason: string }>;

/** The owning feature's side of the cache: its records, its SQL state and its token endpoint. */
export interface TokenSource<K extends string> {
  /** The vault record id of a credential (`github`, `mcp_linear`). */
  vaultId(key: K): string;
  /** The credential's state in SQL, or null when it is not connected. */
  state(key: K): TokenState | null;
  /** Whether a token endpoint can renew this credential (an API key, or a provider without refresh, cannot). */
  refreshable(key: K): boolean;
  markReauth(key: K, reason: string): void;
  /** A refreshed secret is in the vault: record its `obtainedAt` in SQL. */
  refreshed(key: K, secret: VaultSecret): void;
  /** Ask the token endpoint for a new token; `current` is the secret being replaced. */
  refresh(key: K, current: VaultSecret, now: number): Promise<Refreshed>;
}

type Read = { ok: true; secret: VaultSecret | null } | { ok: false; reason: string };

export class TokenCache<K extends string> {
  readonly #vault: VaultStore;
  readonly #userId: string;
  readonly #source: TokenSource<K>;
  readonly #cache = new Map<K, VaultSecret>();
  readonly #refreshing = new Map<K, Promise<TokenResult>>();

  constructor(vault: VaultStore, userId: string, source: TokenSource<K>) {
    this.#vault = vault;
    this.#userId = userId;
    this.#source = source;
  }

  /** Store a secret: the vault first, then memory, so SQL never points at a record that is not there. */
  async store(key: K, secret: VaultSecret): Promise<void> {
    await this.#vault.put(this.#userId, this.#source.vaultId(key), secret);
    this.#cache.set(key, secret);
  }

  /** The stored secret (null when there is no record), from memory or KV. */
  async read(key: K): Promise<Read> {
    const cached = this.#cache.get(key);
    if (cached) return { ok: true, secret: cached };
    const stored = await this.#vault.get(this.#userId, this.#source.vaultId(key));
    if (!stored.ok) return { ok: false, reason: stored.error.reason };
    // Never let a slower KV read replace a newer token cached while it was in flight.
    const newer = this.#cache.get(key);
    if (newer && (!stored.value || newer.obtainedAt >= stored.value.obtainedAt)) return { ok: true, secret: newer };
    if (stored.value) this.#cache.set(key, stored.value);
    return { ok: true, secret: stored.value };
  }

  /** A usable secret for one request now, refreshed first when it expires within the margin. */
  async fresh(key: K, now: number): Promise<TokenResult> {
    if (!this.#source.state(key)) return { ok: false, code: "not_connected" };
    const current = await this.read(key);
    if (!current.ok) return { ok: false, code: "reauth_required", reason: current.reason };
    // Read the state after the await: a refresh or a disconnect may have landed meanwhile.
    const state = this.#source.state(key);
    if (!state) return { ok: false, code: "not_connected" };
    if (state.reauthRequired) return { ok: false, code: "reauth_required", reason: "marked" };
    const secret = current.secret;
    if (!secret) {
      this.#source.markReauth(key, "vault_record_missing");
      return { ok: false, code: "reauth_required", reason: "vault_record_missing" };
    }
    // KV served an older copy than the one this object last wrote: never use a stale token.
    if (secret.obtainedAt < state.tokenObtainedAt) return { ok: false, code: "unavailable", reason: "vault_stale" };
    if (secret.expiresAt === undefined || secret.expiresAt - REFRESH_MARGIN_MS > now) return { ok: true, secret };
    return this.#refresh(key, null);
  }

  /**
   * After the server refused the token obtained at `rejectedObtainedAt`: the newer token another
   * call already got, or one single-flight refresh.
   */
  renew(key: K, rejectedObtainedAt: number): Promise<TokenResult> {
    return this.#refresh(key, rejectedObtainedAt);
  }

  /** The vault record is deleted and memory forgotten. */
  async delete(key: K): Promise<void> {
    this.#cache.delete(key);
    await this.#vault.delete(this.#userId, this.#source.vaultId(key));
  }

  /** Forget one credential's copy in memory (its link is gone). */
  forget(key: K): void {
    this.#cache.delete(key);
  }

  /** Forget everything in memory (account deletion). */
  clear(): void {
    this.#cache.clear();
  }

  #refresh(key: K, rejected: number | null): Promise<TokenResult> {
    const running = this.#refreshing.get(key);
    if (running) return running;
    const cached = this.#cache.get(key);
    if (cached && rejected !== null && cached.obtainedAt > rejected) {
      // Someone else's refresh already replaced the token this call used.
      return Promise.resolve({ ok: true, secret: cached });
    }
    const attempt = this.#doRefresh(key).finally(() => this.#refreshing.delete(key));
    this.#refreshing.set(key, attempt);
    return attempt;
  }

  async #doRefresh(key: K): Promise<TokenResult> {
    const current = await this.read(key);
    if (!current.ok) return { ok: false, code: "reauth_required", reason: current.reason };
    if (!current.secret?.refreshToken || !this.#source.refreshable(key)) {
      this.#source.markReauth(key, "not_refreshable");
      return { ok: false, code: "reauth_required", reason: "not_refreshable" };
    }
    const refreshed = await this.#source.refresh(key, current.secret, Date.now());
    if (!refreshed.ok) {
      if (!refreshed.reauth) return { ok: false, code: "unavailable", reason: refreshed.reason };
      this.#source.markReauth(key, refreshed.reason);
      this.#cache.delete(key);
      return { ok: false, code: "reauth_required", reason: refreshed.reason };
    }
    await this.store(key, refreshed.secret);
    this.#source.refreshed(key, refreshed.secret);
    return { ok: true, secret: refreshed.secret };
  }
}
