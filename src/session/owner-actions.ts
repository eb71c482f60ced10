/**
 * The person's actions that reach across the grant book and the standing rules: approving with
 * "Also allow this for N hours without asking", "+15 min" on a live broad grant, and "Revoke
 * everything". Policy is pure
 * (src/grants/extension.ts, transitions.ts); this module persists through the grant store and
 * audits and re-aims the alarm through the grant book. Only the person's pages call these.
 *
 * An approval's rules are cut from the grant the book returns after approving: its connection,
 * its approved providers, its approved level. So a rule is never wider than the approval, and a
 * write allow rule only ever comes from a write approval.
 *
 * "Revoke everything" revokes every pending and live grant of every connection and ends every
 * allow rule; never rules stay (they only protect) and apps stay connected.
 */
import { type ExtendError, extend } from "../grants/extension";
import type { RuleInput, StandingRule } from "../grants/standing-rules";
import { revoke } from "../grants/transitions";
import type { Grant, GrantPolicy } from "../grants/types";
import type { DecideResult, Decision, GrantBook } from "./grant-book";
import type { GrantStore } from "./grant-store";
import { publicGrant } from "./grant-store";
import type { CreateRuleResult, StandingRuleStore } from "./standing-rule-store";

/** What a rule made on /activity may name. */
export interface RuleScope {
  connections: string[];
  targets: string[];
}

export type ExtendResult = { ok: true; grant: Grant } | { ok: false; code: ExtendError["code"] | "not_found" };

/** The person's decision, and the allow rules it made (none unless approved with the box). */
export interface ApprovedWithRule {
  result: DecideResult;
  rules: CreateRuleResult[];
}

export class OwnerActions {
  constructor(
    private readonly grants: GrantStore,
    private readonly book: GrantBook,
    private readonly rules: StandingRuleStore,
    private readonly policy: () => GrantPolicy,
    private readonly ruleMaxHours: () => number,
  ) {}

  /** A rule made on /activity, naming only what `scope` lists (the person's connections and targets). */
  async createRule(input: RuleInput, scope: RuleScope): Promise<CreateRuleResult> {
    const created = this.rules.create(input, this.ruleMaxHours(), Date.now(), scope);
    if (created.ok) await this.book.schedule();
    return created;
  }

  async removeRule(id: string): Promise<StandingRule | null> {
    const removed = this.rules.remove(id, Date.now());
    await this.book.schedule();
    return removed;
  }

  /** Decide; when approved, one allow rule per approved provider for the asking connection. */
  async decideWithRule(
    id: string,
    linkTokenHash: string,
    decision: Decision,
    hours: number,
  ): Promise<ApprovedWithRule> {
    const result = await this.book.decide(id, linkTokenHash, decision);
    if (!result.ok || result.grant.status !== "approved") return { result, rules: [] };
    const { grant } = result;
    const level = grant.level;
    if (level === null) return { result, rules: [] };
    const now = Date.now();
    const rules = grant.providers.map((target) =>
      this.rules.create(
        {
          connectionId: grant.connectionId,
          target,
          level,
          effect: "allow",
          source: "approval",
          grantId: grant.id,
          hours,
        },
        this.ruleMaxHours(),
        now,
      ),
    );
    await this.book.schedule();
    return { result, rules };
  }

  /** "+15 min": audited `extended` with the old and new end; the alarm follows the new end. */
  async extend(id: string): Promise<ExtendResult> {
    const grant = this.grants.get(id);
    if (!grant) return { ok: false, code: "not_found" };
    const now = Date.now();
    const extended = extend(grant, this.policy(), now);
    if (!extended.ok) return { ok: false, code: extended.error.code };
    this.grants.update(extended.value);
    this.book.log("extended", "human", extended.value, now, { from: grant.expiresAt, to: extended.value.expiresAt });
    await this.book.schedule();
    return { ok: true, grant: publicGrant(extended.value) };
  }

  /** "Revoke everything": how many grants were revoked and allow rules ended. */
  async revokeEverything(): Promise<{ grants: number; rules: number }> {
    const now = Date.now();
    const rules = this.rules.endAllowRules(now);
    let grants = 0;
    for (const grant of this.book.open()) {
      if (this.book.apply(revoke(grant, now), "revoked", "human", now)) grants++;
    }
    await this.book.schedule();
    return { grants, rules: rules.length };
  }
}
