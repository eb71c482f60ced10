/**
 * The grant model, one shape for both kinds. A `broad` grant gives read or write authority on
 * chosen providers for a duration; a `call` grant allows one exact call, once. Each grant
 * belongs to one user (its Durable Object) AND one MCP client connection (OAuth grant): what
 * Claude was granted, Cursor cannot use.
 *
 *   pending ──approve──▶ approved ──consume (call)─────▶ consumed
 *      │                    ├──────clock──────────────▶ expired
 *      ├──deny──▶ denied    └──────revoke─────────────▶ revoked
 *      ├──clock─▶ expired
 *      └──revoke (withdrawn by the agent or the person)─▶ revoked
 */
export type GrantKind = "broad" | "call";
export type GrantStatus = "pending" | "approved" | "denied" | "expired" | "consumed" | "revoked";
export type AccessLevel = "read" | "write";

/** One exact outbound call, canonicalised so that any change makes it a different call. */
export interface CanonicalCall {
  method: string;
  /** WHATWG-serialised https URL: lower-case host, default port dropped, no userinfo or fragment. */
  url: string;
  /** The request body exactly as it will be sent ("" for none). */
  body: string;
  /** Agent-supplied headers that will be sent, lower-case names, sorted by name. */
  headers: { name: string; value: string }[];
}

export interface Grant {
  id: string;
  kind: GrantKind;
  status: GrantStatus;
  connectionId: string;
  clientName: string;
  reason: string;
  /** What the agent asked for. Broad: level + providers. Call: the call and its provider. */
  requestedLevel: AccessLevel;
  requestedProviders: string[];
  requestedDurationSeconds: number;
  call: CanonicalCall | null;
  /** SHA-256 of the canonical call (call grants) or null; how a call is matched. */
  callFingerprint: string | null;
  /** What the human approved: never wider than requested. */
  level: AccessLevel | null;
  providers: string[];
  durationSeconds: number | null;
  note: string | null;
  requestedAt: number;
  pendingExpiresAt: number;
  decidedAt: number | null;
  /** End of authority; set at approval (the clock starts then, not at the request). */
  expiresAt: number | null;
  endedAt: number | null;
}

/** A call the agent wants to make, as classified by the provider registry. */
export interface ClassifiedCall {
  provider: string;
  access: AccessLevel;
  call: CanonicalCall;
  fingerprint: string;
}

/** Limits that come from configuration. */
export interface GrantPolicy {
  pendingTtlSeconds: number;
  defaultDurationSeconds: number;
  maxDurationSeconds: number;
  /** The durations the human can pick from, in seconds (each ≤ max). */
  durationChoices: number[];
  maxPendingPerUser: number;
}

export const DEFAULT_POLICY: GrantPolicy = {
  pendingTtlSeconds: 10 * 60,
  defaultDurationSeconds: 5 * 60,
  maxDurationSeconds: 60 * 60,
  durationChoices: [5 * 60, 15 * 60, 30 * 60, 60 * 60],
  maxPendingPerUser: 20,
};
