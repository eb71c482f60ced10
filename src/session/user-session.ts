/**
 * One Durable Object per person, named by the verified user id (never by anything a client
 * sends), read once from `ctx.id.name`. A shell: it wires the stores and features and answers
 * RPCs with one-line delegates; each section names the module that holds the logic. Input gates
 * plus synchronous SQL between read and write make every state change atomic.
 * Public methods are RPC; `#private` members are not reachable from outside.
 */
import { DurableObject } from "cloudflare:workers";
import { type Config, loadConfig } from "../config";
import type { RuleInput, StandingRule } from "../grants/standing-rules";
import type { ClassifiedCall, Grant } from "../grants/types";
import { type BeginCallResult, ProviderAccess } from "../providers/access";
import { Credentials } from "../providers/credentials";
import { type ProviderLink, ProviderLinkStore } from "../providers/links";
import type { TokenSet } from "../upstream/client/oauth";
import type { UpstreamClient } from "../upstream/client/registration";
import { type OAuthBinding, type ServerView, UpstreamStore } from "../upstream/store";
import { type AddServerResult, Upstream, type UpstreamCallView, type UpstreamToolGroup } from "../upstream/upstream";
import type { VaultSecret } from "../vault/store";
import { type Activity, activityOf, exportOf, type PersonExport } from "./activity";
import { type AuditDetail, AuditLog } from "./audit-log";
import { ClientConnections } from "./client-connections";
import { ConnectClaims } from "./connect-claims";
import { type Connection, ConnectionStore, type ConsentKey, type NewConnection } from "./connection-store";
import type { AccessRequestInput, AccessRequestResult, DecideResult, Decision } from "./grant-book";
import { GrantBook } from "./grant-book";
import { GrantStore } from "./grant-store";
import { type ApprovedWithRule, type ExtendResult, OwnerActions } from "./owner-actions";
import { migrate } from "./schema";
import { type CreateRuleResult, type RefusedAsk, StandingRuleStore } from "./standing-rule-store";

export class UserSession extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  readonly #book: GrantBook;
  readonly #connections: ClientConnections;
  readonly #audit: AuditLog;
  readonly #claims: ConnectClaims;
  readonly #rules: StandingRuleStore;
  readonly #owner: OwnerActions;
  /** The name this object was reached by: `idFromName(userId)`, read once. */
  readonly #name: string | undefined;
  #providerAccess: ProviderAccess | null = null;
  #upstreamFeature: Upstream | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#name = ctx.id.name;
    this.#sql = ctx.storage.sql;
    this.#audit = new AuditLog(this.#sql);
    const grants = new GrantStore(this.#sql);
    const policy = () => this.#config.grantPolicy;
    this.#rules = new StandingRuleStore(this.#sql, this.#audit);
    this.#book = new GrantBook(grants, this.#audit, ctx.storage, policy, this.#rules);
    this.#owner = new OwnerActions(grants, this.#book, this.#rules, policy, () => this.#config.ruleMaxHours);
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

  /** The upstream MCP server feature, built once for the person this object is named after. */
  get #upstream(): Upstream {
    if (this.#upstreamFeature) return this.#upstreamFeature;
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
      userId: this.#userId,
    });
    return this.#upstreamFeature;
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
  /** A never rule refuses first, in the same turn, so a refused ask stores nothing. */
  async requestAccess(input: AccessRequestInput): Promise<AccessRequestResult | RefusedAsk> {
    const refused = this.#rules.refuseAsk(input.providers, input.level, input.connectionId, Date.now());
    return refused ?? this.#book.requestAccess(input);
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
  /** "+15 min" from /activity (never past GRANT_MAX_MINUTES from now). */
  extendByOwner(id: string): Promise<ExtendResult> {
    return this.#owner.extend(id);
  }
  /** "Revoke everything": every open grant of every connection, and every allow rule. */
  revokeEverything(): Promise<{ grants: number; rules: number }> {
    return this.#owner.revokeEverything();
  }

  // ── standing rules (session/standing-rule-store.ts; policy in grants/standing-rules.ts) ──
  /** Only ever called by the person's own pages: no tool reaches this. */
  async createRule(input: RuleInput): Promise<CreateRuleResult> {
    const config = this.#config;
    const known = {
      connections: this.#connections
        .list()
        .filter((connection) => connection.revokedAt === null)
        .map((connection) => connection.connectionId),
      targets: [
        ...config.registry.all().map((provider) => provider.id),
        ...this.#upstream.servers().map((server) => server.name),
      ],
    };
    const created = this.#rules.create(input, config.ruleMaxHours, Date.now(), known);
    if (created.ok) await this.#book.schedule();
    return created;
  }
  /**
   * The approval page's "also allow this for N hours": approve, then an allow rule for this
   * connection on what was approved, at the approved level. The rule is made from the grant the
   * book returns, so it can never be wider than the approval.
   */
  decideWithRule(id: string, linkTokenHash: string, decision: Decision, ruleHours: number): Promise<ApprovedWithRule> {
    return this.#owner.decideWithRule(id, linkTokenHash, decision, ruleHours);
  }
  removeRule(id: string): Promise<StandingRule | null> {
    const removed = this.#rules.remove(id, Date.now());
    return this.#book.schedule().then(() => removed);
  }
  standingRules(): StandingRule[] {
    return this.#rules.live(Date.now());
  }

  // ── activity, export, deletion, the alarm ──────────────────────────────────────────────
  activity(historyLimit = 100): Activity {
    return activityOf(this.#book, this.#connections, this.#audit, historyLimit, Date.now(), this.#rules);
  }
  exportAll(): PersonExport {
    return exportOf(this.#book, this.#connections, this.#audit, this.#rules);
  }
  /** Delete everything: account deletion. Waiters are released, the alarm is cancelled. */
  async purge(): Promise<void> {
    await this.#providers.purge();
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
    this.#rules.expireDue(Date.now());
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
  /** Everything before an outbound call, in one step; a call grant is consumed last. */
  beginCall(call: ClassifiedCall, connectionId: string, requestId?: string): Promise<BeginCallResult> {
    return this.#providers.beginCall(call, connectionId, requestId);
  }
  recordCallOutcome(connectionId: string, grantId: string | null, detail: AuditDetail): void {
    this.#providers.recordOutcome(connectionId, grantId, detail);
  }

  // ── upstream MCP servers (upstream/upstream.ts documents each) ─────────────────────────
  upstreamServers(): ServerView[] {
    return this.#upstream.servers();
  }
  upstreamServer(name: string): ServerView | null {
    return this.#upstream.server(name);
  }
  addUpstreamServer(name: string, url: string, actor: "agent" | "human"): Promise<AddServerResult> {
    return this.#upstream.add(name, url, actor);
  }
  detectUpstreamServer(name: string): Promise<ServerView | null> {
    return this.#upstream.detect(name);
  }
  connectUpstreamOAuth(
    name: string,
    tokens: TokenSet,
    binding: OAuthBinding,
    clientSecret?: string,
  ): Promise<ServerView | null> {
    return this.#upstream.connectOAuth(name, tokens, binding, clientSecret);
  }
  connectUpstreamApiKey(name: string, key: string, header: string): Promise<ServerView | null> {
    return this.#upstream.connectApiKey(name, key, header);
  }
  upstreamRegisteredClient(name: string, issuer: string): Promise<UpstreamClient | null> {
    return this.#upstream.registeredClient(name, issuer);
  }
  setUpstreamReadTools(name: string, tools: string[]): ServerView | null {
    return this.#upstream.setReadTools(name, tools);
  }
  refreshUpstreamTools(name: string): Promise<ServerView | null> {
    return this.#upstream.refreshTools(name);
  }
  /** Disconnect or remove a server found in this person's own object; grants naming it end. */
  disconnectUpstream(name: string, remove: boolean): Promise<{ revokedUpstream: boolean } | null> {
    return this.#upstream.disconnect(name, remove);
  }
  classifyUpstreamCall(name: string, tool: string, args: Record<string, unknown>): Promise<ClassifiedCall | null> {
    return this.#upstream.classifyCall(name, tool, args);
  }
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
}

/** The Durable Object of a verified user. */
export function sessionFor(namespace: DurableObjectNamespace<UserSession>, userId: string) {
  return namespace.get(namespace.idFromName(userId));
}
