/**
 * Approval links: PUBLIC_URL/approve/<id>?t=<token>. The token is an HMAC of the request id under
 * a key derived from COOKIE_SECRET: unguessable, re-derivable for a coalesced duplicate request,
 * and stored in the Durable Object only as its SHA-256. It is honoured only while the request is
 * pending (short lived) and only for its signed-in owner; the decision burns it (single use).
 * Never log a link or its token.
 */
import type { Config } from "../config";
import { mac, randomToken, sha256Hex } from "../lib/crypto";

/** A fresh, unguessable request id. */
export const newRequestId = () => `req_${randomToken(16)}`;

/** The link token for a request id. */
export const linkToken = (config: Config, id: string) => mac(config.cookieSecret, "approval-link", id);

/** What the Durable Object stores and compares: SHA-256 of the token. */
export const linkTokenHash = (token: string) => sha256Hex(token);

/** The approval link's path and query, on our own origin: what a page returns to. */
export async function approvalPath(config: Config, id: string): Promise<string> {
  return `/approve/${encodeURIComponent(id)}?${new URLSearchParams({ t: await linkToken(config, id) })}`;
}

/** The URL the person opens on their phone. */
export async function approvalUrl(config: Config, id: string): Promise<string> {
  return `${config.publicOrigin}${await approvalPath(config, id)}`;
}

/** CSRF token for a form about one request, bound to the signed-in user. */
export const csrfToken = (config: Config, userId: string, id: string) =>
  mac(config.cookieSecret, "approval-csrf", `${userId}\u0000${id}`);
