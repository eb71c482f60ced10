/** Grants for the pure-module tests: a pending request with sensible defaults. */
import { DEFAULT_POLICY, type Grant } from "../../src/grants/types";

export const T0 = 1_700_000_000_000;
export const POLICY = DEFAULT_POLICY;

export function pendingGrant(overrides: Partial<Grant> = {}): Grant {
  return {
    id: "req_1",
    kind: "broad",
    status: "pending",
    connectionId: "c_1",
    clientName: "Claude",
    reason: "triage issues",
    requestedLevel: "write",
    requestedProviders: ["github", "linear"],
    requestedDurationSeconds: 300,
    call: null,
    callFingerprint: null,
    level: null,
    providers: [],
    durationSeconds: null,
    note: null,
    requestedAt: T0,
    pendingExpiresAt: T0 + 600_000,
    decidedAt: null,
    expiresAt: null,
    endedAt: null,
    ...overrides,
  };
}

export function approvedGrant(overrides: Partial<Grant> = {}): Grant {
  return pendingGrant({
    status: "approved",
    level: "write",
    providers: ["github", "linear"],
    durationSeconds: 300,
    decidedAt: T0 + 1000,
    expiresAt: T0 + 301_000,
    ...overrides,
  });
}
