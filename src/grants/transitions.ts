/**
 * Grant state transitions. Pure: no `this`, no I/O, no clock (`now` is passed in, in ms).
 * Every function returns a new grant or a tagged failure; the Durable Object persists the result.
 * The clock is always consulted: a grant whose time has passed is expired whether or not the
 * alarm has run yet.
 */
import type { Coded } from "../lib/errors";
import { err, ok, type Result } from "../lib/result";
import type { AccessLevel, Grant, GrantPolicy, GrantStatus } from "./types";

export type TransitionError =
  | Coded<"transition", "not_pending", { status: GrantStatus }>
  | Coded<"transition", "expired">
  | Coded<"transition", "not_live", { status: GrantStatus }>
  | Coded<"transition", "widened", { field: "providers" | "level" | "duration" }>
  | Coded<"transition", "no_providers">;

/** The status at `now`, with the clock applied. */
export function effectiveStatus(grant: Grant, now: number): GrantStatus {
  if (grant.status === "pending" && now >= grant.pendingExpiresAt) return "expired";
  if (grant.status === "approved" && grant.expiresAt !== null && now >= grant.expiresAt) return "expired";
  return grant.status;
}

/** Whether the grant gives authority at `now`. */
export const isLive = (grant: Grant, now: number) => effectiveStatus(grant, now) === "approved";

/** Seconds of authority left at `now` (0 when not live). */
export function secondsLeft(grant: Grant, now: number): number {
  if (!isLive(grant, now) || grant.expiresAt === null) return 0;
  return Math.max(0, Math.ceil((grant.expiresAt - now) / 1000));
}

export interface ApprovalInput {
  providers: string[];
  level: AccessLevel;
  durationSeconds: number;
  note: string | null;
}

/** The human approves, possibly narrower than asked; never wider. The clock starts now. */
export function approve(
  grant: Grant,
  input: ApprovalInput,
  policy: GrantPolicy,
  now: number,
): Result<Grant, TransitionError> {
  const status = effectiveStatus(grant, now);
  if (status === "expired") return err({ code: "expired" });
  if (status !== "pending") return err({ code: "not_pending", status });
  const providers = [...new Set(input.providers)];
  if (providers.length === 0) return err({ code: "no_providers" });
  if (!providers.every((provider) => grant.requestedProviders.includes(provider))) {
    return err({ code: "widened", field: "providers" });
  }
  if (input.level !== "read" && input.level !== "write") return err({ code: "widened", field: "level" });
  if (input.level === "write" && grant.requestedLevel === "read") return err({ code: "widened", field: "level" });
  if (grant.kind === "call" && input.level !== grant.requestedLevel) return err({ code: "widened", field: "level" });
  const allowed = new Set([...policy.durationChoices, grant.requestedDurationSeconds]);
  if (!allowed.has(input.durationSeconds) || input.durationSeconds > policy.maxDurationSeconds) {
    return err({ code: "widened", field: "duration" });
  }
  return ok({
    ...grant,
    status: "approved",
    providers: providers.sort(),
    level: input.level,
    durationSeconds: input.durationSeconds,
    note: input.note,
    decidedAt: now,
    expiresAt: now + input.durationSeconds * 1000,
  });
}

/** The human denies a pending request. */
export function deny(grant: Grant, note: string | null, now: number): Result<Grant, TransitionError> {
  const status = effectiveStatus(grant, now);
  if (status === "expired") return err({ code: "expired" });
  if (status !== "pending") return err({ code: "not_pending", status });
  return ok({ ...grant, status: "denied", note, decidedAt: now, endedAt: now });
}

/** Withdraw a pending request or end live authority early. */
export function revoke(grant: Grant, now: number): Result<Grant, TransitionError> {
  const status = effectiveStatus(grant, now);
  if (status !== "pending" && status !== "approved") return err({ code: "not_live", status });
  return ok({ ...grant, status: "revoked", endedAt: now });
}

/** Use up a call grant. Called before the outbound call starts, never after. */
export function consume(grant: Grant, now: number): Result<Grant, TransitionError> {
  const status = effectiveStatus(grant, now);
  if (status !== "approved" || grant.kind !== "call") return err({ code: "not_live", status });
  return ok({ ...grant, status: "consumed", endedAt: now });
}

/** Record expiry of a grant whose time has passed; null when it has not. */
export function expire(grant: Grant, now: number): Grant | null {
  if (effectiveStatus(grant, now) !== "expired" || grant.status === "expired") return null;
  const end = grant.status === "pending" ? grant.pendingExpiresAt : (grant.expiresAt ?? now);
  return { ...grant, status: "expired", endedAt: end };
}

/** When this grant next needs the alarm: pending or authority expiry; null when final. */
export function nextDeadline(grant: Grant): number | null {
  if (grant.status === "pending") return grant.pendingExpiresAt;
  if (grant.status === "approved") return grant.expiresAt;
  return null;
}
