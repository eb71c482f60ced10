/**
 * What a notification says about one pending access request: which client, what it asks, for how
 * long, and the approval link. Pure. The text comes partly from the assistant and the client's
 * registration, so hidden and direction-changing characters are shown as `[U+XXXX]` (a
 * notification is drawn by the phone, where a bidi mark could reorder "10 20 EUR") and every part
 * is clipped: a push message must fit in 3993 bytes. The notification only points to the page;
 * the decision is always made on the page that shows everything.
 */
import { showDuration } from "../approvals/display";
import type { Grant } from "../grants/types";
import { revealHidden } from "../lib/visible-text";

export interface RequestMessage {
  type: "access_request";
  request_id: string;
  client: string;
  /** One line: "read access to github, linear" or "one call: POST https://…". */
  asks: string;
  /** How long the access lasts once approved, e.g. "15 min". */
  for: string;
  reason: string;
  title: string;
  body: string;
  /** The approval link: tapping the notification opens it. */
  url: string;
  expires_at: string;
}

const shown = (text: string, max: number) => {
  const visible = revealHidden(text).replace(/\s+/g, " ").trim();
  return visible.length <= max ? visible : `${visible.slice(0, max - 1)}…`;
};

function asks(grant: Grant): string {
  if (grant.kind === "call" && grant.call) {
    const { method, url } = grant.call;
    if (method === "TOOL" && url.startsWith("mcp://")) {
      const [server, tool] = url.slice("mcp://".length).split("/");
      return `one call: tool ${decodeURIComponent(tool ?? "")} on ${server}`;
    }
    return `one call: ${method} ${url}`;
  }
  return `${grant.requestedLevel} access to ${grant.requestedProviders.join(", ")}`;
}

/** The message for `grant`, which must still be pending, with its approval link. */
export function requestMessage(grant: Grant, approvalUrl: string): RequestMessage {
  const client = shown(grant.clientName, 60);
  const what = shown(asks(grant), 300);
  const duration = showDuration(grant.requestedDurationSeconds);
  const reason = shown(grant.reason, 300);
  return {
    type: "access_request",
    request_id: grant.id,
    client,
    asks: what,
    for: duration,
    reason,
    title: `${client} asks for access`,
    body: `${what}, for ${duration}. “${reason}” Tap to review.`,
    url: approvalUrl,
    expires_at: new Date(grant.pendingExpiresAt).toISOString(),
  };
}
