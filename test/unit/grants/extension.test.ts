/** "+15 min" as a pure transition: capped at GRANT_MAX_MINUTES from now, live broad grants only. */
import { describe, expect, it } from "vitest";
import { EXTEND_STEP_MS, extend } from "../../../src/grants/extension";
import { approvedGrant, POLICY, T0 } from "../../helpers/grant-fixtures";

const MAX_MS = POLICY.maxDurationSeconds * 1000;

describe("extend", () => {
  it("moves the end 15 minutes later and the approved duration with it", () => {
    const grant = approvedGrant();
    const now = T0 + 2000;
    const extended = extend(grant, POLICY, now);
    expect(extended.ok && [extended.value.expiresAt, extended.value.durationSeconds]).toEqual([
      (grant.expiresAt as number) + EXTEND_STEP_MS,
      300 + 15 * 60,
    ]);
  });

  it("never ends past the policy's maximum from now", () => {
    const now = T0 + 2000;
    const grant = approvedGrant({ expiresAt: now + MAX_MS - 5 * 60_000 });
    const extended = extend(grant, POLICY, now);
    expect(extended.ok && extended.value.expiresAt).toBe(now + MAX_MS);
  });

  const refused: [string, Parameters<typeof approvedGrant>[0], number, string][] = [
    ["a grant gaining under a minute", { expiresAt: T0 + 2000 + MAX_MS - 59_999 }, T0 + 2000, "at_limit"],
    ["a grant at exactly its end", {}, T0 + 301_000, "not_live"],
    ["a revoked grant", { status: "revoked" }, T0 + 2000, "not_live"],
    ["a pending request", { status: "pending" }, T0 + 2000, "not_live"],
    ["a call grant", { kind: "call", callFingerprint: "fp" }, T0 + 2000, "not_extendable"],
  ];
  for (const [label, overrides, now, code] of refused) {
    it(`refuses ${label} with ${code}`, () => {
      const extended = extend(approvedGrant(overrides), POLICY, now);
      expect(!extended.ok && extended.error.code).toBe(code);
    });
  }
});
