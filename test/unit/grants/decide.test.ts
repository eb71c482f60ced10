/** The pure decision: which grant allows a call, or why none does. */
import { describe, expect, it } from "vitest";
import { decide } from "../../../src/grants/decide";
import type { ClassifiedCall, Grant } from "../../../src/grants/types";
import { approvedGrant, pendingGrant, T0 } from "../../helpers/grant-fixtures";

const call = (provider: string, access: "read" | "write", fingerprint = "fp-a"): ClassifiedCall => ({
  provider,
  access,
  fingerprint,
  call: { method: access === "read" ? "GET" : "POST", url: `https://api.${provider}.com/x`, body: "", headers: [] },
});

const NOW = T0 + 10_000;
const readGithub = approvedGrant({ id: "g_read", level: "read", providers: ["github"] });
const writeLinear = approvedGrant({ id: "g_write", level: "write", providers: ["linear"] });
const oneCall = approvedGrant({ id: "g_call", kind: "call", providers: ["github"], callFingerprint: "fp-a" });

describe("decide without request_id", () => {
  const cases: [string, Grant[], ClassifiedCall, string, string | null][] = [
    ["read under a read grant", [readGithub], call("github", "read"), "allow", "g_read"],
    ["write under a read grant", [readGithub], call("github", "write", "fp-z"), "read_only", null],
    ["read under a write grant", [writeLinear], call("linear", "read"), "allow", "g_write"],
    ["provider A's grant for provider B", [readGithub], call("linear", "read"), "wrong_provider", null],
    ["nothing granted", [], call("github", "read"), "no_grant", null],
    ["only a pending request", [pendingGrant()], call("github", "read"), "no_grant", null],
    ["an expired grant", [approvedGrant({ expiresAt: NOW - 1 })], call("github", "read"), "no_grant", null],
    ["another session's grant", [approvedGrant({ connectionId: "c_other" })], call("github", "read"), "no_grant", null],
    ["the exact call under a call grant", [oneCall], call("github", "write", "fp-a"), "allow", "g_call"],
    ["a changed call under a call grant", [oneCall], call("github", "write", "fp-b"), "no_grant", null],
    [
      "a consumed call grant",
      [approvedGrant({ ...oneCall, status: "consumed" })],
      call("github", "write"),
      "no_grant",
      null,
    ],
  ];
  for (const [label, grants, classified, outcome, grantId] of cases) {
    it(`${outcome === "allow" ? "allows" : "denies"} ${label}`, () => {
      const decision = decide(grants, classified, "c_1", NOW);
      if (outcome === "allow") {
        expect(decision.allow && decision.grant?.id).toBe(grantId);
      } else {
        expect(!decision.allow && decision.reason).toBe(outcome);
      }
    });
  }

  it("prefers a broad grant over a call grant and consumes only call grants", () => {
    const broad = decide(
      [oneCall, approvedGrant({ id: "g_b", providers: ["github"] })],
      call("github", "write"),
      "c_1",
      NOW,
    );
    expect(broad.allow && [broad.grant?.id, broad.consume]).toEqual(["g_b", false]);
    const exact = decide([oneCall], call("github", "write"), "c_1", NOW);
    expect(exact.allow && exact.consume).toBe(true);
  });
});

describe("decide with request_id", () => {
  const cases: [string, Grant[], string, ClassifiedCall, string][] = [
    ["an unknown id", [readGithub], "g_none", call("github", "read"), "not_found"],
    [
      "another session's id",
      [approvedGrant({ id: "g_x", connectionId: "c_2" })],
      "g_x",
      call("github", "read"),
      "not_found",
    ],
    ["a pending id", [pendingGrant({ id: "g_p" })], "g_p", call("github", "read"), "pending"],
    ["a denied id", [pendingGrant({ id: "g_d", status: "denied" })], "g_d", call("github", "read"), "denied"],
    ["an expired id", [approvedGrant({ id: "g_e", expiresAt: NOW })], "g_e", call("github", "read"), "expired"],
    ["a revoked id", [approvedGrant({ id: "g_r", status: "revoked" })], "g_r", call("github", "read"), "revoked"],
    [
      "a consumed id",
      [approvedGrant({ ...oneCall, status: "consumed" })],
      "g_call",
      call("github", "write"),
      "consumed",
    ],
    ["a changed body", [oneCall], "g_call", call("github", "write", "fp-other"), "call_mismatch"],
    ["another provider", [readGithub], "g_read", call("linear", "read"), "wrong_provider"],
    ["a write on a read grant", [readGithub], "g_read", call("github", "write"), "read_only"],
  ];
  for (const [label, grants, id, classified, reason] of cases) {
    it(`denies ${label} with ${reason}`, () => {
      const decision = decide(grants, classified, "c_1", NOW, id);
      expect(!decision.allow && decision.reason).toBe(reason);
    });
  }

  it("allows the named grant only", () => {
    const decision = decide([readGithub, oneCall], call("github", "write", "fp-a"), "c_1", NOW, "g_call");
    expect(decision.allow && decision.grant?.id).toBe("g_call");
  });

  it("decides among 10 000 grants", () => {
    const many = Array.from({ length: 10_000 }, (_, i) =>
      approvedGrant({
        id: `g_${i}`,
        connectionId: i % 2 ? "c_other" : "c_1",
        status: i < 9_999 ? "expired" : "approved",
      }),
    );
    const decision = decide(many, call("github", "read"), "c_other", NOW);
    expect(decision.allow && decision.grant?.id).toBe("g_9999");
  });
});
