/**
 * The credential of each upstream MCP server: its sealed token or API key and client secret in
 * the vault (KV), read through the shared TokenCache (src/vault/token-cache.ts: stale-read guard,
 * single-flight refresh per server, final refusals mark `reauth_required`), turned into the
 * headers of one request; a 401 is answered by one renewal and one retry; replaced or retired
 * tokens are revoked upstream (RFC 7009).
 *
 * Invariants: a secret leaves this module only as the headers of a request to the server it
 * belongs to, never in a result, an error or a log line; `invalid_grant` and
 * `token_response_invalid` mark the server `reauth_required` and are never retried; a 401
 * renews only when the rejected token is still the newest (else the newer one is used); a
 * refreshed token's `obtainedAt` is max(now, old + 1), so the stale-read guard always sees it.
 */
import type { Coded } from "../lib/errors";
import { log } from "../lib/log";
import type { Result } from "../lib/result";
import type { VaultKeyring } from "../vault/keys";
import { type VaultSecret, VaultStore } from "../vault/store";
import { type Refreshed, TokenCache, type TokenResult } from "../vault/token-cache";
import type { CatalogueServer } from "./catalogue";
import type { McpClientError } from "./client/errors";
import type { UpstreamSessionState } from "./client/mcp-client";
import { refresh as refreshTokens, revoke } from "./client/oauth";
import type { UpstreamClient } from "./client/registration";
import type { OAuthBinding, UpstreamServer, UpstreamStore } from "./store";

/** Vault record ids: the server's token or API key, and a client secret. Names have no `_`. */
export const tokenVaultId = (name: string) => `mcp_${name}`;
export const clientSecretVaultId = (name: string) => `mcpc_${name}`;

export interface CredentialsEnv {
  kv: KVNamespace;
  keyring: VaultKeyring;
  allowLoopback: boolean;
  catalogue: readonly CatalogueServer[];
}

/** Why no request could be sent with the server's credential. */
export type CredentialFailure =
  | Coded<"upstreamCall", "not_connected" | "reauth_required", { ok: false }>
  | Coded<"upstreamCall", "upstream_unavailable", { ok: false; reason: string }>;

/** Headers for one request; `obtainedAt` is the token's time (0 for a server without auth). */
export type Credential = { ok: true; headers: Record<string, string>; obtainedAt: number } | CredentialFailure;

/** One request to the server with the given headers and transport session. */
export type Operation<R> = (
  headers: Record<string, string>,
  state: UpstreamSessionState | null,
) => Promise<Result<R, McpClientError>>;

/** An operation's answer, or a credential failure that stopped it before or after a 401. */
export type Sent<R> = Result<R, McpClientError> | { ok: false; failure: CredentialFailure };

export class ServerCredentials {
  readonly #vault: VaultStore;
  readonly #tokens: TokenCache<string>;

  constructor(
    private readonly store: UpstreamStore,
    private readonly env: CredentialsEnv,
    private readonly userId: string,
  ) {
    this.#vault = new VaultStore(env.kv, env.keyring);
    this.#tokens = new TokenCache(this.#vault, userId, {
      vaultId: tokenVaultId,
      state: (name) => {
        const row = store.get(name);
        if (!row || row.tokenObtainedAt === null) return null;
        return { reauthRequired: row.status === "reauth_required", tokenObtainedAt: row.tokenObtainedAt };
      },
      refreshable: (name) => Boolean(store.get(name)?.oauth),
      markReauth: (name, reason) => store.setStatus(name, "reauth_required", reason, Date.now()),
      refreshed: (name, secret) => {
        store.setTokenObtainedAt(name, secret.obtainedAt, Date.now());
        log.info("upstream.refreshed", { server: name });
      },
      refresh: (name, current, now) => this.#refresh(name, current, now),
    });
  }

  get #options() {
    return { allowLoopback: this.env.allowLoopback };
  }

  /** Seal a new token or API key (vault first, then memory). */
  storeToken(name: string, secret: VaultSecret): Promise<void> {
    return this.#tokens.store(name, secret);
  }

  /** Seal the client secret that goes with a connection, or delete an earlier one. */
  async storeClientSecret(name: string, clientSecret: string | undefined, now: number): Promise<void> {
    if (!clientSecret) return this.#vault.delete(this.userId, clientSecretVaultId(name));
    await this.#vault.put(this.userId, clientSecretVaultId(name), {
      kind: "api_key",
      accessToken: clientSecret,
      obtainedAt: now,
    });
  }

  /** The stored token (through the cache), for revoking it. */
  async read(name: string): Promise<VaultSecret | null> {
    const stored = await this.#tokens.read(name);
    return stored.ok ? stored.secret : null;
  }

  /** Forget the copy in memory (the SQL row no longer points at it). */
  forget(name: string): void {
    this.#tokens.forget(name);
  }

  /** Delete both vault records of a server. */
  async purge(name: string): Promise<void> {
    await this.#tokens.delete(name);
    await this.#vault.delete(this.userId, clientSecretVaultId(name));
  }

  /** Forget everything in memory (account deletion). */
  clear(): void {
    this.#tokens.clear();
  }

  /** Run `operation` with fresh credentials; one renewal and one retry on a 401 of a current token. */
  async withCredential<R>(server: UpstreamServer, operation: Operation<R>): Promise<Sent<R>> {
    if ((server.auth === "oauth" || server.auth === "api_key") && server.tokenObtainedAt === null) {
      return { ok: false, failure: { ok: false, code: "not_connected" } };
    }
    const ready = await this.credential(server, Date.now());
    if (!ready.ok) return { ok: false, failure: ready };
    return this.send(server, ready, operation);
  }

  /** Headers for the server's credential, refreshing an OAuth token about to expire. */
  async credential(server: UpstreamServer, now: number): Promise<Credential> {
    if (server.auth === "none" || server.auth === "unknown") return { ok: true, headers: {}, obtainedAt: 0 };
    return this.#headers(server.name, await this.#tokens.fresh(server.name, now));
  }

  /** Send with `ready`; a 401 renews an OAuth token once and retries once. */
  async send<R>(
    server: UpstreamServer,
    ready: Extract<Credential, { ok: true }>,
    operation: Operation<R>,
  ): Promise<Sent<R>> {
    const first = await operation(ready.headers, this.store.sessionOf(server.name));
    if (first.ok || first.error.code !== "unauthorized") return first;
    if (server.auth !== "oauth") {
      if (server.auth === "api_key") {
        this.store.setStatus(server.name, "reauth_required", "unauthorized", Date.now());
        return { ok: false, failure: { ok: false, code: "reauth_required" } };
      }
      // An open server now asks for auth: the person has to connect it.
      this.store.setAuth(server.name, "oauth", null, Date.now());
      this.store.setStatus(server.name, "not_connected", null, Date.now());
      return { ok: false, failure: { ok: false, code: "not_connected" } };
    }
    // The token was refused: renew once, unless another call already replaced it.
    const renewed = this.#headers(server.name, await this.#tokens.renew(server.name, ready.obtainedAt));
    if (!renewed.ok) return { ok: false, failure: renewed };
    const second = await operation(renewed.headers, this.store.sessionOf(server.name));
    if (!second.ok && second.error.code === "unauthorized") {
      this.store.setStatus(server.name, "reauth_required", "unauthorized", Date.now());
      return { ok: false, failure: { ok: false, code: "reauth_required" } };
    }
    return second;
  }

  /** The OAuth client for this binding, with its secret (vault or catalogue); null when it is lost. */
  async client(oauth: OAuthBinding, name: string): Promise<UpstreamClient | null> {
    const client: UpstreamClient = {
      clientId: oauth.clientId,
      ...(oauth.authMethod ? { authMethod: oauth.authMethod } : {}),
    };
    if (oauth.registration === "preregistered" && !oauth.hasClientSecret) {
      const secret = this.env.catalogue.find((entry) => entry.name === name)?.clientSecret;
      if (secret) client.clientSecret = secret;
      return client;
    }
    if (!oauth.hasClientSecret) return client;
    const stored = await this.#vault.get(this.userId, clientSecretVaultId(name));
    if (!stored.ok || !stored.value) return null;
    client.clientSecret = stored.value.accessToken;
    return client;
  }

  /**
   * OAuth tokens about to be replaced (a reconnect, or an API key instead) are revoked first,
   * except any the new credential still uses (a server may hand back the same refresh token).
   */
  async revokeReplaced(server: UpstreamServer, kept: readonly (string | undefined)[]): Promise<void> {
    if (server.auth !== "oauth" || !server.oauth || server.tokenObtainedAt === null) return;
    const stored = await this.read(server.name);
    this.#tokens.forget(server.name);
    if (!stored) return;
    const old: VaultSecret = { ...stored };
    if (old.refreshToken !== undefined && kept.includes(old.refreshToken)) delete old.refreshToken;
    const keepAccess = kept.includes(old.accessToken);
    if (keepAccess && old.refreshToken === undefined) return;
    await this.revokeAll(server.name, server.oauth, old, !keepAccess);
  }

  /**
   * Revoke and delete the credentials of a row that is going away or starting over, from a
   * snapshot of the row (its OAuth binding is about to be cleared). The vault is read directly,
   * so the retired token never returns to memory. A new connection made meanwhile under the same
   * name is left alone.
   */
  async retire(row: UpstreamServer): Promise<void> {
    this.#tokens.forget(row.name);
    const stored = await this.#vault.get(this.userId, tokenVaultId(row.name));
    if (row.auth === "oauth" && row.oauth && stored.ok && stored.value) {
      await this.revokeAll(row.name, row.oauth, stored.value);
    }
    if ((this.store.get(row.name)?.tokenObtainedAt ?? null) !== null) return;
    await this.#vault.delete(this.userId, tokenVaultId(row.name));
    await this.#vault.delete(this.userId, clientSecretVaultId(row.name));
    log.info("upstream.retired", { server: row.name });
  }

  /** Revoke the refresh token, then (unless kept) the access token; true when either was revoked. */
  async revokeAll(name: string, oauth: OAuthBinding, secret: VaultSecret, includeAccess = true): Promise<boolean> {
    if (!oauth.revocationEndpoint) return false;
    const client = await this.client(oauth, name);
    if (!client) return false;
    let revoked = false;
    // The refresh token first: revoking it ends the grant, access tokens included (RFC 7009 §2.1).
    if (secret.refreshToken) {
      const result = await revoke(
        oauth,
        { client, token: secret.refreshToken, tokenTypeHint: "refresh_token" },
        this.#options,
      );
      revoked = result.ok;
    }
    if (!includeAccess) return revoked;
    const access = await revoke(
      oauth,
      { client, token: secret.accessToken, tokenTypeHint: "access_token" },
      this.#options,
    );
    if (!access.ok) log.warn("upstream.revoke_failed", { server: name, reason: access.error.code });
    return revoked || access.ok;
  }

  /** The token endpoint's answer for the cache: final refusals say `reauth`. */
  async #refresh(name: string, current: VaultSecret, now: number): Promise<Refreshed> {
    const oauth = this.store.get(name)?.oauth;
    if (!oauth || !current.refreshToken) return { ok: false, reauth: true, reason: "not_refreshable" };
    const client = await this.client(oauth, name);
    if (!client) return { ok: false, reauth: true, reason: "client_secret_missing" };
    const refreshed = await refreshTokens(
      oauth,
      {
        client,
        refreshToken: current.refreshToken,
        resource: oauth.resource,
        ...(oauth.scope ? { scope: oauth.scope } : {}),
      },
      { ...this.#options, now },
    );
    if (!refreshed.ok) {
      const code = refreshed.error.code;
      return { ok: false, reauth: code === "invalid_grant" || code === "token_response_invalid", reason: code };
    }
    const tokens = refreshed.value;
    const secret: VaultSecret = {
      kind: "oauth2",
      accessToken: tokens.accessToken,
      obtainedAt: Math.max(now, current.obtainedAt + 1),
      ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
      ...(tokens.expiresAt !== undefined ? { expiresAt: tokens.expiresAt } : {}),
      ...(tokens.scope ? { scopes: tokens.scope.split(" ") } : current.scopes ? { scopes: current.scopes } : {}),
    };
    return { ok: true, secret };
  }

  /** A cache answer as request headers (the API key's header is read from the row after the await). */
  #headers(name: string, result: TokenResult): Credential {
    if (!result.ok) {
      if (result.code === "unavailable") return { ok: false, code: "upstream_unavailable", reason: result.reason };
      return { ok: false, code: result.code };
    }
    const row = this.store.get(name);
    const headers =
      row?.auth === "api_key"
        ? apiKeyHeaders(row.apiKeyHeader, result.secret.accessToken)
        : bearer(result.secret.accessToken);
    return { ok: true, headers, obtainedAt: result.secret.obtainedAt };
  }
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

function apiKeyHeaders(header: string | null, key: string): Record<string, string> {
  if (!header || header.toLowerCase() === "authorization") return bearer(key);
  return { [header]: key };
}
