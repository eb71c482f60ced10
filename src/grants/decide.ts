/**
 * The decision: may this call run, and under which grant? Pure: no `this`, no I/O, no clock.
 * Given one connection's grants and a classified call, it allows via exactly one grant or denies
 * with a reason code. A grant only ever serves the MCP client connection that asked for it.
 */
import { effectiveStatus, isLive } from "./transitions";
import type { ClassifiedCall, Grant } from "./types";

export type DenyReason =
  | "no_grant"
  | "not_found"
  | "pending"
  | "denied"
  | "expired"
  | "consumed"
  | "revoked"
  | "wrong_provider"
  | "read_only"
  | "call_mismatch";

export type Decision = { allow: true; grant: Grant; consume: boolean } | { allow: false; reason: DenyReason };

const covers = (grant: Grant, call: ClassifiedCall) =>
  grant.kind === "broad" &&
  grant.providers.includes(call.provider) &&
  (call.access === "read" || grant.level === "write");

function explicit(grant: Grant | undefined, call: ClassifiedCall, connectionId: string, now: number): Decision {
  if (!grant) return { allow: false, reason: "not_found" };
  if (grant.connectionId !== connectionId) return { allow: false, reason: "not_found" };
  const status = effectiveStatus(grant, now);
  if (status !== "approved") return { allow: false, reason: status };
  if (grant.kind === "call") {
    if (grant.callFingerprint !== call.fingerprint) return { allow: false, reason: "call_mismatch" };
    return { allow: true, grant, consume: true };
  }
  if (!grant.providers.includes(call.provider)) return { allow: false, reason: "wrong_provider" };
  if (call.access === "write" && grant.level !== "write") return { allow: false, reason: "read_only" };
  return { allow: true, grant, consume: false };
}

/**
 * Decide a call. With `requestId`, only that grant can allow it. Without, a live broad grant
 * covering the provider and access level wins; else a live call grant for this exact call.
 */
export function decide(
  grants: readonly Grant[],
  call: ClassifiedCall,
  connectionId: string,
  now: number,
  requestId?: string,
): Decision {
  if (requestId !== undefined) {
    return explicit(
      grants.find((grant) => grant.id === requestId),
      call,
      connectionId,
      now,
    );
  }
  const live = grants.filter((grant) => grant.connectionId === connectionId && isLive(grant, now));
  const broad = live.find((grant) => covers(grant, call));
  if (broad) return { allow: true, grant: broad, consume: false };
  const exact = live.find((grant) => grant.kind === "call" && grant.callFingerprint === call.fingerprint);
  if (exact) return { allow: true, grant: exact, consume: true };
  if (live.some((grant) => grant.kind === "broad" && grant.providers.includes(call.provider))) {
    return { allow: false, reason: "read_only" };
  }
  if (live.some((grant) => grant.kind === "broad")) return { allow: false, reason: "wrong_provider" };
  return { allow: false, reason: "no_grant" };
}
