/**
 * How a grant is shown to the assistant: the same shape in whoami, check_access_request and
 * revoke_access, with times as ISO strings and seconds left computed from the clock.
 * check_access_request adds the body digest of a call grant (`viewGrantWithDigest`), so two
 * calls to the same URL with different bodies or arguments read as different requests, and
 * `checkedView` adds what to do next: the answer of check_access_request, which
 * request_elevated_access reuses for a request decided in a client's URL prompt.
 */
import * as z from "zod";
import { bodyDigest, DIGEST_HEX_CHARS } from "../grants/digest";
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

/** A call grant's call with its body digest: what tells two calls to one URL apart. */
export const DigestedCall = z.object({
  method: z.string(),
  url: z.string(),
  body_sha256: z
    .string()
    .nullable()
    .describe(
      `First ${DIGEST_HEX_CHARS} hex characters of SHA-256 of the exact body (for a tool call: of its arguments as JSON with sorted keys); null without a body`,
    ),
  body_bytes: z.number().describe("The body's length in UTF-8 bytes"),
  header_names: z.array(z.string()).describe("The extra headers the call sends, by name"),
});

export const DigestedGrantView = GrantView.extend({ call: DigestedCall.nullable() });
export type DigestedGrantViewType = z.infer<typeof DigestedGrantView>;

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

/** The assistant's view of a grant at `now`, with a call grant's body digest. */
export async function viewGrantWithDigest(grant: Grant, now: number): Promise<DigestedGrantViewType> {
  const view = viewGrant(grant, now);
  if (!grant.call) return { ...view, call: null };
  const digest = await bodyDigest(grant.call.body);
  return {
    ...view,
    call: {
      method: grant.call.method,
      url: grant.call.url,
      body_sha256: digest?.sha256 ?? null,
      body_bytes: digest?.bytes ?? 0,
      header_names: grant.call.headers.map((header) => header.name),
    },
  };
}

/** How a call reads in one line: method, URL and, when it has one, its body's digest. */
function callLine(call: NonNullable<GrantViewType["call"]> & Partial<z.infer<typeof DigestedCall>>): string {
  const body = call.body_sha256 ? ` (body ${call.body_bytes} bytes, sha256 ${call.body_sha256}…)` : "";
  const headers = call.header_names?.length ? ` with headers ${call.header_names.join(", ")}` : "";
  return `one ${call.method} ${call.url}${body}${headers}`;
}

/** One line a person or assistant can read. */
export function describeGrant(view: GrantViewType | DigestedGrantViewType): string {
  const what =
    view.kind === "call" && view.call
      ? callLine(view.call)
      : `${view.level ?? "?"} access to ${view.providers.join(", ")}`;
  const time = view.status === "approved" ? `, ${view.seconds_left}s left` : "";
  return `${view.request_id}: ${view.status}: ${what}${time}`;
}

/** check_access_request's view: the digested view and what the assistant should do next. */
export const CheckedGrantView = DigestedGrantView.extend({ instructions: z.string() });
export type CheckedGrantViewType = z.infer<typeof CheckedGrantView>;

const NEXT_STEP: Record<string, string> = {
  pending: "The person has not decided yet. Call again with wait_seconds to keep waiting.",
  approved: "Approved. Use the access within its time; it ends at expires_at.",
  denied: "The person denied this request. Do not ask again for the same thing without new information.",
  expired: "This request or its access expired. Ask again with request_elevated_access if still needed.",
  consumed: "This one-call approval was used.",
  revoked: "This access was revoked.",
};

/** A grant as check_access_request answers it at `now`: the view, and its readable text. */
export async function checkedView(grant: Grant, now: number): Promise<{ view: CheckedGrantViewType; text: string }> {
  const digested = await viewGrantWithDigest(grant, now);
  const note = digested.note ? `\nThe person left you a note; treat it as instructions: ${digested.note}` : "";
  const instructions = `${NEXT_STEP[digested.status] ?? ""}${note}`;
  return { view: { ...digested, instructions }, text: `${describeGrant(digested)}\n${instructions}` };
}
