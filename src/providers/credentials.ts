/**
 * The person's provider credentials as the Durable Object manages them: connected state (SQL,
 * the source of truth, in ProviderLinkStore) and the sealed tokens, read, refreshed and stored
 * through the shared TokenCache (src/vault/token-cache.ts: stale-read guard, single-flight
 * refresh). An upstream `invalid_grant` marks the link `reauth_required` and is never retried.
 * Tokens leave this module only as the headers of one allowed call.
 */

import type { Coded } from "../lib/errors";
import type { VaultKeyring } from "../vault/keys";
import { type VaultSecret, VaultStore } from "../vault/store";
import { type Refreshed, TokenCache, type TokenResult } from "../vault/token-cache";
import { providerApp } from "./apps";
import type { ProviderLink, ProviderLinkStore } from "./links";
import { refreshTokens, revokeToken } from "./oauth-client";
import type { ProviderDefinition } from "./types";

export type CredentialFailure =
  | Coded<"credential", "not_connected">
  | Coded<"credential", "reauth_required", { reason: string }>
  | Coded<"credential", "provider_unavailable", { reason: string }>;

export type CredentialResult = { ok: true; secret: VaultSecret } | { ok: false; error: CredentialFailure };

export class Credentials {
  readonly #tokens: TokenCache<string>;
  /** The providers of the calls in flight, for the token endpoint of a refresh. */
  readonly #providers = new Map<string, ProviderDefinition>();

  constructor(
    readonly links: ProviderLinkStore,
    kv: KVNamespace,
    keyring: VaultKeyring,
    private readonly env: object,
    userId: string,
  ) {
    this.#tokens = new TokenCache(new VaultStore(kv, keyring), userId, {
      vaultId: (providerId) => providerId,
      state: (providerId) => {
        const link = this.links.get(providerId);
        return link
          ? { reauthRequired: link.status === "reauth_required", tokenObtainedAt: link.tokenObtainedAt }
          : null;
      },
      refreshable: (providerId) => {
        const provider = this.#providers.get(providerId);
        return provider?.auth.kind === "oauth2" && provider.auth.refreshable && !!providerApp(this.env, providerId);
      },
      markReauth: (providerId) => this.links.markReauth(providerId, Date.now()),
      refreshed: (providerId, secret) => this.links.refreshed(providerId, secret.obtainedAt, Date.now()),
      refresh: (providerId, current, now) => this.#refreshAt(providerId, current, now),
    });
  }

  /** Store a new credential: vault first, then the link, so "connected" never points at nothing. */
  async connect(
    provider: ProviderDefinition,
    secret: VaultSecret,
    accountHost: string | null = null,
  ): Promise<ProviderLink> {
    await this.#tokens.store(provider.id, secret);
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
    const stored = await this.#tokens.read(providerId);
    this.links.delete(providerId);
    this.#tokens.forget(providerId);
    let revokedUpstream = false;
    if (provider?.auth.kind === "oauth2" && stored.ok && stored.secret) {
      const app = providerApp(this.env, provider.id);
      if (app) revokedUpstream = await revokeToken(provider.auth, app, stored.secret);
    }
    await this.#tokens.delete(providerId);
    return { revokedUpstream };
  }

  /** A usable credential for one call, refreshing it first when it is about to expire. */
  async forCall(provider: ProviderDefinition, now: number): Promise<CredentialResult> {
    this.#providers.set(provider.id, provider);
    return asCredential(await this.#tokens.fresh(provider.id, now));
  }

  /** Forget in-memory state (account deletion). */
  clear(): void {
    this.#tokens.clear();
  }

  /** Disconnect every provider (revoking upstream where supported), for account deletion. */
  async disconnectAll(lookup: (id: string) => ProviderDefinition | undefined): Promise<void> {
    for (const link of this.links.list()) await this.disconnect(lookup(link.providerId), link.providerId);
  }

  async #refreshAt(providerId: string, current: VaultSecret, now: number): Promise<Refreshed> {
    const provider = this.#providers.get(providerId);
    const app = providerApp(this.env, providerId);
    if (provider?.auth.kind !== "oauth2" || !app) return { ok: false, reauth: true, reason: "not_refreshable" };
    const refreshed = await refreshTokens(provider.auth, app, current, now);
    if (refreshed.ok) return { ok: true, secret: refreshed.value };
    const final = refreshed.error.code === "invalid_grant" || refreshed.error.code === "token_response_invalid";
    return { ok: false, reauth: final, reason: refreshed.error.code };
  }
}

/** The token cache's answer in this feature's words. */
function asCredential(result: TokenResult): CredentialResult {
  if (result.ok) return result;
  if (result.code === "not_connected") return { ok: false, error: { code: "not_connected" } };
  if (result.code === "reauth_required")
    return { ok: false, error: { code: "reauth_required", reason: result.reason } };
  return { ok: false, error: { code: "provider_unavailable", reason: result.reason } };
}
