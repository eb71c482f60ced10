/**
 * The person's upstream MCP servers as the Durable Object manages them: which exist (added by
 * the person, or offered by the catalogue), how each authenticates, connecting and
 * disconnecting, and the catalogue kept in line with configuration. The credential lives in
 * credentials.ts, listing and calling in calls.ts.
 *
 * Invariants: credentials leave this feature only as the headers of one request to the server
 * they belong to (never as a tool argument, never in a result or an error); a refresh is
 * single-flight per server, so 20 concurrent calls cause at most one; `invalid_grant` marks the
 * server `reauth_required` and is never retried; a 401 on a call is answered by one refresh and
 * one retry, and only when the rejected token is still the newest; a call grant is consumed
 * (by the caller's `authorize`) before anything is sent; removal revokes upstream only after the
 * row was found in this person's own object, and purges vault records, row and session.
 */
import type { ErrorCode } from "../lib/errors";
import { errorLabel, log } from "../lib/log";
import type { VaultSecret } from "../vault/store";
import { type Authorize, ServerCalls, type UpstreamCallOutcome } from "./calls";
import { type CatalogueServer, checkServerName } from "./catalogue";
import { parseEndpoint } from "./client/endpoint";
import type { TokenSet } from "./client/oauth";
import { probeServer } from "./client/probe";
import type { UpstreamClient } from "./client/registration";
import { type CredentialsEnv, ServerCredentials } from "./credentials";
import { checkReadChoice, type ReadChoiceError } from "./reads";
import type { OAuthBinding, UpstreamServer, UpstreamStore } from "./store";

export interface UpstreamEnv extends CredentialsEnv {
  providerIds: readonly string[];
  /** Keeps work that outlives the current call running (the Durable Object's `waitUntil`). */
  background: (work: Promise<unknown>) => void;
}

export type AddServerError = ErrorCode<"server">;

/** Accepting reads: the server as stored, or why nothing was stored. */
export type SetReadsResult = { ok: true; server: UpstreamServer } | { ok: false; code: ReadChoiceError | "not_found" };

/** The most servers a person may add (catalogue servers do not count). */
export const MAX_USER_SERVERS = 20;

export class UpstreamServers {
  readonly #credentials: ServerCredentials;
  readonly #calls: ServerCalls;
  #synced = false;

  constructor(
    readonly store: UpstreamStore,
    private readonly env: UpstreamEnv,
    userId: string,
  ) {
    this.#credentials = new ServerCredentials(store, env, userId);
    this.#calls = new ServerCalls(store, this.#credentials, this, env.allowLoopback);
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
    const endpoint = parseEndpoint(url, { allowLoopback: this.env.allowLoopback });
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
    const probe = await probeServer(server.url, { allowLoopback: this.env.allowLoopback });
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
    await this.#credentials.revokeReplaced(server, [tokens.accessToken, tokens.refreshToken]);
    const now = Date.now();
    await this.#credentials.storeClientSecret(name, clientSecret, now);
    const secret: VaultSecret = {
      kind: "oauth2",
      accessToken: tokens.accessToken,
      obtainedAt: now,
      ...(tokens.refreshToken ? { refreshToken: tokens.refreshToken } : {}),
      ...(tokens.expiresAt !== undefined ? { expiresAt: tokens.expiresAt } : {}),
      ...(tokens.scope ? { scopes: tokens.scope.split(" ") } : {}),
    };
    await this.#credentials.storeToken(name, secret);
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
    await this.#credentials.revokeReplaced(server, []);
    const now = Date.now();
    await this.#credentials.storeToken(name, { kind: "api_key", accessToken: key, obtainedAt: now });
    await this.#credentials.storeClientSecret(name, undefined, now);
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
    const oauth = this.get(name)?.oauth;
    if (!oauth || oauth.issuer !== issuer || oauth.registration !== "dcr") return null;
    return this.#credentials.client(oauth, name);
  }

  /**
   * The person accepts some of the tools that say readOnlyHint as reads (user servers only). The
   * choice is checked against this row's tools and stored whole, or refused and nothing changes.
   */
  setReadTools(name: string, tools: string[]): SetReadsResult {
    const server = this.get(name);
    if (!server) return { ok: false, code: "not_found" };
    if (server.source !== "user") return { ok: false, code: "catalogue_server" };
    const choice = checkReadChoice(tools, server.tools);
    if (!choice.ok) return { ok: false, code: choice.error };
    this.store.setReadTools(name, choice.value, Date.now());
    return { ok: true, server: this.get(name) as UpstreamServer };
  }

  /** Fetch the tool list again (after connecting, on request, or when it is stale); single-flight. */
  refreshTools(name: string): Promise<UpstreamServer | null> {
    return this.#calls.refreshTools(name);
  }

  /** One tool call, decided through `authorize` (see calls.ts). */
  call(name: string, tool: string, args: Record<string, unknown>, authorize: Authorize): Promise<UpstreamCallOutcome> {
    return this.#calls.call(name, tool, args, authorize);
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
    const stored = await this.#credentials.read(name);
    let revokedUpstream = false;
    const now = Date.now();
    // First nothing can use it any more; then the upstream hears about it; then our copies go.
    this.store.setTokenObtainedAt(name, null, now);
    this.#credentials.forget(name);
    if (server.auth === "oauth" && server.oauth && stored) {
      revokedUpstream = await this.#credentials.revokeAll(name, server.oauth, stored);
    }
    await this.#credentials.purge(name);
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
    this.#credentials.clear();
    this.#synced = false;
  }

  /** Disconnect everything (revoking upstream where supported), for account deletion. */
  async disconnectAll(): Promise<void> {
    for (const server of this.store.list()) {
      // A visible server is disconnected (revoked, vault records deleted); a hidden one only purged.
      if (this.#visible(server)) await this.disconnect(server.name, false);
      else await this.#credentials.purge(server.name);
    }
  }

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

  /** Retire a row's credentials in the background (see ServerCredentials.retire). */
  #retire(row: UpstreamServer): void {
    if (row.tokenObtainedAt === null) return;
    const work = this.#credentials.retire(row).catch((error: unknown) =>
      log.warn("upstream.retire_failed", {
        server: row.name,
        error: errorLabel(error),
      }),
    );
    this.env.background(work);
  }

  #visible(row: UpstreamServer): boolean {
    return row.source === "user" || this.#catalogueEntry(row.name) !== undefined;
  }

  #catalogueEntry(name: string): CatalogueServer | undefined {
    return this.env.catalogue.find((entry) => entry.name === name);
  }
}
