/** Every grant state transition, with the clock passed in. */
import { describe, expect, it } from "vitest";
import {
  type ApprovalInput,
  approve,
  consume,
  deny,
  effectiveStatus,
  expire,
  nextDeadline,
  revoke,
  secondsLeft,
} from "../../../src/grants/transitions";
import type { GrantStatus } from "../../../src/grants/types";
import { approvedGrant, POLICY, pendingGrant, T0 } from "../../helpers/grant-fixtures";

const approval: ApprovalInput = { providers: ["github"], level: "read", durationSeconds: 900, note: "only repo x" };

describe("effectiveStatus", () => {
  it.each([
    ["pending before its TTL", pendingGrant(), T0 + 599_999, "pending"],
    ["pending at its TTL", pendingGrant(), T0 + 600_000, "expired"],
    ["approved before expiry", approvedGrant(), T0 + 300_999, "approved"],
    ["approved at expiry", approvedGrant(), T0 + 301_000, "expired"],
    ["denied long after", pendingGrant({ status: "denied" }), T0 + 10 ** 9, "denied"],
    ["consumed", approvedGrant({ status: "consumed" }), T0, "consumed"],
  ] as const)("%s → %s", (_label, grant, now, status) => {
    expect(effectiveStatus(grant, now)).toBe(status);
  });
});

describe("approve", () => {
  it("narrows providers and level, and starts the clock at approval", () => {
    const result = approve(pendingGrant(), approval, POLICY, T0 + 60_000);
    expect(result.ok && result.value).toMatchObject({
      status: "approved",
      providers: ["github"],
      level: "read",
      durationSeconds: 900,
      note: "only repo x",
      decidedAt: T0 + 60_000,
      expiresAt: T0 + 60_000 + 900_000,
    });
  });

  it("accepts the requested duration even when it is not one of the choices", () => {
    const grant = pendingGrant({ requestedDurationSeconds: 420 });
    expect(approve(grant, { ...approval, durationSeconds: 420 }, POLICY, T0).ok).toBe(true);
  });

  const refused: [string, Parameters<typeof approve>[0], Partial<ApprovalInput>, string][] = [
    ["a provider that was not asked for", pendingGrant(), { providers: ["github", "slack"] }, "widened"],
    ["no provider", pendingGrant(), { providers: [] }, "no_providers"],
    ["write when read was asked", pendingGrant({ requestedLevel: "read" }), { level: "write" }, "widened"],
    ["a level that does not exist", pendingGrant(), { level: "admin" as "read" }, "widened"],
    ["a duration off the list", pendingGrant(), { durationSeconds: 901 }, "widened"],
    ["a duration over the cap", pendingGrant({ requestedDurationSeconds: 7200 }), { durationSeconds: 7200 }, "widened"],
    [
      "a call grant at another level",
      pendingGrant({ kind: "call", requestedLevel: "write" }),
      { level: "read" },
      "widened",
    ],
  ];
  for (const [label, grant, change, code] of refused) {
    it(`refuses ${label}`, () => {
      const result = approve(grant, { ...approval, ...change }, POLICY, T0);
      expect(!result.ok && result.error.code).toBe(code);
    });
  }

  it.each(["approved", "denied", "consumed", "revoked", "expired"] as GrantStatus[])(
    "refuses a %s grant without changing it",
    (status) => {
      const grant = pendingGrant({ status });
      const result = approve(grant, approval, POLICY, T0);
      expect(result.ok).toBe(false);
      expect(grant.status).toBe(status);
    },
  );

  it("refuses after the pending TTL with expired", () => {
    const result = approve(pendingGrant(), approval, POLICY, T0 + 600_000);
    expect(!result.ok && result.error.code).toBe("expired");
  });
});

describe("deny, revoke, consume, expire", () => {
  it("denies a pending request with the note", () => {
    const result = deny(pendingGrant(), "no", T0 + 5);
    expect(result.ok && result.value).toMatchObject({ status: "denied", note: "no", endedAt: T0 + 5 });
  });

  it("does not deny twice or after expiry", () => {
    expect(deny(pendingGrant({ status: "denied" }), null, T0).ok).toBe(false);
    const late = deny(pendingGrant(), null, T0 + 600_000);
    expect(!late.ok && late.error.code).toBe("expired");
  });

  it("revokes pending and approved grants only", () => {
    expect(revoke(pendingGrant(), T0).ok).toBe(true);
    expect(revoke(approvedGrant(), T0).ok).toBe(true);
    for (const status of ["denied", "consumed", "revoked", "expired"] as GrantStatus[]) {
      expect(revoke(approvedGrant({ status }), T0).ok).toBe(false);
    }
    expect(revoke(approvedGrant(), T0 + 301_000).ok).toBe(false);
  });

  it("consumes a live call grant once, never a broad one", () => {
    const call = approvedGrant({ kind: "call" });
    const used = consume(call, T0 + 2000);
    expect(used.ok && used.value.status).toBe("consumed");
    expect(used.ok && consume(used.value, T0 + 2001).ok).toBe(false);
    expect(consume(approvedGrant(), T0).ok).toBe(false);
    expect(consume(call, T0 + 301_000).ok).toBe(false);
  });

  it("expires only what is due, recording when it ended", () => {
    expect(expire(pendingGrant(), T0)).toBeNull();
    expect(expire(pendingGrant(), T0 + 700_000)).toMatchObject({ status: "expired", endedAt: T0 + 600_000 });
    expect(expire(approvedGrant(), T0 + 400_000)).toMatchObject({ status: "expired", endedAt: T0 + 301_000 });
    expect(expire(approvedGrant({ status: "expired" }), T0 + 400_000)).toBeNull();
  });
});

describe("timing helpers", () => {
  it("counts seconds left and the next deadline", () => {
    expect(secondsLeft(approvedGrant(), T0 + 1000)).toBe(300);
    expect(secondsLeft(approvedGrant(), T0 + 300_500)).toBe(1);
    expect(secondsLeft(approvedGrant(), T0 + 301_000)).toBe(0);
    expect(secondsLeft(pendingGrant(), T0)).toBe(0);
    expect(nextDeadline(pendingGrant())).toBe(T0 + 600_000);
    expect(nextDeadline(approvedGrant())).toBe(T0 + 301_000);
    expect(nextDeadline(approvedGrant({ status: "denied" }))).toBeNull();
  });
});
