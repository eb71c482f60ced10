/**
 * The person's provider credentials as the Durable Object manages them: connected state (SQL,
 * the source of truth), the sealed tokens (vault in KV), and refresh before expiry, single-flight
 * per provider inside this object so 50 concurrent calls cause exactly one refresh. An upstream
 * `invalid_grant` marks the link `reauth_required` and is never retried. Tokens leave this module
 * only as the headers of one allowed call.
 */

import type { VaultKeyring } from "../vault/keys";
import { type VaultSecret, VaultStore } from "../vault/store";
import { providerApp } from "./apps";
import type { ProviderLink, ProviderLinkStore } from "./links";
import { refreshTokens, revokeToken } from "./oauth-client";
import type { ProviderDefinition } from "./types";

/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;

export type CredentialFailure =
  | { code: "not_connected" }
  | { code: "reauth_required"; reason: string }
  | { code: "provider_unavailable"; reason: string };

export type CredentialResult = { ok: true; secret: VaultSecret } | { ok: false; error: CredentialFailure };

export class Credentials {
  readonly #vault: VaultStore;
  readonly #cache = new Map<string, VaultSecret>();
  readonly #refreshing = new Map<string, Promise<CredentialResult>>();

  constructor(
    readonly links: ProviderLinkStore,
    kv: KVNamespace,
    keyring: VaultKeyring,
    private readonly env: object,
    private readonly userId: string,
  ) {
    this.#vault = new VaultStore(kv, keyring);
  }

  /** Store a new credential: vault first, then the link, so "connected" never points at nothing. */
  async connect(
    provider: ProviderDefinition,
    secret: VaultSecret,
    accountHost: string | null = null,
  ): Promise<ProviderLink> {
    await this.#vault.put(this.userId, provider.id, secret);
    this.#cache.set(provider.id, secret);
    this.links.connect(provider.id, secret.kind, secret.scopes ?? [], secret.obtainedAt, Date.now(), accountHost);
    return this.links.get(provider.id) as ProviderLink;
  }

  /**
   * Disconnect: the link goes first (so no call can use the token from here on), then the token is
   * revoked at the provider where it supports that, then the vault record is deleted.
   */
  async disconnect(
    provider: ProviderDefinition | undefined,
    providerId: string,
  ): Promise<{ revokedUpstream: boolean } | null> {
    if (!this.links.get(providerId)) return null;
    const stored = await this.#read(providerId);
    this.links.delete(providerId);
    this.#cache.delete(providerId);
    let revokedUpstream = false;
    if (provider?.auth.kind === "oauth2" && stored.ok && stored.secret) {
      const app = providerApp(this.env, provider.id);
      if (app) revokedUpstream = await revokeToken(provider.auth, app, stored.secret);
    }
    await this.#vault.delete(this.userId, providerId);
    return { revokedUpstream };
  }

  /** A usable credential for one call, refreshing it first when it is about to expire. */
  async forCall(provider: ProviderDefinition, now: number): Promise<CredentialResult> {
    if (!this.links.get(provider.id)) return { ok: false, error: { code: "not_connected" } };
    const current = await this.#read(provider.id);
    if (!current.ok) return current;
    // Read the link after the await: a refresh or disconnect may have landed meanwhile.
    const link = this.links.get(provider.id);
    if (!link) return { ok: false, error: { code: "not_connected" } };
    if (link.status === "reauth_required") return { ok: false, error: { code: "reauth_required", reason: "marked" } };
    const secret = current.secret;
    if (!secret) return { ok: false, error: { code: "reauth_required", reason: "vault_record_missing" } };
    if (secret.obtainedAt < link.tokenObtainedAt) {
      // KV served an older copy than the one this object last wrote: never use a stale token.
      return { ok: false, error: { code: "provider_unavailable", reason: "vault_stale" } };
    }
    if (secret.expiresAt === undefined || secret.expiresAt - REFRESH_MARGIN_MS > now) return { ok: true, secret };
    return this.#refresh(provider, secret, now);
  }

  /** Forget in-memory state (account deletion). */
  clear(): void {
    this.#cache.clear();
  }

  /** Disconnect every provider (revoking upstream where supported), for account deletion. */
  async disconnectAll(lookup: (id: string) => ProviderDefinition | undefined): Promise<void> {
    for (const link of this.links.list()) await this.disconnect(lookup(link.providerId), link.providerId);
  }

  #refresh(provider: ProviderDefinition, secret: VaultSecret, now: number): Promise<CredentialResult> {
    const running = this.#refreshing.get(provider.id);
    if (running) return running;
    const attempt = this.#doRefresh(provider, secret, now).finally(() => this.#refreshing.delete(provider.id));
    this.#refreshing.set(provider.id, attempt);
    return attempt;
  }

  async #doRefresh(provider: ProviderDefinition, secret: VaultSecret, now: number): Promise<CredentialResult> {
    const app = providerApp(this.env, provider.id);
    if (provider.auth.kind !== "oauth2" || !provider.auth.refreshable || !secret.refreshToken || !app) {
      this.links.markReauth(provider.id, Date.now());
      return { ok: false, error: { code: "reauth_required", reason: "not_refreshable" } };
    }
    const refreshed = await refreshTokens(provider.auth, app, secret, now);
    if (!refreshed.ok) {
      if (refreshed.error.code === "invalid_grant" || refreshed.error.code === "token_response_invalid") {
        this.links.markReauth(provider.id, Date.now());
        this.#cache.delete(provider.id);
        return { ok: false, error: { code: "reauth_required", reason: refreshed.error.code } };
      }
      return { ok: false, error: { code: "provider_unavailable", reason: refreshed.error.code } };
    }
    await this.#vault.put(this.userId, provider.id, refreshed.value);
    this.#cache.set(provider.id, refreshed.value);
    this.links.refreshed(provider.id, refreshed.value.obtainedAt, Date.now());
    return { ok: true, secret: refreshed.value };
  }

  async #read(
    providerId: string,
  ): Promise<{ ok: true; secret: VaultSecret | null } | { ok: false; error: CredentialFailure }> {
    const cached = this.#cache.get(providerId);
    if (cached) return { ok: true, secret: cached };
    const stored = await this.#vault.get(this.userId, providerId);
    if (!stored.ok) return { ok: false, error: { code: "reauth_required", reason: stored.error.reason } };
    // Never let a slower KV read replace a newer token cached while it was in flight.
    const newer = this.#cache.get(providerId);
    if (newer && (!stored.value || newer.obtainedAt >= stored.value.obtainedAt)) return { ok: true, secret: newer };
    if (stored.value) this.#cache.set(providerId, stored.value);
    return { ok: true, secret: stored.value };
  }
}
