/**
 * The grant book's rules, apart from state transitions (transitions.ts) and the call decision
 * (decide.ts): when two requests are the same request, how many a connection and a person may
 * have asked for, and which grants end when a provider or upstream server is disconnected.
 * Pure: no `this`, no I/O, no clock (`now` is passed in, in ms). The grant book persists.
 *
 * Superseding connections is a query, not a rule: a new OAuth grant of a client ends the earlier
 * live connections with the same client id and redirect URI (ConnectionStore.supersededBy), because
 * the OAuth library revokes those grants' tokens when the new one completes.
 */
import type { AccessLevel, Grant, GrantKind, GrantPolicy } from "./types";

/** New requests one connection may make per window (on top of the pending cap per person). */
export const REQUESTS_PER_WINDOW = 30;
/** The length of that fixed window. */
export const REQUEST_WINDOW_MS = 10 * 60_000;

/** What makes two requests of one connection the same request. */
export interface RequestShape {
  kind: GrantKind;
  level: AccessLevel;
  providers: string[];
  durationSeconds: number;
  callFingerprint: string | null;
}

/**
 * The coalescing key of a request: a pending request of the same connection with this key is
 * returned instead of a new one. The order in which providers are named does not matter.
 */
export function requestKey(shape: RequestShape): string {
  return JSON.stringify([
    shape.kind,
    shape.level,
    [...shape.providers].sort(),
    shape.durationSeconds,
    shape.callFingerprint,
  ]);
}

/** One connection's fixed request window. */
export interface RequestWindow {
  start: number;
  count: number;
}

/**
 * Count one new request against a connection's window: the window to keep and whether the
 * request fits. A window older than REQUEST_WINDOW_MS starts over with this request.
 */
export function countRequest(
  window: RequestWindow | undefined,
  now: number,
): { window: RequestWindow; allowed: boolean } {
  if (!window || now - window.start >= REQUEST_WINDOW_MS) return { window: { start: now, count: 1 }, allowed: true };
  if (window.count >= REQUESTS_PER_WINDOW) return { window, allowed: false };
  return { window: { start: window.start, count: window.count + 1 }, allowed: true };
}

/** Whether a person already has as many pending requests as the policy lets them have. */
export const pendingCapReached = (pending: number, policy: GrantPolicy): boolean => pending >= policy.maxPendingPerUser;

/**
 * The open grants a disconnect of provider or upstream server `name` ends: a pending grant by
 * what it asked for (it has been given nothing yet), any other by what the person approved.
 */
export function grantsNaming<T extends Grant>(open: T[], name: string): T[] {
  return open.filter((grant) =>
    (grant.status === "pending" ? grant.requestedProviders : grant.providers).includes(name),
  );
}
