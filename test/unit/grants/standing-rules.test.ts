/** Standing rules in the pure decision, and the checks on making and ending a rule. */
import { describe, expect, it } from "vitest";
import { decide } from "../../../src/grants/decide";
import {
  endRule,
  hourChoices,
  makeRule,
  neverRuleFor,
  type RuleInput,
  type StandingRule,
} from "../../../src/grants/standing-rules";
import type { ClassifiedCall, Grant } from "../../../src/grants/types";
import { approvedGrant, T0 } from "../../helpers/grant-fixtures";

const NOW = T0 + 10_000;
const HOUR = 3_600_000;

const call = (provider: string, access: "read" | "write", fingerprint = "fp-a"): ClassifiedCall => ({
  provider,
  access,
  fingerprint,
  call: { method: access === "read" ? "GET" : "POST", url: `https://api.${provider}.com/x`, body: "", headers: [] },
});

function rule(overrides: Partial<StandingRule> = {}): StandingRule {
  return {
    id: "rule_1",
    connectionId: "c_1",
    target: "github",
    level: "read",
    effect: "allow",
    source: "activity",
    grantId: null,
    createdAt: T0,
    endsAt: T0 + HOUR,
    endedAt: null,
    endReason: null,
    ...overrides,
  };
}

const readGithub = approvedGrant({ id: "g_read", level: "read", providers: ["github"] });
const writeGithub = approvedGrant({ id: "g_write", level: "write", providers: ["github"] });

type Expect = { allow: "grant" | "rule"; id: string } | { deny: string };

describe("decide with standing rules", () => {
  const cases: [string, Grant[], StandingRule[], ClassifiedCall, Expect][] = [
    ["a read under an allow-read rule", [], [rule()], call("github", "read"), { allow: "rule", id: "rule_1" }],
    ["a write under an allow-read rule", [], [rule()], call("github", "write"), { deny: "no_grant" }],
    [
      "a write under an allow-write rule",
      [],
      [rule({ level: "write", source: "approval", grantId: "g" })],
      call("github", "write"),
      { allow: "rule", id: "rule_1" },
    ],
    ["a read on another provider", [], [rule()], call("linear", "read"), { deny: "no_grant" }],
    [
      "another connection's rule",
      [],
      [rule({ connectionId: "c_other" })],
      call("github", "read"),
      { deny: "no_grant" },
    ],
    [
      "an all-clients rule",
      [],
      [rule({ connectionId: null })],
      call("github", "read"),
      { allow: "rule", id: "rule_1" },
    ],
    ["a rule ending at exactly now", [], [rule({ endsAt: NOW })], call("github", "read"), { deny: "no_grant" }],
    [
      "a rule ending 1 ms after now",
      [],
      [rule({ endsAt: NOW + 1 })],
      call("github", "read"),
      { allow: "rule", id: "rule_1" },
    ],
    [
      "a removed rule",
      [],
      [rule({ endedAt: NOW - 1, endReason: "removed" })],
      call("github", "read"),
      { deny: "no_grant" },
    ],
    [
      "a live grant beside an allow rule (the grant wins)",
      [readGithub],
      [rule()],
      call("github", "read"),
      { allow: "grant", id: "g_read" },
    ],
    [
      "a write under a never-write rule, even with a live write grant",
      [writeGithub],
      [rule({ effect: "never", level: "write" })],
      call("github", "write"),
      { deny: "refused_by_rule" },
    ],
    [
      "a read under a never-write rule",
      [readGithub],
      [rule({ effect: "never", level: "write" })],
      call("github", "read"),
      { allow: "grant", id: "g_read" },
    ],
    [
      "a read under a never-read rule (it refuses everything)",
      [readGithub],
      [rule({ effect: "never", level: "read" })],
      call("github", "read"),
      { deny: "refused_by_rule" },
    ],
    [
      "a never rule beside an allow rule",
      [],
      [rule({ id: "rule_allow" }), rule({ id: "rule_never", effect: "never", level: "read", connectionId: null })],
      call("github", "read"),
      { deny: "refused_by_rule" },
    ],
    [
      "another connection's never rule",
      [writeGithub],
      [rule({ effect: "never", level: "write", connectionId: "c_other" })],
      call("github", "write"),
      { allow: "grant", id: "g_write" },
    ],
    [
      "an expired never rule",
      [writeGithub],
      [rule({ effect: "never", level: "write", endsAt: NOW })],
      call("github", "write"),
      { allow: "grant", id: "g_write" },
    ],
  ];
  for (const [label, grants, rules, classified, expected] of cases) {
    it(`${"allow" in expected ? "allows" : "denies"} ${label}`, () => {
      const decision = decide(grants, classified, "c_1", NOW, undefined, rules);
      if ("allow" in expected) {
        if (!decision.allow) throw new Error(`denied: ${decision.reason}`);
        const id = expected.allow === "rule" ? decision.rule?.id : decision.grant?.id;
        expect(id).toBe(expected.id);
        expect(expected.allow === "rule" ? decision.grant : decision.rule).toBeUndefined();
      } else {
        expect(!decision.allow && decision.reason).toBe(expected.deny);
      }
    });
  }

  it("names the never rule that refused, and an allow rule is never consumed", () => {
    const never = decide([], call("github", "write"), "c_1", NOW, undefined, [
      rule({ effect: "never", level: "write" }),
    ]);
    expect(!never.allow && never.rule?.id).toBe("rule_1");
    const allowed = decide([], call("github", "read"), "c_1", NOW, undefined, [rule()]);
    expect(allowed.allow && allowed.consume).toBe(false);
  });

  it("lets only the named grant allow with request_id, but a never rule still refuses", () => {
    const named = decide([], call("github", "read"), "c_1", NOW, "req_missing", [rule()]);
    expect(!named.allow && named.reason).toBe("not_found");
    const refused = decide([writeGithub], call("github", "write"), "c_1", NOW, "g_write", [
      rule({ effect: "never", level: "write" }),
    ]);
    expect(!refused.allow && refused.reason).toBe("refused_by_rule");
  });

  it("decides exactly as before when there are no rules", () => {
    expect(decide([readGithub], call("github", "write"), "c_1", NOW)).toEqual({ allow: false, reason: "read_only" });
  });
});

describe("neverRuleFor (asking for access)", () => {
  const never = rule({ effect: "never", level: "write", connectionId: null });
  it("finds a never rule covering any asked provider at the asked level", () => {
    expect(neverRuleFor([never], ["linear", "github"], "write", "c_1", NOW)?.id).toBe("rule_1");
  });
  it("lets a read ask past a never-write rule, and ignores other providers", () => {
    expect(neverRuleFor([never], ["github"], "read", "c_1", NOW)).toBeNull();
    expect(neverRuleFor([never], ["linear"], "write", "c_1", NOW)).toBeNull();
  });
  it("ignores allow rules", () => {
    expect(neverRuleFor([rule({ level: "write" })], ["github"], "write", "c_1", NOW)).toBeNull();
  });
});

describe("makeRule", () => {
  const input = (overrides: Partial<RuleInput> = {}): RuleInput => ({
    connectionId: "c_1",
    target: "github",
    level: "read",
    effect: "allow",
    source: "activity",
    grantId: null,
    hours: 8,
    ...overrides,
  });

  it("makes a rule ending the chosen hours from now", () => {
    const made = makeRule("rule_x", input(), 24, NOW);
    expect(made.ok && [made.value.endsAt, made.value.endedAt]).toEqual([NOW + 8 * HOUR, null]);
  });

  const refused: [string, Partial<RuleInput>, string][] = [
    ["a write allow rule from /activity", { level: "write" }, "write_rule_needs_approval"],
    [
      "a write allow rule from an approval with no grant",
      { level: "write", source: "approval" },
      "write_rule_needs_approval",
    ],
    ["hours over the cap", { hours: 25 }, "hours_invalid"],
    ["zero hours", { hours: 0 }, "hours_invalid"],
    ["fractional hours", { hours: 1.5 }, "hours_invalid"],
    ["an unknown level", { level: "admin" as "read" }, "level_invalid"],
    ["an unknown effect", { effect: "maybe" as "allow" }, "effect_invalid"],
  ];
  for (const [label, overrides, code] of refused) {
    it(`refuses ${label}`, () => {
      const made = makeRule("rule_x", input(overrides), 24, NOW);
      expect(!made.ok && made.error.code).toBe(code);
    });
  }

  it("allows a write never rule from /activity and a write allow rule from a write approval", () => {
    expect(makeRule("r", input({ level: "write", effect: "never" }), 24, NOW).ok).toBe(true);
    expect(makeRule("r", input({ level: "write", source: "approval", grantId: "req_1" }), 24, NOW).ok).toBe(true);
  });
});

describe("endRule and hourChoices", () => {
  it("expires a rule only once its time has come, stamped at its end", () => {
    expect(endRule(rule(), "expired", T0 + HOUR - 1)).toBeNull();
    expect(endRule(rule(), "expired", T0 + HOUR + 5)?.endedAt).toBe(T0 + HOUR);
    expect(endRule(rule({ endedAt: T0 }), "removed", NOW)).toBeNull();
    expect(endRule(rule(), "removed", NOW)).toMatchObject({ endedAt: NOW, endReason: "removed" });
  });

  it("offers hours up to the cap, the cap itself included", () => {
    expect(hourChoices(24)).toEqual({ choices: [1, 2, 4, 8, 12, 24], preselected: 8 });
    expect(hourChoices(5)).toEqual({ choices: [1, 2, 4, 5], preselected: 5 });
  });
});
