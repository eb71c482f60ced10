/**
 * One Durable Object per user, named by the verified user id (never by anything a client sends).
 * It owns the user's MCP client connections, remembered consents, grants and their alarm
 * (GrantBook), provider credentials (Credentials) and the audit log. Thin on purpose: it wires the
 * stores and answers RPCs; policy lives in src/grants (pure). Durable Object input gates plus
 * synchronous SQL between read and write make every state change atomic.
 * Public methods are RPC; `#private` members are not reachable from outside.
 */
import { DurableObject } from "cloudflare:workers";
import { type Config, loadConfig } from "../config";
import { decide } from "../grants/decide";
import { effectiveStatus, isLive, revoke } from "../grants/transitions";
import type { ClassifiedCall, Grant, GrantKind, GrantPolicy } from "../grants/types";
import { Credentials } from "../providers/credentials";
import { type ProviderLink, ProviderLinkStore } from "../providers/links";
import { ownsHost } from "../providers/registry";
import type { TokenSet } from "../upstream/client/oauth";
import type { UpstreamClient } from "../upstream/client/registration";
import type { AddServerError } from "../upstream/servers";
import { type OAuthBinding, type ServerView, UpstreamStore } from "../upstream/store";
import { Upstream, type UpstreamCallView, type UpstreamToolGroup } from "../upstream/upstream";
import type { VaultSecret } from "../vault/store";
import { type AuditDetail, type AuditEntry, type AuditEvent, AuditLog } from "./audit-log";
import { type Connection, ConnectionStore, type ConsentKey, type NewConnection } from "./connection-store";
import {
  type AccessRequestInput,
  type AccessRequestResult,
  type CallAuthorization,
  type DecideResult,
  type Decision,
  GrantBook,
  publicGrant,
} from "./grant-book";
import { GrantStore } from "./grant-store";
import { migrate } from "./schema";

export type { Connection, ConsentKey, NewConnection } from "./connection-store";

export type { AccessRequestInput, AccessRequestResult, CallAuthorization, DecideResult, Decision } from "./grant-book";

export type BeginCallResult =
  | { ok: true; grantId: string; kind: GrantKind; headers: Record<string, string> }
  | { ok: false; code: "not_connected" | "reauth_required" | "provider_unavailable" | "unknown_provider" }
  | { ok: false; code: "denied"; reason: string };

export type { ListedTool, UpstreamCallView, UpstreamToolGroup } from "../upstream/upstream";

export interface Activity {
  pending: Grant[];
  live: Grant[];
  connections: Connection[];
  history: AuditEntry[];
}

/** How long a claimed connect state is remembered: the transaction's own lifetime. */
const CLAIM_TTL_MS = 600_000;

export class UserSession extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  readonly #book: GrantBook;
  readonly #connections: ConnectionStore;
  readonly #audit: AuditLog;
  #credentials: Credentials | null = null;
  readonly #links: ProviderLinkStore;
  #upstreamFeature: Upstream | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#audit = new AuditLog(this.#sql);
    this.#book = new GrantBook(new GrantStore(this.#sql), this.#audit, ctx.storage, () => this.#policy);
    this.#connections = new ConnectionStore(this.#sql);
    this.#links = new ProviderLinkStore(this.#sql);
    ctx.blockConcurrencyWhile(async () => migrate(this.#sql));
  }

  get #config(): Config {
    const config = loadConfig(this.env);
    if (!config.ok) throw new Error(`configuration invalid: ${config.error.code}`);
    return config.value;
  }

  get #policy(): GrantPolicy {
    return this.#config.grantPolicy;
  }

  /** The credential manager; `userId` must be the name this object was reached by. */
  #creds(userId: string): Credentials {
    if (this.ctx.id.name !== undefined && this.ctx.id.name !== userId) {
      throw new Error("user id does not name this Durable Object");
    }
    this.#credentials ??= new Credentials(this.#links, this.env.VAULT_KV, this.#config.vault, this.env, userId);
    return this.#credentials;
  }

  /** The upstream MCP server feature, built once for the person this object is named after. */
  get #upstream(): Upstream {
    if (this.#upstreamFeature) return this.#upstreamFeature;
    const userId = this.ctx.id.name;
    if (userId === undefined) throw new Error("UserSession must be reached by idFromName(userId)");
    const config = this.#config;
    this.#upstreamFeature = new Upstream({
      store: new UpstreamStore(this.#sql),
      book: this.#book,
      audit: this.#audit,
      env: {
        kv: this.env.VAULT_KV,
        keyring: config.vault,
        allowLoopback: config.upstreamLoopback,
        catalogue: config.mcpServers,
        providerIds: config.registry.all().map((provider) => provider.id),
        background: (work) => this.ctx.waitUntil(work),
      },
      userId,
    });
    return this.#upstreamFeature;
  }

  // ── connections and consent ────────────────────────────────────────────────────────────

  /**
   * Record an MCP client connection (one OAuth grant) at authorization time. The OAuth library
   * revokes the earlier grants of the same client and redirect URI when a new one completes, so
   * those connections end here too, with any grants they still held.
   */
  async recordConnection(connection: NewConnection): Promise<Connection> {
    const now = Date.now();
    const recorded = this.#connections.record(connection, now);
    const superseded = this.#connections.supersededBy(
      connection.connectionId,
      connection.clientId,
      connection.redirectUri,
    );
    for (const old of superseded) {
      for (const grant of this.#book.open(old.connectionId)) this.#book.apply(revoke(grant, now), "revoked", "system");
      this.#connections.markRevoked(old.connectionId, now);
    }
    if (superseded.length > 0) await this.#book.schedule();
    return recorded;
  }

  /** Note a tool call from a connection and return it. */
  touchConnection(connection: Omit<NewConnection, "redirectUri">): Connection {
    return this.#connections.touch(connection, Date.now());
  }

  /** The connection as recorded, recording it from the token's facts when missing (no count). */
  ensureConnection(connection: Omit<NewConnection, "redirectUri">): Connection {
    return this.#connections.ensure(connection, Date.now());
  }

  /** Every connection this user has authorized, most recent first. */
  listConnections(): Connection[] {
    return this.#connections.list();
  }

  /** Remember that the user approved `scopes` for this client + redirect URI + resource. */
  rememberConsent(key: ConsentKey, scopes: string[]): void {
    this.#connections.rememberConsent(key, scopes, Date.now());
  }

  /** Whether a remembered consent covers every scope now requested. */
  consentCovers(key: ConsentKey, scopes: string[]): boolean {
    return this.#connections.consentCovers(key, scopes);
  }

  /** Forget every remembered consent for a client; returns how many were removed. */
  forgetConsent(clientId: string): number {
    return this.#connections.forgetConsent(clientId);
  }

  /**
   * The person disconnects a client connection: its grants end, it is marked revoked and its
   * client's remembered consent is forgotten. Returns null when this user has no such connection.
   */
  async revokeConnection(connectionId: string): Promise<Connection | null> {
    const connection = this.#connections.get(connectionId);
    if (!connection) return null;
    const now = Date.now();
    for (const grant of this.#book.open(connectionId)) this.#book.apply(revoke(grant, now), "revoked", "human");
    this.#connections.markRevoked(connectionId, now);
    this.#connections.forgetConsent(connection.clientId);
    this.#audit.append({
      at: now,
      event: "connection_revoked",
      actor: "human",
      grantId: null,
      connectionId,
      clientName: connection.clientName,
      detail: {},
    });
    await this.#book.schedule();
    return this.#connections.get(connectionId);
  }

  /**
   * Claim a connect callback's state once: true for the first claim, false for every replay.
   * Claims older than the transaction's lifetime (10 min) are forgotten.
   */
  claimConnectState(stateHash: string): boolean {
    const now = Date.now();
    this.#sql.exec("DELETE FROM connect_claims WHERE claimed_at < ?", now - CLAIM_TTL_MS);
    return (
      this.#sql.exec(
        "INSERT INTO connect_claims (state_hash, claimed_at) VALUES (?, ?) ON CONFLICT (state_hash) DO NOTHING",
        stateHash,
        now,
      ).rowsWritten > 0
    );
  }

  // ── grants (the logic lives in GrantBook) ────────────────────────────────────────────

  /** The agent asks. Duplicates from the same connection coalesce; floods are refused. */
  requestAccess(input: AccessRequestInput): Promise<AccessRequestResult> {
    return this.#book.requestAccess(input);
  }

  /** A grant as the agent's connection sees it; null when it is not this connection's. */
  getForConnection(id: string, connectionId: string): Grant | null {
    return this.#book.getForConnection(id, connectionId);
  }

  /** A grant as the approval page sees it: only with the right link token. */
  viewRequest(id: string, linkTokenHash: string): Grant | null {
    return this.#book.viewRequest(id, linkTokenHash);
  }

  /** The person approves or denies through the approval link. Exactly one decision wins. */
  decide(id: string, linkTokenHash: string, decision: Decision): Promise<DecideResult> {
    return this.#book.decide(id, linkTokenHash, decision);
  }

  /** Hold until the person decides (event-driven, no polling), up to `timeoutMs`. */
  waitForDecision(id: string, connectionId: string, timeoutMs: number): Promise<Grant | null> {
    return this.#book.waitForDecision(id, connectionId, timeoutMs);
  }

  /** Live (approved, unexpired) grants of one connection. */
  authority(connectionId: string): Grant[] {
    return this.#book.authority(connectionId);
  }

  /** The agent drops one of its grants or requests, or all of its authority. */
  revokeForConnection(connectionId: string, id?: string): Promise<{ revoked: Grant[] } | null> {
    return this.#book.revokeForConnection(connectionId, id);
  }

  /** The person revokes a grant from the activity page. */
  revokeByOwner(id: string): Promise<Grant | null> {
    return this.#book.revokeByOwner(id);
  }

  /** May this call run now? A request grant is consumed here, before any outbound request. */
  authorizeCall(call: ClassifiedCall, connectionId: string, requestId?: string): CallAuthorization {
    return this.#book.authorizeCall(call, connectionId, requestId);
  }

  /** Everything the activity page shows. */
  activity(historyLimit = 100): Activity {
    const now = Date.now();
    const open = this.#book.open();
    return {
      pending: open.filter((grant) => effectiveStatus(grant, now) === "pending").map(publicGrant),
      live: open.filter((grant) => isLive(grant, now)).map(publicGrant),
      connections: this.listConnections(),
      history: this.#audit.list(historyLimit),
    };
  }

  /** Export of everything this object holds about the person (no secrets are held here). */
  exportAll(): { connections: Connection[]; grants: Grant[]; audit: AuditEntry[] } {
    return {
      connections: this.listConnections(),
      grants: this.#book.recent(100_000),
      audit: this.#audit.list(1_000_000),
    };
  }

  /** Delete everything: account deletion. Waiters are released, the alarm is cancelled. */
  async purge(userId: string): Promise<void> {
    const credentials = this.#creds(userId);
    await credentials.disconnectAll((id) => this.#config.registry.byId(id));
    credentials.clear();
    await this.#upstream.purge();
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    // The object lives on in memory: give it its (empty) schema back, then release any waiters,
    // who now find nothing.
    migrate(this.#sql);
    this.#book.releaseWaiters();
  }

  /** Expire everything due, in batches; idempotent; then aim the alarm at the next deadline. */
  override async alarm(): Promise<void> {
    await this.#book.expireDue();
  }

  // ── provider credentials and calls ───────────────────────────────────────────────────

  /** Store a credential the person just connected (OAuth callback or pasted API key). */
  async connectProvider(
    userId: string,
    providerId: string,
    secret: VaultSecret,
    accountHost?: string,
  ): Promise<ProviderLink | null> {
    const provider = this.#config.registry.byId(providerId);
    if (!provider) return null;
    // A per-account provider's credential is bound to the one account host the person named.
    const perAccount = (provider.hostSuffixes ?? []).length > 0;
    if (perAccount && (accountHost === undefined || !ownsHost(provider, accountHost))) return null;
    const link = await this.#creds(userId).connect(provider, secret, perAccount ? (accountHost as string) : null);
    this.#providerEvent("provider_connected", providerId, { kind: secret.kind });
    return link;
  }

  /** Disconnect: link removed, grants naming the provider end, token revoked upstream, vault record deleted. */
  async disconnectProvider(userId: string, providerId: string): Promise<{ revokedUpstream: boolean } | null> {
    const credentials = this.#creds(userId);
    const provider = this.#config.registry.byId(providerId);
    const result = await credentials.disconnect(provider, providerId);
    if (!result) return null;
    this.#providerEvent("provider_disconnected", providerId, { revoked_upstream: result.revokedUpstream });
    const now = Date.now();
    for (const grant of this.#book.open()) {
      const names = grant.status === "pending" ? grant.requestedProviders : grant.providers;
      if (names.includes(providerId)) this.#book.apply(revoke(grant, now), "revoked", "human");
    }
    await this.#book.schedule();
    return result;
  }

  /** Every provider the person connected, with its status. */
  providerLinks(): ProviderLink[] {
    return this.#links.list();
  }

  /**
   * Everything before an outbound call, in one step: the provider is connected, a live grant of
   * this connection covers the call, and a fresh credential exists (refreshed single-flight).
   * A request grant is consumed here, after the credential is ready and before the caller fetches.
   */
  async beginCall(
    userId: string,
    call: ClassifiedCall,
    connectionId: string,
    requestId?: string,
  ): Promise<BeginCallResult> {
    const provider = this.#config.registry.byId(call.provider);
    if (!provider) return { ok: false, code: "unknown_provider" };
    const credentials = this.#creds(userId);
    // Every refusal lands in the audit log with its reason, like every allowed call.
    const refuse = (result: Extract<BeginCallResult, { ok: false }>): BeginCallResult => {
      this.#book.auditRefusal(call, connectionId, requestId, "reason" in result ? result.reason : result.code);
      return result;
    };
    const link = this.#links.get(provider.id);
    if (!link) return refuse({ ok: false, code: "not_connected" });
    if (link.status === "reauth_required") return refuse({ ok: false, code: "reauth_required" });
    if (link.accountHost !== null && new URL(call.call.url).hostname !== link.accountHost) {
      return refuse({ ok: false, code: "denied", reason: "wrong_account" });
    }
    const preview = decide(this.#book.candidates(connectionId, requestId), call, connectionId, Date.now(), requestId);
    if (!preview.allow) return refuse({ ok: false, code: "denied", reason: preview.reason });
    const credential = await credentials.forCall(provider, Date.now());
    if (!credential.ok) return refuse({ ok: false, code: credential.error.code });
    // State may have changed while the credential was refreshed: decide again, atomically with consuming.
    const decision = this.authorizeCall(call, connectionId, requestId);
    if (!decision.allow) return { ok: false, code: "denied", reason: decision.reason };
    const headers = provider.credentialHeaders(credential.secret.accessToken);
    return { ok: true, grantId: decision.grantId, kind: decision.kind, headers };
  }

  /** What became of an allowed call (status and size, never the body or a token). */
  recordCallOutcome(connectionId: string, grantId: string, detail: AuditDetail): void {
    this.#audit.append({
      at: Date.now(),
      event: "call_completed",
      actor: "agent",
      grantId,
      connectionId,
      clientName: null,
      detail,
    });
  }

  // ── upstream MCP servers (the logic lives in upstream/upstream.ts) ─────────────────────

  /** Every upstream server this person can use (their own and the catalogue's). */
  upstreamServers(): ServerView[] {
    return this.#upstream.servers();
  }

  /** One upstream server, or null when this person has no such server. */
  upstreamServer(name: string): ServerView | null {
    return this.#upstream.server(name);
  }

  /** The person (or their agent) adds a server by URL; its auth is probed at once. */
  addUpstreamServer(
    name: string,
    url: string,
    actor: "agent" | "human",
  ): Promise<{ ok: true; server: ServerView } | { ok: false; code: AddServerError }> {
    return this.#upstream.add(name, url, actor);
  }

  /** Probe again how a server authenticates (after an error, or a catalogue server's first use). */
  detectUpstreamServer(name: string): Promise<ServerView | null> {
    return this.#upstream.detect(name);
  }

  /** A finished upstream OAuth authorization: store the tokens and list the tools. */
  connectUpstreamOAuth(
    name: string,
    tokens: TokenSet,
    binding: OAuthBinding,
    clientSecret?: string,
  ): Promise<ServerView | null> {
    return this.#upstream.connectOAuth(name, tokens, binding, clientSecret);
  }

  /** A pasted static API key for a server. */
  connectUpstreamApiKey(name: string, key: string, header: string): Promise<ServerView | null> {
    return this.#upstream.connectApiKey(name, key, header);
  }

  /** The client registered earlier (DCR) with this issuer for this server, to reuse on reconnect. */
  upstreamRegisteredClient(name: string, issuer: string): Promise<UpstreamClient | null> {
    return this.#upstream.registeredClient(name, issuer);
  }

  /** The person accepts which read-only-annotated tools count as reads. */
  setUpstreamReadTools(name: string, tools: string[]): ServerView | null {
    return this.#upstream.setReadTools(name, tools);
  }

  /** Fetch a server's tool list again. */
  refreshUpstreamTools(name: string): Promise<ServerView | null> {
    return this.#upstream.refreshTools(name);
  }

  /** Disconnect or remove a server found in this person's own object; grants naming it end. */
  disconnectUpstream(name: string, remove: boolean): Promise<{ revokedUpstream: boolean } | null> {
    return this.#upstream.disconnect(name, remove);
  }

  /** Classify one upstream tool call (for a one-call approval); null when server or tool is unknown. */
  classifyUpstreamCall(name: string, tool: string, args: Record<string, unknown>): Promise<ClassifiedCall | null> {
    return this.#upstream.classifyCall(name, tool, args);
  }

  /** The tools of every server that has listed them, for tools/list. */
  upstreamTools(): UpstreamToolGroup[] {
    return this.#upstream.tools();
  }

  /** One upstream tool call for an MCP client connection, decided by its grants and audited. */
  callUpstreamTool(
    connectionId: string,
    name: string,
    tool: string,
    args: Record<string, unknown>,
  ): Promise<UpstreamCallView> {
    return this.#upstream.callTool(connectionId, name, tool, args);
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────

  #providerEvent(event: AuditEvent, providerId: string, detail: AuditDetail): void {
    this.#audit.append({
      at: Date.now(),
      event,
      actor: "human",
      grantId: null,
      connectionId: null,
      clientName: null,
      detail: { provider: providerId, ...detail },
    });
  }
}

/** The Durable Object of a verified user. */
export function sessionFor(namespace: DurableObjectNamespace<UserSession>, userId: string) {
  return namespace.get(namespace.idFromName(userId));
}
