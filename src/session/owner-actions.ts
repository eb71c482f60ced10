/**
 * The person's quick actions on /activity that reach across the grant book and the standing
 * rules: "+15 min" on a live broad grant, and "Revoke everything". Policy is pure
 * (src/grants/extension.ts, transitions.ts); this module persists through the grant store and
 * audits and re-aims the alarm through the grant book. Only the person's pages call these.
 *
 * "Revoke everything" revokes every pending and live grant of every connection and ends every
 * allow rule; never rules stay (they only protect) and apps stay connected.
 */
import { type ExtendError, extend } from "../grants/extension";
import { revoke } from "../grants/transitions";
import type { Grant, GrantPolicy } from "../grants/types";
import { type GrantBook, publicGrant } from "./grant-book";
import type { GrantStore } from "./grant-store";
import type { StandingRuleStore } from "./standing-rule-store";

export type ExtendResult = { ok: true; grant: Grant } | { ok: false; code: ExtendError["code"] | "not_found" };

export class OwnerActions {
  constructor(
    private readonly grants: GrantStore,
    private readonly book: GrantBook,
    private readonly rules: StandingRuleStore,
    private readonly policy: () => GrantPolicy,
  ) {}

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
      if (this.book.apply(revoke(grant, now), "revoked", "human")) grants++;
    }
    await this.book.schedule();
    return { grants, rules: rules.length };
  }
}
