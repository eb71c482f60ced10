/**
 * The person's standing rules over the `standing_rules` table, with their audit entries:
 * creating (by the person only: every caller is a Countersign page route), removing, ending
 * every allow rule at once ("Revoke everything"), and expiring by the alarm. Policy lives in
 * src/grants/standing-rules.ts (pure); this class persists what it returns.
 *
 * Invariants: at most MAX_LIVE_RULES live rules per person; a rule is never reopened or widened
 * once made (there is no update of target, level, effect or end); removing another person's
 * rule is impossible because each person's rules live in their own Durable Object.
 */

import {
  endRule,
  isRuleLive,
  MAX_LIVE_RULES,
  makeRule,
  neverRuleFor,
  type RuleEnd,
  type RuleInput,
  type RuleInputError,
  type StandingRule,
} from "../grants/standing-rules";
import type { AccessLevel } from "../grants/types";
import { randomToken } from "../lib/crypto";
import type { AuditActor, AuditDetail, AuditEvent, AuditLog } from "./audit-log";

type RuleRow = {
  id: string;
  connection_id: string | null;
  target: string;
  level: AccessLevel;
  effect: StandingRule["effect"];
  source: StandingRule["source"];
  grant_id: string | null;
  created_at: number;
  ends_at: number;
  ended_at: number | null;
  end_reason: RuleEnd | null;
};

const fromRow = (row: RuleRow): StandingRule => ({
  id: row.id,
  connectionId: row.connection_id,
  target: row.target,
  level: row.level,
  effect: row.effect,
  source: row.source,
  grantId: row.grant_id,
  createdAt: row.created_at,
  endsAt: row.ends_at,
  endedAt: row.ended_at,
  endReason: row.end_reason,
});

export type CreateRuleResult =
  | { ok: true; rule: StandingRule }
  | { ok: false; code: RuleInputError["code"] | "too_many_rules" | "unknown_connection" | "unknown_target" };

/** What a rule from the /activity form may name: the person's live connections and targets. */
export interface KnownNames {
  connections: string[];
  targets: string[];
}

/** An access request a never rule refused (the shape of the grant book's refusals). */
export type RefusedAsk = { ok: false; code: "refused_by_rule"; message: string };

/** A fresh, unguessable rule id. */
export const newRuleId = () => `rule_${randomToken(16)}`;

const END_EVENT: Record<RuleEnd, AuditEvent> = {
  expired: "rule_expired",
  removed: "rule_removed",
  revoked_all: "rule_removed",
};

export class StandingRuleStore {
  constructor(
    private readonly sql: SqlStorage,
    private readonly audit: AuditLog,
  ) {}

  /** Rules that have not ended (the clock is applied by the decision, not here). */
  open(): StandingRule[] {
    return this.sql
      .exec<RuleRow>("SELECT * FROM standing_rules WHERE ended_at IS NULL ORDER BY created_at")
      .toArray()
      .map(fromRow);
  }

  /** Rules in force at `now`: what the call decision and the /activity page see. */
  live(now: number): StandingRule[] {
    return this.open().filter((rule) => isRuleLive(rule, now));
  }

  get(id: string): StandingRule | null {
    const row = this.sql.exec<RuleRow>("SELECT * FROM standing_rules WHERE id = ?", id).toArray()[0];
    return row ? fromRow(row) : null;
  }

  /** Every rule ever made, newest first (export). */
  all(): StandingRule[] {
    return this.sql.exec<RuleRow>("SELECT * FROM standing_rules ORDER BY created_at DESC").toArray().map(fromRow);
  }

  /**
   * The person makes a rule (checked by `makeRule`, capped), audited as theirs. With `known`,
   * the connection and target must be among the person's own (the /activity form's free input);
   * an approval's rule names its grant's connection and approved providers, known already.
   */
  create(input: RuleInput, maxHours: number, now: number, known?: KnownNames): CreateRuleResult {
    if (known && input.connectionId !== null && !known.connections.includes(input.connectionId)) {
      return { ok: false, code: "unknown_connection" };
    }
    if (known && !known.targets.includes(input.target)) return { ok: false, code: "unknown_target" };
    const made = makeRule(newRuleId(), input, maxHours, now);
    if (!made.ok) return { ok: false, code: made.error.code };
    if (this.live(now).length >= MAX_LIVE_RULES) return { ok: false, code: "too_many_rules" };
    const rule = made.value;
    this.sql.exec(
      `INSERT INTO standing_rules (id, connection_id, target, level, effect, source, grant_id, created_at, ends_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      rule.id,
      rule.connectionId,
      rule.target,
      rule.level,
      rule.effect,
      rule.source,
      rule.grantId,
      rule.createdAt,
      rule.endsAt,
    );
    this.#log("rule_created", "human", rule, now, { ends_at: rule.endsAt, source: rule.source });
    return { ok: true, rule };
  }

  /** The person removes a live rule; null when there is no such rule or it has ended already. */
  remove(id: string, now: number): StandingRule | null {
    const rule = this.get(id);
    if (!rule || !isRuleLive(rule, now)) return null;
    return this.#end(rule, "removed", "human", now);
  }

  /** "Revoke everything": every live allow rule ends; never rules stay, they only protect. */
  endAllowRules(now: number): StandingRule[] {
    const ended: StandingRule[] = [];
    for (const rule of this.live(now)) {
      if (rule.effect !== "allow") continue;
      const done = this.#end(rule, "revoked_all", "human", now);
      if (done) ended.push(done);
    }
    return ended;
  }

  /** The alarm: every rule past its end is marked ended at its end time and audited. */
  expireDue(now: number): number {
    const due = this.sql
      .exec<RuleRow>("SELECT * FROM standing_rules WHERE ended_at IS NULL AND ends_at <= ?", now)
      .toArray()
      .map(fromRow);
    for (const rule of due) this.#end(rule, "expired", "system", now);
    return due.length;
  }

  /**
   * The ask a never rule covers (any named target at the asked level), refused before anything
   * is stored: the book is not called, so no request, no audit entry and nothing for the person.
   */
  refuseAsk(targets: string[], level: AccessLevel, connectionId: string, now: number): RefusedAsk | null {
    const never = neverRuleFor(this.live(now), targets, level, connectionId, now);
    if (!never) return null;
    const what = never.level === "read" ? "any access to" : "writes to";
    return {
      ok: false,
      code: "refused_by_rule",
      message: `The person set a standing rule that never allows ${what} ${never.target}. Do not ask for it.`,
    };
  }

  /** A call an allow rule let through: `call_allowed` with the rule's id and no grant. */
  auditAllowed(rule: StandingRule, connectionId: string, call: AuditDetail, now: number): void {
    this.audit.append({
      at: now,
      event: "call_allowed",
      actor: "agent",
      grantId: null,
      connectionId,
      clientName: null,
      detail: { ...call, rule: rule.id },
    });
  }

  /** When the alarm must next run for a rule: the earliest end of an open rule, or null. */
  nextDeadline(): number | null {
    const row = this.sql
      .exec<{ at: number | null }>("SELECT MIN(ends_at) AS at FROM standing_rules WHERE ended_at IS NULL")
      .toArray()[0];
    return row?.at ?? null;
  }

  #end(rule: StandingRule, reason: RuleEnd, actor: AuditActor, now: number): StandingRule | null {
    const ended = endRule(rule, reason, now);
    if (!ended) return null;
    this.sql.exec(
      "UPDATE standing_rules SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
      ended.endedAt,
      ended.endReason,
      ended.id,
    );
    this.#log(END_EVENT[reason], actor, ended, now, { reason });
    return ended;
  }

  #log(event: AuditEvent, actor: AuditActor, rule: StandingRule, at: number, extra: Record<string, string | number>) {
    this.audit.append({
      at,
      event,
      actor,
      grantId: rule.grantId,
      connectionId: rule.connectionId,
      clientName: null,
      detail: { rule: rule.id, target: rule.target, level: rule.level, effect: rule.effect, ...extra },
    });
  }
}
