/**
 * The person's upstream MCP servers as the Durable Object manages them: which exist (added by
 * the person, or offered by the catalogue), how each authenticates, the sealed credentials
 * (vault in KV), the transport session, the cached tool list, and one tool call at a time.
 *
 * Invariants: credentials leave this module only as the headers of one request to the server
 * they belong to (never as a tool argument, never in a result or an error); a refresh is
 * single-flight per server, so 20 concurrent calls cause at most one; `invalid_grant` marks the
 * server `reauth_required` and is never retried; a 401 on a call is answered by one refresh and
 * one retry, and only when the rejected token is still the newest; a request grant is consumed
 * (by the caller's `authorize`) before anything is sent; removal revokes upstream only after the
 * row was found in this person's own object, and purges vault records, row and session.
 */
import type { CanonicalCall, ClassifiedCall } from "../grants/types";
import { log } from "../lib/log";
import type { Result } from "../lib/result";
import type { VaultKeyring } from "../vault/keys";
import { type VaultSecret, VaultStore } from "../vault/store";
import { type CatalogueServer, checkServerName } from "./catalogue";
import { parseEndpoint } from "./client/endpoint";
import type { McpClientError } from "./client/errors";
import {
  callUpstreamTool,
  listUpstreamTools,
  type UpstreamCallResult,
  type UpstreamSessionState,
} from "./client/mcp-client";
import { refresh as refreshTokens, revoke, type TokenSet } from "./client/oauth";
import { probeServer } from "./client/probe";
import type { UpstreamClient } from "./client/registration";
import type { OAuthBinding, UpstreamServer, UpstreamStore } from "./store";
import { canonicalJson, capResult, classifyToolCall, MAX_ARGUMENT_BYTES, usableTools } from "./tools";

/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;
/** Tool lists older than this are fetched again at the next listing request. */
export const TOOLS_TTL_MS = 15 * 60_000;
/** The most bytes read from an upstream answer; results are then cut to MAX_RESULT_BYTES. */
const READ_CAP_BYTES = 4 * 1024 * 1024;

/** Vault record ids: the server's token or API key, and a client secret. Names have no `_`. */
export const tokenVaultId = (name: string) => `mcp_${name}`;
export const clientSecretVaultId = (name: string) => `mcpc_${name}`;

export interface UpstreamEnv {
  kv: KVNamespace;
  keyring: VaultKeyring;
  allowLoopback: boolean;
  catalogue: readonly CatalogueServer[];
  providerIds: readonly string[];
  /** Keeps work that outlives the current call running (the Durable Object's `waitUntil`). */
  background: (work: Promise<unknown>) => void;
}

export type AddServerError = "name_invalid" | "name_reserved" | "name_taken" | "url_invalid" | "too_many_servers";

export type UpstreamCallFailure =
  | { ok: false; code: "not_found"; reason: "server" | "tool" }
  | { ok: false; code: "not_connected" | "reauth_required" }
  | { ok: false; code: "upstream_unavailable"; reason: string }
  | { ok: false; code: "invalid_request"; reason: string }
  | { ok: false; code: "denied"; reason: string; access: "read" | "write"; call: CanonicalCall };

export type UpstreamCallOutcome =
  | { ok: true; result: UpstreamCallResult; truncated: boolean; access: "read" | "write"; grantId: string }
  | UpstreamCallFailure;

/** The decision for one classified call: allow (consuming a request grant) or deny with a reason. */
export type Authorize = (
  call: ClassifiedCall,
  phase: "preview" | "commit",
) => { allow: true; grantId: string } | { allow: false; reason: string };

type Operation<R> = (
  headers: Record<string, string>,
  state: UpstreamSessionState | null,
) => Promise<Result<R, McpClientError>>;

/** An operation's answer, or a credential failure that stopped it before or after a 401. */
type Sent<R> = Result<R, McpClientError> | { ok: false; failure: UpstreamCallFailure };

type Credential = { ok: true; headers: Record<string, string>; obtainedAt: number | null } | UpstreamCallFailure;

const MAX_USER_SERVERS = 20;

export class UpstreamServers {
  readonly #vault: VaultStore;
  readonly #cache = new Map<string, VaultSecret>();
  readonly #refreshing = new Map<string, Promise<Credential>>();
  readonly #listing = new Map<string, Promise<UpstreamServer | null>>();
  #synced = false;

  constructor(
    readonly store: UpstreamStore,
    private readonly env: UpstreamEnv,
    private readonly userId: string,
  ) {
    this.#vault = new VaultStore(env.kv, env.keyring);
  }

  get #options() {
    return { allowLoopback: this.env.allowLoopback };
  }

  /** Every server this person can use (their own and the catalogue's). */
  list(now: number): UpstreamServer[] {
    this.#sync(now);
    return this.store.list().filter((row) => this.#visible(row));
  }

  /** One server, or null when it does not exist for this person (or left the catalogue). */
  get(name: string): UpstreamServer | null {
    this.#sync(Date.now());
    const row = this.store.get(name);
    return row && this.#visible(row) ? row : null;
  }

  /** The accepted reads: the catalogue's list for catalogue servers, else the person's. */
  acceptedReads(server: UpstreamServer): string[] {
    if (server.source === "catalogue") return this.#catalogueEntry(server.name)?.readOnlyTools ?? [];
    return server.readTools;
  }

  /** Add a server the person named; then find out how it authenticates. */
  async add(
    name: string,
    url: string,
    now: number,
  ): Promise<{ ok: true; server: UpstreamServer } | { ok: false; code: AddServerError }> {
    const nameError = checkServerName(name, this.env.providerIds);
    if (nameError) return { ok: false, code: nameError };
    const endpoint = parseEndpoint(url, this.#options);
    if (!endpoint.ok) return { ok: false, code: "url_invalid" };
    this.#sync(now);
    if (this.store.list().filter((row) => row.source === "user").length >= MAX_USER_SERVERS) {
      return { ok: false, code: "too_many_servers" };
    }
    if (!this.store.insert({ name, url: endpoint.value.href, source: "user", title: name }, now)) {
      return { ok: false, code: "name_taken" };
    }
    await this.detect(name);
    return { ok: true, server: this.store.get(name) as UpstreamServer };
  }

  /**
   * Probe an unauthenticated `initialize`: open servers are connected at once (tools listed);
   * a Bearer challenge means OAuth (the person connects on /connections); a legacy server is
   * tried over SSE. Failures leave `status: error` with a code.
   */
  async detect(name: string): Promise<UpstreamServer | null> {
    const server = this.get(name);
    if (!server) return null;
    const now = Date.now();
    const probe = await probeServer(server.url, this.#options);
    if (!probe.ok) {
      this.store.setStatus(name, "error", probe.error.code, now);
      return this.get(name);
    }
    if (probe.value.auth === "oauth") {
      this.store.setAuth(name, "oauth", null, now);
      this.store.setStatus(name, server.status === "connected" ? "connected" : "not_connected", null, now);
      return this.get(name);
    }
    this.store.setAuth(name, "none", null, now);
    await this.refreshTools(name);
    return this.get(name);
  }

  /** Store OAuth tokens from a finished authorization and list the server's tools. */
  async connectOAuth(
    name: string,
    tokens: TokenSet,
    binding: OAuthBinding,
    clientSecret?: string,
  ): Promise<UpstreamServer | null> {
    const server = this.get(name);
    if (!server) return null;
    await this.#revokeReplaced(server, [tokens.accessToken, tokens.refreshToken]);
    const now = Date.now();
    if (clientSecret) {
      await this.#vault.put(this.userId, clientSecretVaultId(name), {
        kind: "api_key",
        accessToken: clientSecret,
        obtainedAt: now,
      });
    } else {
      await this.#vault.delete(this.userId, clientSecretVaultId(name));
    }
    const secret: VaultSecret = {
      kind: "oauth2",
      accessToken: tokens.accessToken,
      obtainedAt: now,
      ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
      ...(tokens.expiresAt !== undefined ? { expiresAt: tokens.expiresAt } : {}),
      ...(tokens.scope ? { scopes: tokens.scope.split(" ") } : {}),
    };
    await this.#vault.put(this.userId, tokenVaultId(name), secret);
    this.#cache.set(name, secret);
    this.store.setOAuth(name, { ...binding, hasClientSecret: Boolean(clientSecret) }, now);
    this.store.setAuth(name, "oauth", null, now);
    this.store.setTokenObtainedAt(name, now, now);
    this.store.setSession(name, null);
    // A fresh credential clears an earlier reauth_required; listing the tools sets the real status.
    this.store.setStatus(name, "not_connected", null, now);
    await this.refreshTools(name);
    return this.get(name);
  }

  /** Store a static API key, sent in `header` (Authorization: Bearer <key> by default). */
  async connectApiKey(name: string, key: string, header: string): Promise<UpstreamServer | null> {
    const server = this.get(name);
    if (!server) return null;
    await this.#revokeReplaced(server, []);
    const now = Date.now();
    const secret: VaultSecret = { kind: "api_key", accessToken: key, obtainedAt: now };
    await this.#vault.put(this.userId, tokenVaultId(name), secret);
    await this.#vault.delete(this.userId, clientSecretVaultId(name));
    this.#cache.set(name, secret);
    this.store.setAuth(name, "api_key", header, now);
    this.store.setOAuth(name, null, now);
    this.store.setTokenObtainedAt(name, now, now);
    this.store.setSession(name, null);
    this.store.setStatus(name, "not_connected", null, now);
    await this.refreshTools(name);
    return this.get(name);
  }

  /** The client we registered earlier with this issuer (so a reconnect does not register again). */
  async registeredClient(name: string, issuer: string): Promise<UpstreamClient | null> {
    const server = this.get(name);
    const oauth = server?.oauth;
    if (!oauth || oauth.issuer !== issuer || oauth.registration !== "dcr") return null;
    return this.#client(oauth, name);
  }

  /** The person accepts some of the tools that say readOnlyHint as reads (user servers only). */
  setReadTools(name: string, tools: string[]): UpstreamServer | null {
    const server = this.get(name);
    if (server?.source !== "user") return null;
    const claimed = new Set(
      server.tools.filter((tool) => tool.annotations?.readOnlyHint === true).map((tool) => tool.name),
    );
    this.store.setReadTools(name, [...new Set(tools)].filter((tool) => claimed.has(tool)).sort(), Date.now());
    return this.get(name);
  }

  /** Fetch the tool list again (after connecting, on request, or when it is stale). */
  refreshTools(name: string): Promise<UpstreamServer | null> {
    // One listing per server at a time: a stale list seen by many tools/list calls refreshes once.
    const running = this.#listing.get(name);
    if (running) return running;
    const listing = this.#listTools(name).finally(() => this.#listing.delete(name));
    this.#listing.set(name, listing);
    return listing;
  }

  async #listTools(name: string): Promise<UpstreamServer | null> {
    const server = this.get(name);
    if (!server) return null;
    const listed = await this.#withCredential(server, (headers, state) =>
      listUpstreamTools(server.url, state, { ...this.#options, headers, maxBytes: READ_CAP_BYTES }),
    );
    const now = Date.now();
    if (!listed.ok) {
      if ("failure" in listed) this.#markFailure(name, listed.failure);
      else this.store.setStatus(name, "error", listed.error.code, now);
      return this.get(name);
    }
    this.store.setSession(name, listed.value.state);
    this.store.setTools(name, usableTools(listed.value.tools), now);
    this.store.setStatus(name, "connected", null, now);
    return this.get(name);
  }

  /**
   * One tool call: server and tool known, the call classified and decided (a request grant is
   * consumed by `authorize` at commit, before anything is sent), credentials ready, then sent once.
   */
  async call(
    name: string,
    toolName: string,
    args: Record<string, unknown>,
    authorize: Authorize,
  ): Promise<UpstreamCallOutcome> {
    const server = this.get(name);
    if (!server) return { ok: false, code: "not_found", reason: "server" };
    const tool = server.tools.find((candidate) => candidate.name === toolName);
    if (!tool) return { ok: false, code: "not_found", reason: "tool" };
    if (canonicalJson(args).length > MAX_ARGUMENT_BYTES) {
      return { ok: false, code: "invalid_request", reason: "arguments_too_large" };
    }
    if (server.status === "reauth_required") return { ok: false, code: "reauth_required" };
    if ((server.auth === "oauth" || server.auth === "api_key") && !this.#hasCredential(server)) {
      return { ok: false, code: "not_connected" };
    }
    const classified = await classifyToolCall(name, tool, args, this.acceptedReads(server));
    const preview = authorize(classified, "preview");
    if (!preview.allow)
      return { ok: false, code: "denied", reason: preview.reason, access: classified.access, call: classified.call };
    const ready = await this.#credential(server, Date.now());
    if (!ready.ok) return ready;
    const decision = authorize(classified, "commit");
    if (!decision.allow)
      return { ok: false, code: "denied", reason: decision.reason, access: classified.access, call: classified.call };
    const sent = await this.#send(server, ready, (headers, state) =>
      callUpstreamTool(server.url, state, toolName, args, { ...this.#options, headers, maxBytes: READ_CAP_BYTES }),
    );
    if (!sent.ok) {
      if ("failure" in sent) return sent.failure;
      return { ok: false, code: "upstream_unavailable", reason: sent.error.code };
    }
    this.store.setSession(name, sent.value.state);
    const capped = capResult(sent.value.result);
    return {
      ok: true,
      result: capped.result,
      truncated: capped.truncated,
      access: classified.access,
      grantId: decision.grantId,
    };
  }

  /**
   * Forget a server's credentials: tokens revoked upstream (RFC 7009) where the server supports
   * it, vault records deleted, session and tools dropped. `remove` also deletes a user server's
   * row. The caller has already found the server in this person's own object.
   */
  async disconnect(name: string, remove: boolean): Promise<{ revokedUpstream: boolean } | null> {
    const server = this.get(name);
    if (!server) return null;
    if (remove && server.source !== "user") return null;
    const stored = await this.#read(name);
    let revokedUpstream = false;
    const now = Date.now();
    // First nothing can use it any more; then the upstream hears about it; then our copies go.
    this.store.setTokenObtainedAt(name, null, now);
    this.#cache.delete(name);
    if (server.auth === "oauth" && server.oauth && stored.ok && stored.secret) {
      revokedUpstream = await this.#revokeAll(name, server.oauth, stored.secret);
    }
    await this.#vault.delete(this.userId, tokenVaultId(name));
    await this.#vault.delete(this.userId, clientSecretVaultId(name));
    if (remove) this.store.delete(name);
    else {
      this.store.setSession(name, null);
      this.store.setTools(name, [], now);
      this.store.setOAuth(name, null, now);
      this.store.setStatus(name, "not_connected", null, now);
    }
    return { revokedUpstream };
  }

  /** Forget in-memory state (account deletion). */
  clear(): void {
    this.#cache.clear();
    this.#synced = false;
  }

  /** Disconnect everything (revoking upstream where supported), for account deletion. */
  async disconnectAll(): Promise<void> {
    for (const server of this.store.list()) {
      // A visible server is disconnected (revoked, vault records deleted); a hidden one only purged.
      if (this.#visible(server)) {
        await this.disconnect(server.name, false);
        continue;
      }
      await this.#vault.delete(this.userId, tokenVaultId(server.name));
      await this.#vault.delete(this.userId, clientSecretVaultId(server.name));
    }
  }

  // ── internals ────────────────────────────────────────────────────────────────────────

  /**
   * Bring catalogue rows in line with configuration, once per instance: configuration only
   * changes with a deployment, which starts the object again (and so does account deletion,
   * through `clear`).
   */
  #sync(now: number): void {
    if (this.#synced) return;
    this.#synced = true;
    for (const entry of this.env.catalogue) {
      const row = this.store.get(entry.name);
      if (!row) this.store.insert({ name: entry.name, url: entry.url, source: "catalogue", title: entry.title }, now);
      else if (row.source === "catalogue" && row.url !== entry.url) {
        // Tokens for the old URL are for another resource: revoke and drop them, start over.
        this.#retire(row);
        this.store.resetUrl(entry.name, entry.url, entry.title, now);
      } else if (row.source === "catalogue" && row.title !== entry.title) {
        this.store.setTitle(entry.name, entry.title, now);
      }
    }
    for (const row of this.store.list()) {
      if (row.source !== "catalogue" || this.#catalogueEntry(row.name)) continue;
      // The operator removed the entry: its credentials are revoked and purged, the row goes.
      this.#retire(row);
      this.store.delete(row.name);
    }
  }

  /**
   * Revoke and delete the credentials of a row that is going away or starting over, in the
   * background, from a snapshot of the row (its OAuth binding is about to be cleared). A new
   * connection made meanwhile under the same name is left alone.
   */
  #retire(row: UpstreamServer): void {
    if (row.tokenObtainedAt === null) return;
    this.#cache.delete(row.name);
    const work = (async () => {
      const stored = await this.#vault.get(this.userId, tokenVaultId(row.name));
      if (row.auth === "oauth" && row.oauth && stored.ok && stored.value) {
        await this.#revokeAll(row.name, row.oauth, stored.value);
      }
      if ((this.store.get(row.name)?.tokenObtainedAt ?? null) !== null) return;
      await this.#vault.delete(this.userId, tokenVaultId(row.name));
      await this.#vault.delete(this.userId, clientSecretVaultId(row.name));
      log.info("upstream.retired", { server: row.name });
    })().catch((error: unknown) =>
      log.warn("upstream.retire_failed", { server: row.name, error: error instanceof Error ? error.name : "unknown" }),
    );
    this.env.background(work);
  }

  #visible(row: UpstreamServer): boolean {
    return row.source === "user" || this.#catalogueEntry(row.name) !== undefined;
  }

  #catalogueEntry(name: string): CatalogueServer | undefined {
    return this.env.catalogue.find((entry) => entry.name === name);
  }

  #hasCredential(server: UpstreamServer): boolean {
    return server.tokenObtainedAt !== null;
  }

  #markFailure(name: string, failure: UpstreamCallFailure): void {
    const now = Date.now();
    if (failure.code === "reauth_required") this.store.setStatus(name, "reauth_required", "reauth_required", now);
    else if (failure.code === "not_connected") this.store.setStatus(name, "not_connected", null, now);
    else this.store.setStatus(name, "error", "reason" in failure ? failure.reason : failure.code, now);
  }

  /** Run `operation` with fresh credentials; one refresh and one retry on a 401 of a current token. */
  async #withCredential<R extends { state: UpstreamSessionState }>(
    server: UpstreamServer,
    operation: Operation<R>,
  ): Promise<Sent<R>> {
    if ((server.auth === "oauth" || server.auth === "api_key") && !this.#hasCredential(server)) {
      return { ok: false, failure: { ok: false, code: "not_connected" } };
    }
    const ready = await this.#credential(server, Date.now());
    if (!ready.ok) return { ok: false, failure: ready };
    return this.#send(server, ready, operation);
  }

  async #send<R extends { state: UpstreamSessionState }>(
    server: UpstreamServer,
    ready: Extract<Credential, { ok: true }>,
    operation: Operation<R>,
  ): Promise<Sent<R>> {
    const state = this.store.get(server.name)?.session ?? null;
    const first = await operation(ready.headers, state);
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
    // The token was refused: refresh once, unless another call already replaced it.
    const renewed = await this.#refresh(server, ready.obtainedAt);
    if (!renewed.ok) return { ok: false, failure: renewed };
    const second = await operation(renewed.headers, this.store.get(server.name)?.session ?? null);
    if (!second.ok && second.error.code === "unauthorized") {
      this.store.setStatus(server.name, "reauth_required", "unauthorized", Date.now());
      return { ok: false, failure: { ok: false, code: "reauth_required" } };
    }
    return second;
  }

  /** Headers for the server's credential, refreshing an OAuth token about to expire. */
  async #credential(server: UpstreamServer, now: number): Promise<Credential> {
    if (server.auth === "none" || server.auth === "unknown") return { ok: true, headers: {}, obtainedAt: null };
    const current = await this.#read(server.name);
    if (!current.ok) return current.failure;
    const row = this.store.get(server.name);
    if (!row || row.tokenObtainedAt === null) return { ok: false, code: "not_connected" };
    if (row.status === "reauth_required") return { ok: false, code: "reauth_required" };
    const secret = current.secret;
    if (!secret) {
      this.store.setStatus(server.name, "reauth_required", "vault_record_missing", now);
      return { ok: false, code: "reauth_required" };
    }
    if (secret.obtainedAt < row.tokenObtainedAt) {
      // KV served an older copy than the one this object last wrote: never use a stale token.
      return { ok: false, code: "upstream_unavailable", reason: "vault_stale" };
    }
    if (server.auth === "api_key")
      return { ok: true, headers: apiKeyHeaders(row.apiKeyHeader, secret.accessToken), obtainedAt: secret.obtainedAt };
    if (secret.expiresAt === undefined || secret.expiresAt - REFRESH_MARGIN_MS > now) {
      return { ok: true, headers: bearer(secret.accessToken), obtainedAt: secret.obtainedAt };
    }
    return this.#refresh(row, secret.obtainedAt);
  }

  /** Single-flight refresh; `rejected` is the token time the caller saw fail or expire. */
  #refresh(server: UpstreamServer, rejected: number | null): Promise<Credential> {
    const running = this.#refreshing.get(server.name);
    if (running) return running;
    const cached = this.#cache.get(server.name);
    if (cached && rejected !== null && cached.obtainedAt > rejected) {
      // Someone else's refresh already replaced the token this call used.
      return Promise.resolve({ ok: true, headers: bearer(cached.accessToken), obtainedAt: cached.obtainedAt });
    }
    const attempt = this.#doRefresh(server.name).finally(() => this.#refreshing.delete(server.name));
    this.#refreshing.set(server.name, attempt);
    return attempt;
  }

  async #doRefresh(name: string): Promise<Credential> {
    const server = this.get(name);
    const current = await this.#read(name);
    if (!server?.oauth || !current.ok || !current.secret?.refreshToken) {
      this.store.setStatus(name, "reauth_required", "not_refreshable", Date.now());
      return { ok: false, code: "reauth_required" };
    }
    const client = await this.#client(server.oauth, name);
    if (!client) {
      this.store.setStatus(name, "reauth_required", "client_secret_missing", Date.now());
      return { ok: false, code: "reauth_required" };
    }
    const now = Date.now();
    const refreshed = await refreshTokens(
      server.oauth,
      {
        client,
        refreshToken: current.secret.refreshToken,
        resource: server.oauth.resource,
        ...(server.oauth.scope ? { scope: server.oauth.scope } : {}),
      },
      { ...this.#options, now },
    );
    if (!refreshed.ok) {
      if (refreshed.error.code === "invalid_grant" || refreshed.error.code === "token_response_invalid") {
        this.store.setStatus(name, "reauth_required", refreshed.error.code, Date.now());
        this.#cache.delete(name);
        return { ok: false, code: "reauth_required" };
      }
      return { ok: false, code: "upstream_unavailable", reason: refreshed.error.code };
    }
    const tokens = refreshed.value;
    const obtainedAt = Math.max(now, current.secret.obtainedAt + 1);
    const secret: VaultSecret = {
      kind: "oauth2",
      accessToken: tokens.accessToken,
      obtainedAt,
      ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
      ...(tokens.expiresAt !== undefined ? { expiresAt: tokens.expiresAt } : {}),
      ...(tokens.scope
        ? { scopes: tokens.scope.split(" ") }
        : current.secret.scopes
          ? { scopes: current.secret.scopes }
          : {}),
    };
    await this.#vault.put(this.userId, tokenVaultId(name), secret);
    this.#cache.set(name, secret);
    this.store.setTokenObtainedAt(name, obtainedAt, Date.now());
    log.info("upstream.refreshed", { server: name });
    return { ok: true, headers: bearer(secret.accessToken), obtainedAt };
  }

  async #client(oauth: OAuthBinding, name: string): Promise<UpstreamClient | null> {
    const client: UpstreamClient = {
      clientId: oauth.clientId,
      ...(oauth.authMethod ? { authMethod: oauth.authMethod } : {}),
    };
    if (oauth.registration === "preregistered" && !oauth.hasClientSecret) {
      const secret = this.#catalogueEntry(name)?.clientSecret;
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
  async #revokeReplaced(server: UpstreamServer, kept: readonly (string | undefined)[]): Promise<void> {
    if (server.auth !== "oauth" || !server.oauth || server.tokenObtainedAt === null) return;
    const stored = await this.#read(server.name);
    this.#cache.delete(server.name);
    if (!stored.ok || !stored.secret) return;
    const old: VaultSecret = { ...stored.secret };
    if (old.refreshToken !== undefined && kept.includes(old.refreshToken)) delete old.refreshToken;
    const keepAccess = kept.includes(old.accessToken);
    if (keepAccess && old.refreshToken === undefined) return;
    await this.#revokeAll(server.name, server.oauth, old, !keepAccess);
  }

  async #revokeAll(name: string, oauth: OAuthBinding, secret: VaultSecret, includeAccess = true): Promise<boolean> {
    if (!oauth.revocationEndpoint) return false;
    const client = await this.#client(oauth, name);
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

  async #read(
    name: string,
  ): Promise<{ ok: true; secret: VaultSecret | null } | { ok: false; failure: UpstreamCallFailure }> {
    const cached = this.#cache.get(name);
    if (cached) return { ok: true, secret: cached };
    const stored = await this.#vault.get(this.userId, tokenVaultId(name));
    if (!stored.ok) return { ok: false, failure: { ok: false, code: "reauth_required" } };
    // Never let a slower KV read replace a newer token cached while it was in flight.
    const newer = this.#cache.get(name);
    if (newer && (!stored.value || newer.obtainedAt >= stored.value.obtainedAt)) return { ok: true, secret: newer };
    if (stored.value) this.#cache.set(name, stored.value);
    return { ok: true, secret: stored.value };
  }
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

function apiKeyHeaders(header: string | null, key: string): Record<string, string> {
  if (!header || header.toLowerCase() === "authorization") return bearer(key);
  return { [header]: key };
}
