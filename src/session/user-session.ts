/**
 * One Durable Object per person, named by the verified user id (never by anything a client
 * sends), read once from `ctx.id.name`. A shell: it wires the stores and features and answers
 * RPCs with one-line delegates; each section names the module that holds the logic. Input gates
 * plus synchronous SQL between read and write make every state change atomic.
 * Public methods are RPC; `#private` members are not reachable from outside.
 */
import { DurableObject } from "cloudflare:workers";
import { type Config, loadConfig } from "../config";
import { decide } from "../grants/decide";
import { revoke } from "../grants/transitions";
import type { ClassifiedCall, Grant } from "../grants/types";
import { type BeginCallResult, ProviderAccess } from "../providers/access";
import { Credentials } from "../providers/credentials";
import { type ProviderLink, ProviderLinkStore } from "../providers/links";
import type { TokenSet } from "../upstream/client/oauth";
import { type AddServerError, TOOLS_TTL_MS, type UpstreamCallFailure, UpstreamServers } from "../upstream/servers";
import { type OAuthBinding, type ServerView, serverView, UpstreamStore } from "../upstream/store";
import { classifyToolCall, type PresentedTool, presentTool } from "../upstream/tools";
import type { VaultSecret } from "../vault/store";
import { type Activity, activityOf, exportOf, type PersonExport } from "./activity";
import { type AuditDetail, type AuditEvent, AuditLog } from "./audit-log";
import { ClientConnections } from "./client-connections";
import { ConnectClaims } from "./connect-claims";
import { type Connection, ConnectionStore, type ConsentKey, type NewConnection } from "./connection-store";
import type { AccessRequestInput, AccessRequestResult, DecideResult, Decision } from "./grant-book";
import { GrantBook } from "./grant-book";
import { GrantStore } from "./grant-store";
import { migrate } from "./schema";

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

export class UserSession extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  readonly #book: GrantBook;
  readonly #connections: ClientConnections;
  readonly #audit: AuditLog;
  readonly #claims: ConnectClaims;
  /** The name this object was reached by: `idFromName(userId)`, read once. */
  readonly #name: string | undefined;
  #providerAccess: ProviderAccess | null = null;
  #upstreamServers: UpstreamServers | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#name = ctx.id.name;
    this.#sql = ctx.storage.sql;
    this.#audit = new AuditLog(this.#sql);
    this.#book = new GrantBook(new GrantStore(this.#sql), this.#audit, ctx.storage, () => this.#config.grantPolicy);
    this.#connections = new ClientConnections(new ConnectionStore(this.#sql), this.#book, this.#audit);
    this.#claims = new ConnectClaims(this.#sql);
    ctx.blockConcurrencyWhile(async () => migrate(this.#sql));
  }

  get #config(): Config {
    const config = loadConfig(this.env);
    if (!config.ok) throw new Error(`configuration invalid: ${config.error.code}`);
    return config.value;
  }

  /** The person this object belongs to; it is only ever reached by `idFromName(userId)`. */
  get #userId(): string {
    if (this.#name === undefined) throw new Error("UserSession must be reached by idFromName(userId)");
    return this.#name;
  }

  /** The person's provider access, built once (its credentials are bound to this person). */
  get #providers(): ProviderAccess {
    if (this.#providerAccess) return this.#providerAccess;
    const config = this.#config;
    const links = new ProviderLinkStore(this.#sql);
    this.#providerAccess = new ProviderAccess({
      registry: config.registry,
      links,
      credentials: new Credentials(links, this.env.VAULT_KV, config.vault, this.env, this.#userId),
      book: this.#book,
      audit: this.#audit,
    });
    return this.#providerAccess;
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

  // ── connections and consent (session/client-connections.ts) ───────────────────────────
  recordConnection(connection: NewConnection): Promise<Connection> {
    return this.#connections.record(connection);
  }
  touchConnection(connection: Omit<NewConnection, "redirectUri">): Connection {
    return this.#connections.touch(connection);
  }
  ensureConnection(connection: Omit<NewConnection, "redirectUri">): Connection {
    return this.#connections.ensure(connection);
  }
  rememberConsent(key: ConsentKey, scopes: string[]): void {
    this.#connections.rememberConsent(key, scopes);
  }
  consentCovers(key: ConsentKey, scopes: string[]): boolean {
    return this.#connections.consentCovers(key, scopes);
  }
  revokeConnection(connectionId: string): Promise<Connection | null> {
    return this.#connections.revoke(connectionId);
  }
  /** Claim a connect callback's state once: true for the first claim, false for every replay. */
  claimConnectState(stateHash: string): boolean {
    return this.#claims.claim(stateHash, Date.now());
  }

  // ── grants (session/grant-book.ts; policy in src/grants) ───────────────────────────────
  requestAccess(input: AccessRequestInput): Promise<AccessRequestResult> {
    return this.#book.requestAccess(input);
  }
  viewRequest(id: string, linkTokenHash: string): Grant | null {
    return this.#book.viewRequest(id, linkTokenHash);
  }
  /** The person approves or denies through the approval link. Exactly one decision wins. */
  decide(id: string, linkTokenHash: string, decision: Decision): Promise<DecideResult> {
    return this.#book.decide(id, linkTokenHash, decision);
  }
  waitForDecision(id: string, connectionId: string, timeoutMs: number): Promise<Grant | null> {
    return this.#book.waitForDecision(id, connectionId, timeoutMs);
  }
  authority(connectionId: string): Grant[] {
    return this.#book.authority(connectionId);
  }
  revokeForConnection(connectionId: string, id?: string): Promise<{ revoked: Grant[] } | null> {
    return this.#book.revokeForConnection(connectionId, id);
  }
  revokeByOwner(id: string): Promise<Grant | null> {
    return this.#book.revokeByOwner(id);
  }

  // ── activity, export, deletion, the alarm ──────────────────────────────────────────────
  activity(historyLimit = 100): Activity {
    return activityOf(this.#book, this.#connections, this.#audit, historyLimit, Date.now());
  }
  exportAll(): PersonExport {
    return exportOf(this.#book, this.#connections, this.#audit);
  }
  /** Delete everything: account deletion. Waiters are released, the alarm is cancelled. */
  async purge(): Promise<void> {
    await this.#providers.purge();
    const upstream = this.#upstream(this.#userId);
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

  // ── provider credentials and calls (providers/access.ts) ───────────────────────────────
  connectProvider(providerId: string, secret: VaultSecret, accountHost?: string): Promise<ProviderLink | null> {
    return this.#providers.connect(providerId, secret, accountHost);
  }
  disconnectProvider(providerId: string): Promise<{ revokedUpstream: boolean } | null> {
    return this.#providers.disconnect(providerId);
  }
  providerLinks(): ProviderLink[] {
    return this.#providers.links();
  }
  /** Everything before an outbound call, in one step; a request grant is consumed last. */
  beginCall(call: ClassifiedCall, connectionId: string, requestId?: string): Promise<BeginCallResult> {
    return this.#providers.beginCall(call, connectionId, requestId);
  }
  recordCallOutcome(connectionId: string, grantId: string, detail: AuditDetail): void {
    this.#providers.recordOutcome(connectionId, grantId, detail);
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
      const decision = this.#book.authorizeCall(call, connectionId);
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
}

const view = (server: Parameters<typeof serverView>[0] | null) => (server ? serverView(server) : null);

/** The Durable Object of a verified user. */
export function sessionFor(namespace: DurableObjectNamespace<UserSession>, userId: string) {
  return namespace.get(namespace.idFromName(userId));
}
