/**
 * One Durable Object per person, named by the verified user id (never by anything a client
 * sends), read once from `ctx.id.name`. A shell: its parts are wired in features.ts, and it answers
 * RPCs with one-line delegates; each section names the module that holds the logic. Input gates
 * plus synchronous SQL make every state change atomic. `#private` members are not RPC.
 */
import { DurableObject } from "cloudflare:workers";
import type { ApiKeyError } from "../apikeys/key";
import type { ApiKeyView, NewApiKey, VerifiedApiKey } from "../apikeys/store";
import type { RuleInput, StandingRule } from "../grants/standing-rules";
import type { ClassifiedCall, Grant } from "../grants/types";
import { log } from "../lib/log";
import type { Result } from "../lib/result";
import type { DeviceView, NotifyView, WebhookView } from "../notify/notifier";
import type { NotifyError, SubscriptionKeys } from "../notify/targets";
import type { ProviderCallResult } from "../providers/access";
import type { ProviderLink } from "../providers/links";
import type { TokenSet } from "../upstream/client/oauth";
import type { UpstreamClient } from "../upstream/client/registration";
import type { OAuthBinding, ServerView } from "../upstream/store";
import type { AddServerResult, SetReadsView, UpstreamCallView, UpstreamToolGroup } from "../upstream/upstream";
import type { VaultSecret } from "../vault/store";
import { type Activity, activityOf, exportOf, type PersonExport } from "./activity";
import type { Connection, ConsentKey, NewConnection } from "./connection-store";
import type { Settled, SettleInput } from "./elicitations";
import { PersonFeatures } from "./features";
import type { AccessRequestInput, AccessRequestResult, DecideResult, Decision } from "./grant-book";
import type { ApprovedWithRule, ExtendResult } from "./owner-actions";
import { migrate } from "./schema";
import type { CreateRuleResult, RefusedAsk } from "./standing-rule-store";

type ToolArgs = Record<string, unknown>;
export class UserSession extends DurableObject<Env> {
  readonly #f: PersonFeatures;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#f = new PersonFeatures(ctx, () => this.env);
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage.sql));
  }

  // ── connections and consent (session/client-connections.ts) ───────────────────────────
  recordConnection(connection: NewConnection): Promise<Connection> {
    return this.#f.connections.record(connection);
  }
  /** Record "last used" (at most once a minute; see src/mcp/last-seen.ts). Nothing to answer. */
  touchConnection(connection: Omit<NewConnection, "redirectUri">): void {
    this.#f.connections.touch(connection);
  }
  /** whoami's facts in one round trip: the connection (recorded when missing) and its live grants. */
  connectionAuthority(connection: Omit<NewConnection, "redirectUri">): { connection: Connection; grants: Grant[] } {
    return {
      connection: this.#f.connections.ensure(connection),
      grants: this.#f.book.authority(connection.connectionId),
    };
  }
  rememberConsent(key: ConsentKey, scopes: string[]): void {
    this.#f.connections.rememberConsent(key, scopes);
  }
  consentCovers(key: ConsentKey, scopes: string[]): boolean {
    return this.#f.connections.consentCovers(key, scopes);
  }
  connection(connectionId: string): Connection | null {
    return this.#f.connections.get(connectionId);
  }
  revokeConnection(connectionId: string): Promise<Connection | null> {
    return this.#f.connections.revoke(connectionId);
  }
  /** Claim a connect callback's state once: true for the first claim, false for every replay. */
  claimConnectState(stateHash: string): boolean {
    return this.#f.claims.claim(stateHash, Date.now());
  }

  // ── grants (session/grant-book.ts; policy in src/grants; elicitation: session/elicitations.ts) ─
  /**
   * A never rule refuses first, in the same turn, so a refused ask stores nothing. A new pending
   * request is owed to the person's devices; the alarm sends it, after this answer.
   */
  async requestAccess(input: AccessRequestInput): Promise<AccessRequestResult | RefusedAsk> {
    const refused = this.#f.rules.refuseAsk(input.providers, input.level, input.connectionId, Date.now());
    if (refused) return refused;
    return this.#f.book.requestAccess(input);
  }
  viewRequest(id: string, linkTokenHash: string): Grant | null {
    return this.#f.book.viewRequest(id, linkTokenHash);
  }
  /** The person approves or denies through the approval link. Exactly one decision wins. */
  decide(id: string, linkTokenHash: string, decision: Decision): Promise<DecideResult> {
    return this.#f.book.decide(id, linkTokenHash, decision);
  }
  waitForDecision(id: string, connectionId: string, timeoutMs: number): Promise<Grant | null> {
    return this.#f.book.waitForDecision(id, connectionId, timeoutMs);
  }
  /** What a 2025-11-25 connection declared at `initialize`: whether it handles URL-mode elicitation. */
  rememberElicitation(connectionId: string, urlMode: boolean): void {
    this.#f.elicitations.remember(connectionId, urlMode, Date.now());
  }
  /** Link a request made for this exact call of this connection. */
  linkElicitation(connectionId: string, fingerprint: string, requestId: string): void {
    this.#f.elicitations.link(connectionId, fingerprint, requestId, Date.now());
  }
  /** Where a retry of this connection's call stands (held while the person decides). */
  settleElicitation(connectionId: string, input: SettleInput): Promise<Settled> {
    return this.#f.elicitations.settle(connectionId, input);
  }
  revokeForConnection(connectionId: string, id?: string): Promise<{ revoked: Grant[] } | null> {
    return this.#f.book.revokeForConnection(connectionId, id);
  }
  revokeByOwner(id: string): Promise<Grant | null> {
    return this.#f.book.revokeByOwner(id);
  }
  /** "+15 min" from /activity (never past GRANT_MAX_MINUTES from now). */
  extendByOwner(id: string): Promise<ExtendResult> {
    return this.#f.owner.extend(id);
  }
  /** "Revoke everything": every open grant of every connection, and every allow rule. */
  revokeEverything(): Promise<{ grants: number; rules: number }> {
    return this.#f.owner.revokeEverything();
  }

  // ── personal API keys for headless clients (apikeys/store.ts) ───────────────────────────
  createApiKey(key: NewApiKey): Promise<Result<ApiKeyView, ApiKeyError>> {
    return this.#f.apiKeys.create(key, Date.now());
  }
  apiKeys(): ApiKeyView[] {
    return this.#f.apiKeys.list();
  }
  /** Null for a wrong hash, an expired key or a disconnected one alike. */
  verifyApiKey(id: string, hash: string): VerifiedApiKey | null {
    return this.#f.apiKeys.verify(id, hash, Date.now());
  }
  revokeApiKey(id: string): Promise<boolean> {
    return this.#f.apiKeys.revoke(id);
  }

  // ── standing rules (session/standing-rule-store.ts; policy in grants/standing-rules.ts) ──
  /** Only ever called by the person's own pages: no tool reaches this. */
  createRule(input: RuleInput): Promise<CreateRuleResult> {
    return this.#f.owner.createRule(input, this.#f.ruleScope());
  }
  /** Approve with "also allow this for N hours": the rule is cut from the approved grant, never wider. */
  decideWithRule(id: string, linkTokenHash: string, decision: Decision, ruleHours: number): Promise<ApprovedWithRule> {
    return this.#f.owner.decideWithRule(id, linkTokenHash, decision, ruleHours);
  }
  removeRule(id: string): Promise<StandingRule | null> {
    return this.#f.owner.removeRule(id);
  }

  // ── activity, export, deletion, the alarm ──────────────────────────────────────────────
  activity(historyLimit = 100): Activity {
    return activityOf(this.#f.book, this.#f.connections, this.#f.audit, historyLimit, Date.now(), this.#f.rules);
  }
  exportAll(): PersonExport {
    return exportOf(this.#f.book, this.#f.connections, this.#f.audit, this.#f.rules);
  }
  /** Delete everything: account deletion. Waiters are released, the alarm is cancelled. */
  async purge(): Promise<void> {
    await this.#f.providers.purge();
    await this.#f.upstream.purge();
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    // The object lives on in memory: its (empty) schema back, then waiters find nothing.
    migrate(this.ctx.storage.sql);
    this.#f.book.releaseWaiters();
  }
  /** Expire first (a slow push service never delays it), then send what is owed, then aim again. */
  override async alarm(): Promise<void> {
    this.#f.rules.expireDue(Date.now());
    await this.#f.book.expireDue();
    await this.#f.notifier.deliverDue(Date.now()).catch((error) => log.error("notify.deliver_failed", { error }));
    await this.#f.book.schedule();
  }

  // ── reaching the person: push devices and the webhook (notify/notifier.ts) ───────────────
  notifyView(): Promise<NotifyView> {
    return this.#f.notifier.view();
  }
  addDevice(name: string, subscription: SubscriptionKeys): Result<DeviceView, NotifyError> {
    return this.#f.notifier.addDevice(name, subscription, Date.now());
  }
  removeDevice(id: string): boolean {
    return this.#f.notifier.removeDevice(id, Date.now());
  }
  setWebhook(url: string): Promise<{ webhook: WebhookView; secret: string }> {
    return this.#f.notifier.setWebhook(url, Date.now());
  }
  removeWebhook(): boolean {
    return this.#f.notifier.removeWebhook(Date.now());
  }

  // ── provider credentials and calls (providers/access.ts) ───────────────────────────────
  connectProvider(providerId: string, secret: VaultSecret, accountHost?: string): Promise<ProviderLink | null> {
    return this.#f.providers.connect(providerId, secret, accountHost);
  }
  disconnectProvider(providerId: string): Promise<{ revokedUpstream: boolean } | null> {
    return this.#f.providers.disconnect(providerId);
  }
  providerLinks(): ProviderLink[] {
    return this.#f.providers.links();
  }
  /** One provider call in one round trip: decided (a call grant consumed last), sent, its outcome audited. */
  callProvider(call: ClassifiedCall, connectionId: string, requestId?: string): Promise<ProviderCallResult> {
    return this.#f.providers.call(call, connectionId, requestId);
  }

  // ── upstream MCP servers (upstream/upstream.ts documents each) ─────────────────────────
  upstreamServers(): ServerView[] {
    return this.#f.upstream.servers();
  }
  /** list_integrations' facts in one round trip, one consistent snapshot: links, live grants, servers. */
  integrations(connectionId: string): { links: ProviderLink[]; grants: Grant[]; servers: ServerView[] } {
    return {
      links: this.#f.providers.links(),
      grants: this.#f.book.authority(connectionId),
      servers: this.#f.upstream.servers(),
    };
  }
  upstreamServer(name: string): ServerView | null {
    return this.#f.upstream.server(name);
  }
  addUpstreamServer(name: string, url: string, actor: "agent" | "human"): Promise<AddServerResult> {
    return this.#f.upstream.add(name, url, actor);
  }
  detectUpstreamServer(name: string): Promise<ServerView | null> {
    return this.#f.upstream.detect(name);
  }
  connectUpstreamOAuth(
    name: string,
    tokens: TokenSet,
    binding: OAuthBinding,
    clientSecret?: string,
  ): Promise<ServerView | null> {
    return this.#f.upstream.connectOAuth(name, tokens, binding, clientSecret);
  }
  connectUpstreamApiKey(name: string, key: string, header: string): Promise<ServerView | null> {
    return this.#f.upstream.connectApiKey(name, key, header);
  }
  upstreamRegisteredClient(name: string, issuer: string): Promise<UpstreamClient | null> {
    return this.#f.upstream.registeredClient(name, issuer);
  }
  setUpstreamReadTools(name: string, tools: string[]): SetReadsView {
    return this.#f.upstream.setReadTools(name, tools);
  }
  refreshUpstreamTools(name: string): Promise<ServerView | null> {
    return this.#f.upstream.refreshTools(name);
  }
  /** Disconnect or remove a server found in this person's own object; grants naming it end. */
  disconnectUpstream(name: string, remove: boolean): Promise<{ revokedUpstream: boolean } | null> {
    return this.#f.upstream.disconnect(name, remove);
  }
  classifyUpstreamCall(name: string, tool: string, args: ToolArgs): Promise<ClassifiedCall | null> {
    return this.#f.upstream.classifyCall(name, tool, args);
  }
  /** Every upstream tool, or (`only`, a namespaced name) just the one a tools/call names. */
  upstreamTools(only?: string): UpstreamToolGroup[] {
    return this.#f.upstream.tools(only);
  }
  /** One upstream tool call for an MCP client connection, decided by its grants and audited. */
  callUpstreamTool(connectionId: string, name: string, tool: string, args: ToolArgs): Promise<UpstreamCallView> {
    return this.#f.upstream.callTool(connectionId, name, tool, args);
  }
}

/** The Durable Object of a verified user. */
export function sessionFor(namespace: DurableObjectNamespace<UserSession>, userId: string) {
  return namespace.get(namespace.idFromName(userId));
}
