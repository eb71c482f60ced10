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
import { type AddServerError, TOOLS_TTL_MS, type UpstreamCallFailure, UpstreamServers } from "../upstream/servers";
import { type OAuthBinding, type ServerView, serverView, UpstreamStore } from "../upstream/store";
import { classifyToolCall, type PresentedTool, presentTool } from "../upstream/tools";
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

/** One upstream tool as our tools/list shows it; its input schema travels as JSON text. */
export type ListedTool = Omit<PresentedTool, "inputSchema"> & { inputSchemaJson: string };

/** The tools of one upstream server, as our tools/list shows them. */
export interface UpstreamToolGroup {
  server: string;
  title: string;
  tools: ListedTool[];
}

/** An upstream tool call's outcome over RPC: the result's content as JSON text. */
export type UpstreamCallView =
  | {
      ok: true;
      contentJson: string;
      structuredJson: string | null;
      isError: boolean;
      truncated: boolean;
      access: "read" | "write";
      grantId: string;
    }
  | UpstreamCallFailure;

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
  #upstreamServers: UpstreamServers | null = null;

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

  /** The upstream MCP server manager; `userId` must be the name this object was reached by. */
  #upstream(userId: string): UpstreamServers {
    if (this.ctx.id.name !== undefined && this.ctx.id.name !== userId) {
      throw new Error("user id does not name this Durable Object");
    }
    const config = this.#config;
    this.#upstreamServers ??= new UpstreamServers(
      new UpstreamStore(this.#sql),
      {
        kv: this.env.VAULT_KV,
        keyring: config.vault,
        allowLoopback: config.upstreamLoopback,
        catalogue: config.mcpServers,
        providerIds: config.registry.all().map((provider) => provider.id),
        background: (work) => this.ctx.waitUntil(work),
      },
      userId,
    );
    return this.#upstreamServers;
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
    const upstream = this.#upstream(userId);
    await upstream.disconnectAll();
    upstream.clear();
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

  // ── upstream MCP servers ─────────────────────────────────────────────────────────────

  /** Every upstream server this person can use (their own and the catalogue's). */
  upstreamServers(userId: string): ServerView[] {
    return this.#upstream(userId).list(Date.now()).map(serverView);
  }

  /** One upstream server, or null when this person has no such server. */
  upstreamServer(userId: string, name: string): ServerView | null {
    return view(this.#upstream(userId).get(name));
  }

  /** The person (or their agent) adds a server by URL; its auth is probed at once. */
  async addUpstreamServer(
    userId: string,
    name: string,
    url: string,
    actor: "agent" | "human",
  ): Promise<{ ok: true; server: ServerView } | { ok: false; code: AddServerError }> {
    const added = await this.#upstream(userId).add(name, url, Date.now());
    if (!added.ok) return added;
    this.#serverEvent("server_added", actor, name, { auth: added.server.auth, status: added.server.status });
    return { ok: true, server: serverView(added.server) };
  }

  /** Probe again how a server authenticates (after an error, or a catalogue server's first use). */
  async detectUpstreamServer(userId: string, name: string): Promise<ServerView | null> {
    return view(await this.#upstream(userId).detect(name));
  }

  /** A finished upstream OAuth authorization: store the tokens and list the tools. */
  async connectUpstreamOAuth(
    userId: string,
    name: string,
    tokens: TokenSet,
    binding: OAuthBinding,
    clientSecret?: string,
  ): Promise<ServerView | null> {
    const server = await this.#upstream(userId).connectOAuth(name, tokens, binding, clientSecret);
    if (server) this.#serverEvent("server_connected", "human", name, { auth: "oauth", status: server.status });
    return view(server);
  }

  /** A pasted static API key for a server. */
  async connectUpstreamApiKey(userId: string, name: string, key: string, header: string): Promise<ServerView | null> {
    const server = await this.#upstream(userId).connectApiKey(name, key, header);
    if (server) this.#serverEvent("server_connected", "human", name, { auth: "api_key", status: server.status });
    return view(server);
  }

  /** The client registered earlier (DCR) with this issuer for this server, to reuse on reconnect. */
  upstreamRegisteredClient(userId: string, name: string, issuer: string) {
    return this.#upstream(userId).registeredClient(name, issuer);
  }

  /** The person accepts which read-only-annotated tools count as reads. */
  setUpstreamReadTools(userId: string, name: string, tools: string[]): ServerView | null {
    return view(this.#upstream(userId).setReadTools(name, tools));
  }

  /** Fetch a server's tool list again. */
  async refreshUpstreamTools(userId: string, name: string): Promise<ServerView | null> {
    return view(await this.#upstream(userId).refreshTools(name));
  }

  /**
   * Disconnect (catalogue or user server) or remove (user server): the server is looked up in
   * this person's own object first; only then are tokens revoked upstream and everything purged.
   * Grants naming the server end.
   */
  async disconnectUpstream(
    userId: string,
    name: string,
    remove: boolean,
  ): Promise<{ revokedUpstream: boolean } | null> {
    const result = await this.#upstream(userId).disconnect(name, remove);
    if (!result) return null;
    this.#serverEvent(remove ? "server_removed" : "server_disconnected", "human", name, {
      revoked_upstream: result.revokedUpstream,
    });
    const now = Date.now();
    for (const grant of this.#book.open()) {
      const names = grant.status === "pending" ? grant.requestedProviders : grant.providers;
      if (names.includes(name)) this.#book.apply(revoke(grant, now), "revoked", "human");
    }
    await this.#book.schedule();
    return result;
  }

  /** Classify one upstream tool call (for a one-call approval); null when server or tool is unknown. */
  async classifyUpstreamCall(
    userId: string,
    name: string,
    tool: string,
    args: Record<string, unknown>,
  ): Promise<ClassifiedCall | null> {
    const upstream = this.#upstream(userId);
    const server = upstream.get(name);
    const definition = server?.tools.find((candidate) => candidate.name === tool);
    if (!server || !definition) return null;
    return classifyToolCall(name, definition, args, upstream.acceptedReads(server));
  }

  /**
   * The tools of every server that has listed them, for tools/list. A server that needs
   * reconnecting keeps its tools listed, so a call by a name the assistant already holds gets
   * `reauth_required` with the reconnect link rather than "no such tool". Stale lists of
   * connected servers are refreshed in the background.
   */
  upstreamTools(userId: string): UpstreamToolGroup[] {
    const upstream = this.#upstream(userId);
    const now = Date.now();
    const groups: UpstreamToolGroup[] = [];
    for (const server of upstream.list(now)) {
      if (server.tools.length === 0) continue;
      if (server.status === "connected" && server.toolsAt !== null && now - server.toolsAt > TOOLS_TTL_MS) {
        this.ctx.waitUntil(upstream.refreshTools(server.name).then(() => undefined));
      }
      const reads = upstream.acceptedReads(server);
      groups.push({
        server: server.name,
        title: server.title,
        tools: server.tools.map((tool) => {
          const { inputSchema, ...presented } = presentTool(server, tool, reads);
          return { ...presented, inputSchemaJson: JSON.stringify(inputSchema) };
        }),
      });
    }
    return groups;
  }

  /**
   * One upstream tool call for an MCP client connection: decided with the same function as
   * provider calls (a request grant is consumed before anything is sent); audited with server,
   * tool and outcome, never tokens or results.
   */
  async callUpstreamTool(
    userId: string,
    connectionId: string,
    name: string,
    tool: string,
    args: Record<string, unknown>,
  ): Promise<UpstreamCallView> {
    const outcome = await this.#upstream(userId).call(name, tool, args, (call, phase) => {
      if (phase === "preview") {
        const preview = decide(this.#book.candidates(connectionId), call, connectionId, Date.now());
        if (!preview.allow) this.#book.auditRefusal(call, connectionId, undefined, preview.reason);
        return preview.allow ? { allow: true, grantId: preview.grant.id } : { allow: false, reason: preview.reason };
      }
      const decision = this.authorizeCall(call, connectionId);
      return decision.allow ? { allow: true, grantId: decision.grantId } : { allow: false, reason: decision.reason };
    });
    if (outcome.ok) {
      this.recordCallOutcome(connectionId, outcome.grantId, {
        server: name,
        tool,
        outcome: outcome.result.isError ? "tool_error" : "sent",
        truncated: outcome.truncated,
      });
      return {
        ok: true,
        contentJson: JSON.stringify(outcome.result.content),
        structuredJson:
          outcome.result.structuredContent === undefined ? null : JSON.stringify(outcome.result.structuredContent),
        isError: outcome.result.isError,
        truncated: outcome.truncated,
        access: outcome.access,
        grantId: outcome.grantId,
      };
    }
    if (outcome.code !== "denied") {
      this.#audit.append({
        at: Date.now(),
        event: "call_denied",
        actor: "agent",
        grantId: null,
        connectionId,
        clientName: null,
        detail: {
          server: name,
          tool,
          reason: "reason" in outcome ? `${outcome.code}:${outcome.reason}` : outcome.code,
        },
      });
    }
    return outcome;
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────

  #serverEvent(event: AuditEvent, actor: "agent" | "human", server: string, detail: AuditDetail): void {
    this.#audit.append({
      at: Date.now(),
      event,
      actor,
      grantId: null,
      connectionId: null,
      clientName: null,
      detail: { server, ...detail },
    });
  }

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

const view = (server: Parameters<typeof serverView>[0] | null) => (server ? serverView(server) : null);

/** The Durable Object of a verified user. */
export function sessionFor(namespace: DurableObjectNamespace<UserSession>, userId: string) {
  return namespace.get(namespace.idFromName(userId));
}
