/**
 * The grant book of one user: asking, deciding, waiting, revoking, expiring and the call
 * decision, over the `grants` and `audit` tables; it re-aims the object's one alarm (alarm.ts)
 * after every change. Policy comes from src/grants
 * (pure); this class persists, audits and wakes waiters (decision-waiters.ts).
 * Every state change runs synchronously between reading and writing SQL, so concurrent RPCs to
 * the Durable Object that owns it (20 parallel approvals, approve racing deny, two uses of one
 * call grant) see exactly one winner.
 */
import { type Decision as CallDecision, decide } from "../grants/decide";
import { countRequest, grantsNaming, pendingCapReached, type RequestWindow, requestKey } from "../grants/rules";
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
import { timingSafeEqual } from "../lib/crypto";
import type { Alarm } from "./alarm";
import type { AuditDetail, AuditEvent, AuditLog } from "./audit-log";
import { DecisionWaiters } from "./decision-waiters";
import { type GrantStore, publicGrant, type StoredGrant } from "./grant-store";
import type { StandingRuleStore } from "./standing-rule-store";

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

/** What allowed a call: a grant (`grantId`, `kind`) or a standing rule (`ruleId`), never both. */
export type CallAuthorization =
  | { allow: true; grantId: string | null; ruleId: string | null; kind: GrantKind | null }
  | { allow: false; reason: string };

/** The person's standing rules, as the call decision and the alarm consult them (optional in unit tests). */
type RuleSource = Pick<StandingRuleStore, "live" | "auditAllowed">;

/** Grants expired per SQL batch by the alarm. */
const EXPIRY_BATCH = 500;

export class GrantBook {
  readonly #waiters = new DecisionWaiters();
  /** Per-connection request windows, in memory: enough to blunt floods from one client. */
  readonly #windows = new Map<string, RequestWindow>();
  /**
   * `rules`: the person's standing rules, joined to every call decision (none in some unit tests).
   * `announce`: told of each new pending request in the step that stores it (the notifier).
   */
  constructor(
    private readonly grants: GrantStore,
    private readonly audit: AuditLog,
    private readonly alarm: Alarm,
    private readonly policy: () => GrantPolicy,
    private readonly rules: RuleSource | null = null,
    private readonly announce: (grant: Grant, now: number) => void = () => {},
  ) {}

  /** Open grants of a connection, or of everyone. */
  open(connectionId?: string): StoredGrant[] {
    return this.grants.open(connectionId);
  }

  /** Recent grants of any status (export). */
  recent(limit: number): Grant[] {
    return this.grants.recent(limit).map(publicGrant);
  }

  /** Expire everything due, in batches; idempotent; then aim the alarm at the next deadline. */
  async expireDue(): Promise<void> {
    const now = Date.now();
    for (;;) {
      const due = this.grants.due(now, EXPIRY_BATCH);
      for (const grant of due) this.expireOne(grant, now);
      if (due.length < EXPIRY_BATCH) break;
    }
    await this.schedule();
  }

  /** Release every waiting check (account deletion): they now find nothing. */
  releaseWaiters(): void {
    this.#waiters.releaseAll();
  }

  /** Audit a refused call with its reason, stamped `at` (the clock reading its decision used). */
  auditRefusal(
    call: ClassifiedCall,
    connectionId: string,
    requestId: string | undefined,
    reason: string,
    at = Date.now(),
  ): void {
    this.audit.append({
      at,
      event: "call_denied",
      actor: "agent",
      grantId: requestId ?? null,
      connectionId,
      clientName: null,
      detail: { method: call.call.method, url: call.call.url, provider: call.provider, access: call.access, reason },
    });
  }

  /** The agent asks. Duplicates from the same connection coalesce; floods are refused. */
  async requestAccess(input: AccessRequestInput): Promise<AccessRequestResult> {
    const now = Date.now();
    const policy = this.policy();
    const key = requestKey(input);
    const duplicate = this.grants.pendingDuplicate(input.connectionId, key);
    // Counted before coalescing, as before: a looping agent's duplicates use up its window too.
    const counted = countRequest(this.#windows.get(input.connectionId), now);
    this.#windows.set(input.connectionId, counted.window);
    if (duplicate && effectiveStatus(duplicate, now) === "pending") {
      // Not a state change, so no audit row: a looping agent cannot grow the log this way.
      return { ok: true, grant: publicGrant(duplicate), coalesced: true };
    }
    if (pendingCapReached(this.grants.countPending(now), policy)) {
      return {
        ok: false,
        code: "rate_limited",
        message: `You already have ${policy.maxPendingPerUser} requests waiting for the person. Wait for them to be decided or expire.`,
      };
    }
    if (!counted.allowed) {
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
      requestKey: key,
    };
    this.grants.insert(grant);
    this.log("requested", "agent", grant, now, {
      kind: grant.kind,
      level: grant.requestedLevel,
      providers: grant.requestedProviders,
      ...(grant.call ? { method: grant.call.method, url: grant.call.url } : {}),
    });
    const created = publicGrant(grant);
    this.announce(created, now);
    await this.schedule();
    return { ok: true, grant: created, coalesced: false };
  }
  /** A grant as the agent's connection sees it; null when it is not this connection's. */
  getForConnection(id: string, connectionId: string): Grant | null {
    const grant = this.grants.get(id);
    if (!grant || grant.connectionId !== connectionId) return null;
    return { ...publicGrant(grant), status: effectiveStatus(grant, Date.now()) };
  }
  /** A grant as the approval page sees it: only with the right link token. */
  viewRequest(id: string, linkTokenHash: string): Grant | null {
    const grant = this.grants.get(id);
    if (!grant || !timingSafeEqual(grant.linkTokenHash, linkTokenHash)) return null;
    return { ...publicGrant(grant), status: effectiveStatus(grant, Date.now()) };
  }
  /** The person approves or denies through the approval link. Exactly one decision wins. */
  async decide(id: string, linkTokenHash: string, decision: Decision): Promise<DecideResult> {
    const grant = this.grants.get(id);
    if (!grant || !timingSafeEqual(grant.linkTokenHash, linkTokenHash)) return { ok: false, code: "not_found" };
    const now = Date.now();
    const result =
      decision.kind === "approve"
        ? approve(grant, decision.input, this.policy(), now)
        : deny(grant, decision.note, now);
    if (!result.ok) {
      if (result.error.code === "expired") {
        this.expireOne(grant, now);
        await this.schedule();
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
    this.grants.update(result.value);
    const updated = result.value;
    this.log(decision.kind === "approve" ? "approved" : "denied", "human", updated, now, {
      providers: updated.providers,
      level: updated.level,
      duration_seconds: updated.durationSeconds,
      note: updated.note !== null,
    });
    this.#notify(updated);
    await this.schedule();
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
    return this.#waiters.wait(id, deadline, () => this.getForConnection(id, connectionId));
  }
  /** Live (approved, unexpired) grants of one connection. */
  authority(connectionId: string): Grant[] {
    const now = Date.now();
    return this.grants
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
        ? this.grants.open(connectionId)
        : [this.grants.get(id)].filter((grant): grant is StoredGrant => grant?.connectionId === connectionId);
    if (id !== undefined && targets.length === 0) return null;
    const revoked: Grant[] = [];
    for (const grant of targets) {
      const changed = this.apply(revoke(grant, now), "revoked", "agent", now);
      if (changed) revoked.push(changed);
    }
    await this.schedule();
    return { revoked };
  }
  /** The person revokes a grant from the activity page. */
  async revokeByOwner(id: string): Promise<Grant | null> {
    const grant = this.grants.get(id);
    if (!grant) return null;
    const now = Date.now();
    const changed = this.apply(revoke(grant, now), "revoked", "human", now);
    await this.schedule();
    return changed ?? this.#current(id);
  }
  /**
   * End every open grant of a connection (it was revoked or superseded). Synchronous, so the
   * caller can mark the connection in the same step; the caller then calls `schedule()`.
   */
  endForConnection(connectionId: string, actor: "human" | "system"): void {
    const now = Date.now();
    for (const grant of this.grants.open(connectionId)) this.apply(revoke(grant, now), "revoked", actor, now);
  }
  /** End the open grants that name a provider or upstream server the person disconnected. */
  async endNaming(name: string): Promise<void> {
    const now = Date.now();
    for (const grant of grantsNaming(this.grants.open(), name)) this.apply(revoke(grant, now), "revoked", "human", now);
    await this.schedule();
  }
  /** The open grants as the activity page shows them: pending and live, at `now`. */
  overview(now: number): { pending: Grant[]; live: Grant[] } {
    const open = this.grants.open();
    return {
      pending: open.filter((grant) => effectiveStatus(grant, now) === "pending").map(publicGrant),
      live: open.filter((grant) => isLive(grant, now)).map(publicGrant),
    };
  }
  /**
   * May this call run now? A call grant is consumed here, before the caller starts the
   * outbound request, so a second use (or a parallel one) can never also succeed. The clock is
   * read once: the decision, the consumption and every entry it writes share that `now`.
   */
  authorizeCall(call: ClassifiedCall, connectionId: string, requestId?: string): CallAuthorization {
    const now = Date.now();
    const decision = this.preview(call, connectionId, requestId, now);
    const base = { method: call.call.method, url: call.call.url, provider: call.provider, access: call.access };
    if (!decision.allow) {
      this.auditRefusal(call, connectionId, requestId, decision.reason, now);
      return { allow: false, reason: decision.reason };
    }
    if (decision.rule) {
      this.rules?.auditAllowed(decision.rule, connectionId, base, now);
      return { allow: true, grantId: null, ruleId: decision.rule.id, kind: null };
    }
    if (decision.consume) this.apply(consume(decision.grant, now), "consumed", "agent", now);
    this.log("call_allowed", "agent", decision.grant, now, base);
    return { allow: true, grantId: decision.grant.id, ruleId: null, kind: decision.grant.kind };
  }
  /** The call decision at `now` over this connection's grants and the person's rules; no side effect. */
  preview(call: ClassifiedCall, connectionId: string, requestId?: string, now = Date.now()): CallDecision {
    return decide(this.candidates(connectionId, requestId), call, connectionId, now, requestId, this.rules?.live(now));
  }
  candidates(connectionId: string, requestId?: string): StoredGrant[] {
    if (requestId === undefined) return this.grants.open(connectionId);
    const grant = this.grants.get(requestId);
    return grant ? [grant] : [];
  }
  expireOne(grant: StoredGrant, now: number): void {
    const expired = expire(grant, now);
    if (!expired) return;
    this.grants.update(expired);
    this.log("expired", "system", expired, now, {});
    this.#notify(expired);
  }
  /** Persist a transition's result and audit it at `at`, the reading the transition was judged at. */
  apply(
    result: ReturnType<typeof revoke>,
    event: AuditEvent,
    actor: "agent" | "human" | "system",
    at: number,
  ): Grant | null {
    if (!result.ok) return null;
    this.grants.update(result.value);
    this.log(event, actor, result.value, at, {});
    this.#notify(result.value);
    return result.value;
  }
  #current(id: string): Grant {
    const grant = this.grants.get(id) as StoredGrant;
    return { ...publicGrant(grant), status: effectiveStatus(grant, Date.now()) };
  }
  #notify(grant: Grant): void {
    this.#waiters.notify(grant.id);
  }
  log(event: AuditEvent, actor: "agent" | "human" | "system", grant: Grant, at: number, detail: AuditDetail) {
    this.audit.append({
      at,
      event,
      actor,
      grantId: grant.id,
      connectionId: grant.connectionId,
      clientName: grant.clientName,
      detail,
    });
  }
  /** Aim the object's one alarm again (alarm.ts): grants, rules and deliveries all feed it. */
  schedule(): Promise<void> {
    return this.alarm.aim();
  }
}
