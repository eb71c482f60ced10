/**
 * "+15 min": the person gives a live broad grant more time from /activity. Pure: no `this`, no
 * I/O, no clock (`now` is passed in, in ms); the session persists and audits the result.
 *
 * Invariants: the new end is never past `maxDurationSeconds` from now (GRANT_MAX_MINUTES), so
 * pressing the button repeatedly cannot build up more authority than one approval could give;
 * only a live broad grant is extended (a call grant is one exact call, approved as such); a
 * gain under a minute is refused (`at_limit`) rather than written as a no-op.
 */
import { err, ok, type Result } from "../lib/result";
import { isLive } from "./transitions";
import type { Grant, GrantPolicy } from "./types";

/** How far "+15 min" moves a live grant's end. */
export const EXTEND_STEP_MS = 15 * 60_000;
/** Below this gain, "+15 min" is refused as `at_limit`. */
export const EXTEND_MIN_GAIN_MS = 60_000;

export type ExtendError = { code: "not_live" } | { code: "not_extendable" } | { code: "at_limit" };

/** The grant with its end moved EXTEND_STEP_MS later, capped at the policy's maximum from `now`. */
export function extend<T extends Grant>(grant: T, policy: GrantPolicy, now: number): Result<T, ExtendError> {
  if (!isLive(grant, now)) return err({ code: "not_live" });
  if (grant.kind !== "broad" || grant.expiresAt === null || grant.decidedAt === null) {
    return err({ code: "not_extendable" });
  }
  const expiresAt = Math.min(grant.expiresAt + EXTEND_STEP_MS, now + policy.maxDurationSeconds * 1000);
  if (expiresAt - grant.expiresAt < EXTEND_MIN_GAIN_MS) return err({ code: "at_limit" });
  // The approved duration follows the end, so `expires_at = decided_at + duration` still holds.
  return ok({ ...grant, expiresAt, durationSeconds: Math.ceil((expiresAt - grant.decidedAt) / 1000) });
}
