/**
 * How a grant is shown to the assistant: the same shape in whoami, check_access_request and
 * revoke_access, with times as ISO strings and seconds left computed from the clock.
 */
import * as z from "zod";
import { secondsLeft } from "../grants/transitions";
import type { Grant } from "../grants/types";
import { iso } from "./tool-result";

export const GrantView = z.object({
  request_id: z.string(),
  kind: z.enum(["broad", "call"]),
  status: z.enum(["pending", "approved", "denied", "expired", "consumed", "revoked"]),
  level: z.enum(["read", "write"]).nullable(),
  providers: z.array(z.string()),
  call: z.object({ method: z.string(), url: z.string() }).nullable(),
  pending_expires_at: z.string(),
  expires_at: z.string().nullable(),
  seconds_left: z.number(),
  note: z.string().nullable(),
});

export type GrantViewType = z.infer<typeof GrantView>;

/** The assistant's view of a grant at `now`. */
export function viewGrant(grant: Grant, now: number): GrantViewType {
  return {
    request_id: grant.id,
    kind: grant.kind,
    status: grant.status,
    level: grant.level ?? (grant.status === "pending" ? grant.requestedLevel : null),
    providers: grant.status === "pending" ? grant.requestedProviders : grant.providers,
    call: grant.call ? { method: grant.call.method, url: grant.call.url } : null,
    pending_expires_at: iso(grant.pendingExpiresAt) as string,
    expires_at: iso(grant.expiresAt),
    seconds_left: secondsLeft(grant, now),
    note: grant.note,
  };
}

/** One line a person or assistant can read. */
export function describeGrant(view: GrantViewType): string {
  const what =
    view.kind === "call" && view.call
      ? `one ${view.call.method} ${view.call.url}`
      : `${view.level ?? "?"} access to ${view.providers.join(", ")}`;
  const time = view.status === "approved" ? `, ${view.seconds_left}s left` : "";
  return `${view.request_id}: ${view.status}: ${what}${time}`;
}
