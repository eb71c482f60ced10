/**
 * Standing rules: the person's "don't ask me again for this" (allow) and "never" (refuse),
 * for one client connection or all of the person's clients, on one provider or upstream server,
 * at one level, until an end time. Pure: no `this`, no I/O, no clock (`now` is passed in, in ms).
 * The call decision (decide.ts) consults these; the session persists and audits them.
 *
 * Invariants: only the person makes a rule, on a Countersign page (never a tool); a write allow
 * rule only comes from a write approval (`source: "approval"`), never from the /activity form;
 * a rule always ends, at most `maxHours` after it was made; a rule is live strictly before
 * `endsAt` (at exactly `endsAt` it has ended, like a grant's `expiresAt`).
 *
 * Levels: an allow rule of level read covers reads, of level write covers reads and writes (as a
 * broad grant). A never rule of level write refuses writes; of level read it refuses every call
 * on that provider, reads included (a person who will not let it read will not let it write).
 */
import { err, ok, type Result } from "../lib/result";
import type { AccessLevel } from "./types";

export type RuleEffect = "allow" | "never";
/** Where a rule was made: the approval page (from an approved grant) or the /activity form. */
export type RuleSource = "approval" | "activity";
/** Why a rule ended before or at its time. */
export type RuleEnd = "expired" | "removed" | "revoked_all";

export interface StandingRule {
  id: string;
  /** The client connection it applies to; null for every client of the person. */
  connectionId: string | null;
  /** A provider id or an upstream server name. */
  target: string;
  level: AccessLevel;
  effect: RuleEffect;
  source: RuleSource;
  /** The approved grant an approval-page rule came from; null for /activity rules. */
  grantId: string | null;
  createdAt: number;
  endsAt: number;
  endedAt: number | null;
  endReason: RuleEnd | null;
}

/** What the person asked for, before it is checked: a rule's terms and how many hours. */
export type RuleInput = Pick<StandingRule, "connectionId" | "target" | "level" | "effect" | "source" | "grantId"> & {
  hours: number;
};

export type RuleInputError =
  | { code: "hours_invalid" }
  | { code: "write_rule_needs_approval" }
  | { code: "level_invalid" }
  | { code: "effect_invalid" };

/** The most live rules one person may hold; past it a new rule is refused (`too_many_rules`). */
export const MAX_LIVE_RULES = 50;

/** Hours a person can pick for a rule, before the configured cap (RULE_MAX_HOURS). */
export const RULE_HOUR_CHOICES = [1, 2, 4, 8, 12, 24, 48, 72, 168];

/** The hour choices under a cap, and the one picked by default (8 hours, or the cap when lower). */
export function hourChoices(maxHours: number): { choices: number[]; preselected: number } {
  const choices = RULE_HOUR_CHOICES.filter((hours) => hours <= maxHours);
  if (!choices.includes(maxHours)) choices.push(maxHours);
  return { choices, preselected: Math.min(8, maxHours) };
}

/** Whether the rule is in force at `now`. */
export const isRuleLive = (rule: StandingRule, now: number): boolean => rule.endedAt === null && now < rule.endsAt;

/** Whether the rule speaks for this connection: its own, or an all-clients rule. */
const appliesTo = (rule: StandingRule, connectionId: string) =>
  rule.connectionId === null || rule.connectionId === connectionId;

/** Whether a live rule of this effect covers a call (or an ask) at `access` on `target`. */
export function ruleCovers(
  rule: StandingRule,
  target: string,
  access: AccessLevel,
  connectionId: string,
  now: number,
): boolean {
  if (!isRuleLive(rule, now) || !appliesTo(rule, connectionId) || rule.target !== target) return false;
  if (rule.effect === "allow") return access === "read" || rule.level === "write";
  return access === "write" || rule.level === "read";
}

/** The first live never rule refusing `access` on any of `targets` for this connection, or null. */
export function neverRuleFor(
  rules: readonly StandingRule[],
  targets: readonly string[],
  access: AccessLevel,
  connectionId: string,
  now: number,
): StandingRule | null {
  return (
    rules.find(
      (rule) =>
        rule.effect === "never" && targets.some((target) => ruleCovers(rule, target, access, connectionId, now)),
    ) ?? null
  );
}

/** The first live allow rule letting `access` on `target` run for this connection, or null. */
export function allowRuleFor(
  rules: readonly StandingRule[],
  target: string,
  access: AccessLevel,
  connectionId: string,
  now: number,
): StandingRule | null {
  return rules.find((rule) => rule.effect === "allow" && ruleCovers(rule, target, access, connectionId, now)) ?? null;
}

/**
 * Check a rule the person asked for and make it, ending `hours` after `now`. A write allow rule
 * is refused unless it comes from a write approval; the caller passes the approved level.
 */
export function makeRule(
  id: string,
  input: RuleInput,
  maxHours: number,
  now: number,
): Result<StandingRule, RuleInputError> {
  if (input.level !== "read" && input.level !== "write") return err({ code: "level_invalid" });
  if (input.effect !== "allow" && input.effect !== "never") return err({ code: "effect_invalid" });
  if (!Number.isInteger(input.hours) || input.hours < 1 || input.hours > maxHours)
    return err({ code: "hours_invalid" });
  if (input.effect === "allow" && input.level === "write" && (input.source !== "approval" || input.grantId === null)) {
    return err({ code: "write_rule_needs_approval" });
  }
  return ok({
    id,
    connectionId: input.connectionId,
    target: input.target,
    level: input.level,
    effect: input.effect,
    source: input.source,
    grantId: input.grantId,
    createdAt: now,
    endsAt: now + input.hours * 3_600_000,
    endedAt: null,
    endReason: null,
  });
}

/** End a live rule at `now` for `reason`; null when it has already ended. */
export function endRule(rule: StandingRule, reason: RuleEnd, now: number): StandingRule | null {
  if (rule.endedAt !== null) return null;
  if (reason === "expired") return now >= rule.endsAt ? { ...rule, endedAt: rule.endsAt, endReason: reason } : null;
  return { ...rule, endedAt: now, endReason: reason };
}
