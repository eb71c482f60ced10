/**
 * How often /mcp records a connection's "last used" time in the person's object: at most once a
 * minute per connection from each isolate (this in-memory throttle), and the object itself
 * writes at most once a minute however many isolates ask (`ConnectionStore.touch`). "Last used"
 * is therefore up to a minute old; nothing decides access from it.
 */
import { LAST_SEEN_INTERVAL_MS } from "../session/connection-store";

/** Connections remembered per isolate; past this the memory starts over (a few extra writes). */
const MAX_REMEMBERED = 10_000;

const touchedAt = new Map<string, number>();

/**
 * Whether this request should record "last used" for `connectionId`; when it should, the time
 * is remembered, so the next requests within the interval do not.
 */
export function shouldRecordLastSeen(connectionId: string, now: number): boolean {
  const last = touchedAt.get(connectionId);
  if (last !== undefined && now - last < LAST_SEEN_INTERVAL_MS && now >= last) return false;
  if (touchedAt.size >= MAX_REMEMBERED) touchedAt.clear();
  touchedAt.set(connectionId, now);
  return true;
}

/** Forget every remembered time (tests). */
export function forgetLastSeen(): void {
  touchedAt.clear();
}
