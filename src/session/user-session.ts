/**
 * One Durable Object per user, named by the verified user id (never by anything a client sends).
 * It owns the user's MCP client connections, remembered consents, grants, their timers and the
 * audit log. It stores and answers; policy lives in src/grants (pure). Every state change runs
 * synchronously between reading and writing SQL, so concurrent RPCs (20 parallel approvals,
 * approve racing deny, two uses of one request grant) see exactly one winner.
 * Public methods are RPC; `#private` members are not reachable from outside.
 */
import { DurableObject } from "cloudflare:workers";
import { decide } from "../grants/decide";
import {
  type ApprovalInput,
  approve,
  consume,
  deny,
  effectiveStatus,
  expire,
  isLive,
  revoke,
} from "../grants/transitions";
import type { AccessLevel, CanonicalCall, ClassifiedCall, Grant, GrantKind, GrantPolicy } from "../grants/types";
import { type Config, loadConfig } from "../lib/config";
import { timingSafeEqual } from "../lib/crypto";
import { ownsHost } from "../providers/registry";
import type { VaultSecret } from "../vault/store";
import { type AuditDetail, type AuditEntry, type AuditEvent, AuditLog } from "./audit-log";
import { type Connection, ConnectionStore, type ConsentKey, type NewConnection } from "./connection-store";
import { Credentials } from "./credentials";
import { GrantStore, type StoredGrant } from "./grant-store";
import { type ProviderLink, ProviderLinkStore } from "./provider-links";
import { migrate } from "./schema";

export type { Connection, ConsentKey, NewConnection } from "./connection-store";

export interface AccessRequestInput {
  /** Fresh id and link-token hash from the caller; used only when no duplicate is pending. */
  id: string;
  linkTokenHash: string;
  kind: GrantKind;
  connectionId: string;
  clientName: string;
  reason: string;
  level: AccessLevel;
  providers: string[];
  durationSeconds: number;
  call: CanonicalCall | null;
  callFingerprint: string | null;
}

export type AccessRequestResult =
  | { ok: true; grant: Grant; coalesced: boolean }
  | { ok: false; code: "rate_limited"; message: string };

export type Decision = { kind: "approve"; input: ApprovalInput } | { kind: "deny"; note: string | null };

export type DecideResult =
  | { ok: true; grant: Grant }
  | { ok: false; code: "not_found" }
  | { ok: false; code: "conflict" | "expired" | "invalid"; grant: Grant; message: string };

export type CallAuthorization = { allow: true; grantId: string; kind: GrantKind } | { allow: false; reason: string };

export type BeginCallResult =
  | { ok: true; grantId: string; kind: GrantKind; headers: Record<string, string> }
  | { ok: false; code: "not_connected" | "reauth_required" | "provider_unavailable" | "unknown_provider" }
  | { ok: false; code: "denied"; reason: string };

export interface Activity {
  pending: Grant[];
  live: Grant[];
  connections: Connection[];
  history: AuditEntry[];
}

/** New requests one connection may make per window (on top of the pending cap per user). */
const REQUESTS_PER_WINDOW = 30;
const REQUEST_WINDOW_MS = 10 * 60_000;
const EXPIRY_BATCH = 500;

/** Strip storage-only fields before a grant leaves the object. */
function publicGrant(grant: StoredGrant): Grant {
  const { linkTokenHash: _hash, requestKey: _key, ...rest } = grant;
  return rest;
}

export class UserSession extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  readonly #grants: GrantStore;
  readonly #connections: ConnectionStore;
  readonly #audit: AuditLog;
  readonly #waiters = new Map<string, Set<(grant: Grant) => void>>();
  readonly #windows = new Map<string, { start: number; count: number }>();
  #credentials: Credentials | null = null;
  readonly #links: ProviderLinkStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#grants = new GrantStore(this.#sql);
    this.#connections = new ConnectionStore(this.#sql);
    this.#links = new ProviderLinkStore(this.#sql);
    this.#audit = new AuditLog(this.#sql);
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

  // ── connections and consent ────────────────────────────────────────────────────────────

  /** Record an MCP client connection (one OAuth grant) at authorization time. */
  recordConnection(connection: NewConnection): Connection {
    return this.#connections.record(connection, Date.now());
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
    for (const grant of this.#grants.open(connectionId)) this.#apply(revoke(grant, now), "revoked", "human");
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
    await this.#schedule();
    return this.#connections.get(connectionId);
  }

  // ── grants ─────────────────────────────────────────────────────────────────────────────

  /** The agent asks. Duplicates from the same connection coalesce; floods are refused. */
  async requestAccess(input: AccessRequestInput): Promise<AccessRequestResult> {
    const now = Date.now();
    const policy = this.#policy;
    const requestKey = JSON.stringify([
      input.kind,
      input.level,
      [...input.providers].sort(),
      input.durationSeconds,
      input.callFingerprint,
    ]);
    const duplicate = this.#grants.pendingDuplicate(input.connectionId, requestKey);
    const withinWindow = this.#take(`request:${input.connectionId}`, REQUESTS_PER_WINDOW, REQUEST_WINDOW_MS, now);
    if (duplicate && effectiveStatus(duplicate, now) === "pending") {
      // Not a state change, so no audit row: a looping agent cannot grow the log this way.
      return { ok: true, grant: publicGrant(duplicate), coalesced: true };
    }
    if (this.#grants.countPending(now) >= policy.maxPendingPerUser) {
      return {
        ok: false,
        code: "rate_limited",
        message: `You already have ${policy.maxPendingPerUser} requests waiting for the person. Wait for them to be decided or expire.`,
      };
    }
    if (!withinWindow) {
      return {
        ok: false,
        code: "rate_limited",
        message: "Too many access requests from this client in the last 10 minutes. Wait before asking again.",
      };
    }
    const grant: StoredGrant = {
      id: input.id,
      kind: input.kind,
      status: "pending",
      connectionId: input.connectionId,
      clientName: input.clientName,
      reason: input.reason,
      requestedLevel: input.level,
      requestedProviders: [...new Set(input.providers)].sort(),
      requestedDurationSeconds: input.durationSeconds,
      call: input.call,
      callFingerprint: input.callFingerprint,
      level: null,
      providers: [],
      durationSeconds: null,
      note: null,
      requestedAt: now,
      pendingExpiresAt: now + policy.pendingTtlSeconds * 1000,
      decidedAt: null,
      expiresAt: null,
      endedAt: null,
      linkTokenHash: input.linkTokenHash,
      requestKey,
    };
    this.#grants.insert(grant);
    this.#log("requested", "agent", grant, now, {
      kind: grant.kind,
      level: grant.requestedLevel,
      providers: grant.requestedProviders,
      ...(grant.call ? { method: grant.call.method, url: grant.call.url } : {}),
    });
    await this.#schedule();
    return { ok: true, grant: publicGrant(grant), coalesced: false };
  }

  /** A grant as the agent's connection sees it; null when it is not this connection's. */
  getForConnection(id: string, connectionId: string): Grant | null {
    const grant = this.#grants.get(id);
    if (!grant || grant.connectionId !== connectionId) return null;
    return { ...publicGrant(grant), status: effectiveStatus(grant, Date.now()) };
  }

  /** A grant as the approval page sees it: only with the right link token. */
  viewRequest(id: string, linkTokenHash: string): Grant | null {
    const grant = this.#grants.get(id);
    if (!grant || !timingSafeEqual(grant.linkTokenHash, linkTokenHash)) return null;
    return { ...publicGrant(grant), status: effectiveStatus(grant, Date.now()) };
  }

  /** The person approves or denies through the approval link. Exactly one decision wins. */
  async decide(id: string, linkTokenHash: string, decision: Decision): Promise<DecideResult> {
    const grant = this.#grants.get(id);
    if (!grant || !timingSafeEqual(grant.linkTokenHash, linkTokenHash)) return { ok: false, code: "not_found" };
    const now = Date.now();
    const result =
      decision.kind === "approve" ? approve(grant, decision.input, this.#policy, now) : deny(grant, decision.note, now);
    if (!result.ok) {
      if (result.error.code === "expired") {
        this.#expireOne(grant, now);
        await this.#schedule();
        return {
          ok: false,
          code: "expired",
          grant: this.#current(id),
          message: "This request expired before it was decided.",
        };
      }
      if (result.error.code === "not_pending") {
        return {
          ok: false,
          code: "conflict",
          grant: this.#current(id),
          message: `This request is already ${result.error.status}.`,
        };
      }
      const message =
        result.error.code === "no_providers"
          ? "Tick at least one account, or choose Deny."
          : "You can only narrow what was asked for: fewer accounts, read instead of write, a listed duration.";
      return { ok: false, code: "invalid", grant: this.#current(id), message };
    }
    this.#grants.update(result.value);
    const updated = result.value;
    this.#log(decision.kind === "approve" ? "approved" : "denied", "human", updated, now, {
      providers: updated.providers,
      level: updated.level,
      duration_seconds: updated.durationSeconds,
      note: updated.note !== null,
    });
    this.#notify(updated);
    await this.#schedule();
    return { ok: true, grant: updated };
  }

  /**
   * Hold until the person decides (or the request expires), up to `timeoutMs`. Event-driven:
   * `decide` and the alarm resolve waiters directly; nothing polls.
   */
  async waitForDecision(id: string, connectionId: string, timeoutMs: number): Promise<Grant | null> {
    const current = this.getForConnection(id, connectionId);
    if (current?.status !== "pending" || timeoutMs <= 0) return current;
    const deadline = Math.min(timeoutMs, Math.max(0, current.pendingExpiresAt - Date.now()) + 50);
    return new Promise<Grant | null>((resolve) => {
      const waiters = this.#waiters.get(id) ?? new Set();
      this.#waiters.set(id, waiters);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(onDecision);
        if (waiters.size === 0) this.#waiters.delete(id);
        resolve(this.getForConnection(id, connectionId));
      };
      const onDecision = () => done();
      const timer = setTimeout(done, deadline);
      waiters.add(onDecision);
    });
  }

  /** Live (approved, unexpired) grants of one connection. */
  authority(connectionId: string): Grant[] {
    const now = Date.now();
    return this.#grants
      .open(connectionId)
      .filter((grant) => isLive(grant, now))
      .map(publicGrant);
  }

  /**
   * The agent drops one of its grants or requests, or all of its authority. Another
   * connection's id is indistinguishable from one that does not exist.
   */
  async revokeForConnection(connectionId: string, id?: string): Promise<{ revoked: Grant[] } | null> {
    const now = Date.now();
    const targets =
      id === undefined
        ? this.#grants.open(connectionId)
        : [this.#grants.get(id)].filter((grant): grant is StoredGrant => grant?.connectionId === connectionId);
    if (id !== undefined && targets.length === 0) return null;
    const revoked: Grant[] = [];
    for (const grant of targets) {
      const changed = this.#apply(revoke(grant, now), "revoked", "agent");
      if (changed) revoked.push(changed);
    }
    await this.#schedule();
    return { revoked };
  }

  /** The person revokes a grant from the activity page. */
  async revokeByOwner(id: string): Promise<Grant | null> {
    const grant = this.#grants.get(id);
    if (!grant) return null;
    const changed = this.#apply(revoke(grant, Date.now()), "revoked", "human");
    await this.#schedule();
    return changed ?? this.#current(id);
  }

  /**
   * May this call run now? A request grant is consumed here, before the caller starts the
   * outbound request, so a second use (or a parallel one) can never also succeed.
   */
  authorizeCall(call: ClassifiedCall, connectionId: string, requestId?: string): CallAuthorization {
    const now = Date.now();
    const decision = decide(this.#candidates(connectionId, requestId), call, connectionId, now, requestId);
    const base = { method: call.call.method, url: call.call.url, provider: call.provider, access: call.access };
    if (!decision.allow) {
      this.#audit.append({
        at: now,
        event: "call_denied",
        actor: "agent",
        grantId: requestId ?? null,
        connectionId,
        clientName: null,
        detail: { ...base, reason: decision.reason },
      });
      return { allow: false, reason: decision.reason };
    }
    if (decision.consume) this.#apply(consume(decision.grant, now), "consumed", "agent");
    this.#log("call_allowed", "agent", decision.grant, now, base);
    return { allow: true, grantId: decision.grant.id, kind: decision.grant.kind };
  }

  /** Everything the activity page shows. */
  activity(historyLimit = 100): Activity {
    const now = Date.now();
    const open = this.#grants.open();
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
      grants: this.#grants.recent(100_000).map(publicGrant),
      audit: this.#audit.list(1_000_000),
    };
  }

  /** Delete everything: account deletion. Waiters are released, the alarm is cancelled. */
  async purge(userId: string): Promise<void> {
    const credentials = this.#creds(userId);
    await credentials.deleteAllVaultRecords();
    credentials.clear();
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    // The object lives on in memory: give it its (empty) schema back, then release any waiters,
    // who now find nothing.
    migrate(this.#sql);
    for (const [, waiters] of this.#waiters) for (const waiter of [...waiters]) waiter({} as Grant);
    this.#waiters.clear();
  }

  /** Expire everything due, in batches; idempotent; then aim the alarm at the next deadline. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    for (;;) {
      const due = this.#grants.due(now, EXPIRY_BATCH);
      for (const grant of due) this.#expireOne(grant, now);
      if (due.length < EXPIRY_BATCH) break;
    }
    await this.#schedule();
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
    for (const grant of this.#grants.open()) {
      const names = grant.status === "pending" ? grant.requestedProviders : grant.providers;
      if (names.includes(providerId)) this.#apply(revoke(grant, now), "revoked", "human");
    }
    await this.#schedule();
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
      this.#audit.append({
        at: Date.now(),
        event: "call_denied",
        actor: "agent",
        grantId: requestId ?? null,
        connectionId,
        clientName: null,
        detail: {
          method: call.call.method,
          url: call.call.url,
          provider: call.provider,
          access: call.access,
          reason: "reason" in result ? result.reason : result.code,
        },
      });
      return result;
    };
    const link = this.#links.get(provider.id);
    if (!link) return refuse({ ok: false, code: "not_connected" });
    if (link.status === "reauth_required") return refuse({ ok: false, code: "reauth_required" });
    if (link.accountHost !== null && new URL(call.call.url).hostname !== link.accountHost) {
      return refuse({ ok: false, code: "denied", reason: "wrong_account" });
    }
    const preview = decide(this.#candidates(connectionId, requestId), call, connectionId, Date.now(), requestId);
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

  #candidates(connectionId: string, requestId?: string): StoredGrant[] {
    if (requestId === undefined) return this.#grants.open(connectionId);
    const grant = this.#grants.get(requestId);
    return grant ? [grant] : [];
  }

  #expireOne(grant: StoredGrant, now: number): void {
    const expired = expire(grant, now);
    if (!expired) return;
    this.#grants.update(expired);
    this.#log("expired", "system", expired, now, {});
    this.#notify(expired);
  }

  #apply(result: ReturnType<typeof revoke>, event: AuditEvent, actor: "agent" | "human"): Grant | null {
    if (!result.ok) return null;
    this.#grants.update(result.value);
    this.#log(event, actor, result.value, Date.now(), {});
    this.#notify(result.value);
    return result.value;
  }

  #current(id: string): Grant {
    const grant = this.#grants.get(id) as StoredGrant;
    return { ...publicGrant(grant), status: effectiveStatus(grant, Date.now()) };
  }

  #notify(grant: Grant): void {
    const waiters = this.#waiters.get(grant.id);
    if (!waiters) return;
    for (const waiter of [...waiters]) waiter(grant);
  }

  #log(event: AuditEvent, actor: "agent" | "human" | "system", grant: Grant, at: number, detail: AuditDetail) {
    this.#audit.append({
      at,
      event,
      actor,
      grantId: grant.id,
      connectionId: grant.connectionId,
      clientName: grant.clientName,
      detail,
    });
  }

  /** One alarm, at the earliest open deadline; none when nothing is open. */
  async #schedule(): Promise<void> {
    const next = this.#grants.nextDeadline();
    const current = await this.ctx.storage.getAlarm();
    if (next === null) {
      if (current !== null) await this.ctx.storage.deleteAlarm();
      return;
    }
    if (current !== next) await this.ctx.storage.setAlarm(next);
  }

  /** Fixed-window counter in memory: enough to blunt floods from one client. */
  #take(key: string, limit: number, windowMs: number, now: number): boolean {
    const window = this.#windows.get(key);
    if (!window || now - window.start >= windowMs) {
      this.#windows.set(key, { start: now, count: 1 });
      return true;
    }
    if (window.count >= limit) return false;
    window.count++;
    return true;
  }
}

/** The Durable Object of a verified user. */
export function sessionFor(namespace: DurableObjectNamespace<UserSession>, userId: string) {
  return namespace.get(namespace.idFromName(userId));
}
