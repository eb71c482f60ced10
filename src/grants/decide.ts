/**
 * The decision: may this call run, and under which grant or standing rule? Pure: no `this`, no
 * I/O, no clock. Given one connection's grants, the person's standing rules and a classified
 * call, it allows via exactly one grant or rule, or denies with a reason code. A grant only ever
 * serves the MCP client connection that asked for it; a rule serves its connection or all.
 *
 * Order: a live never rule covering the call refuses first (`refused_by_rule`), whatever is
 * granted; then grants decide as they always have; only when no grant allows does a live allow
 * rule let the call run. With `requestId`, only that grant can allow (rules still refuse).
 */
import { allowRuleFor, neverRuleFor, type StandingRule } from "./standing-rules";
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
  | "call_mismatch"
  | "refused_by_rule";

export type Decision =
  | { allow: true; grant: Grant; consume: boolean; rule?: undefined }
  | { allow: true; rule: StandingRule; grant?: undefined; consume: false }
  | { allow: false; reason: DenyReason; rule?: StandingRule };

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
 * Decide a call. A never rule refuses first. With `requestId`, only that grant can allow it.
 * Without, a live broad grant covering the provider and access level wins; else a live call
 * grant for this exact call; else a live allow rule on the provider at the call's level.
 */
export function decide(
  grants: readonly Grant[],
  call: ClassifiedCall,
  connectionId: string,
  now: number,
  requestId?: string,
  rules: readonly StandingRule[] = [],
): Decision {
  const never = neverRuleFor(rules, [call.provider], call.access, connectionId, now);
  if (never) return { allow: false, reason: "refused_by_rule", rule: never };
  const byGrant = decideByGrants(grants, call, connectionId, now, requestId);
  if (byGrant.allow || requestId !== undefined) return byGrant;
  const allow = allowRuleFor(rules, call.provider, call.access, connectionId, now);
  return allow ? { allow: true, rule: allow, consume: false } : byGrant;
}

function decideByGrants(
  grants: readonly Grant[],
  call: ClassifiedCall,
  connectionId: string,
  now: number,
  requestId: string | undefined,
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
