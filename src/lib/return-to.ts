/**
 * `return_to` handling: after sign-in we only ever send the browser to a path on our own origin.
 * Absolute URLs, protocol-relative `//host`, backslash tricks and control characters are refused.
 * After connecting an account from an approval page, the only place to return to is an approval
 * link's exact shape (`parseApprovalReturn`); whose request it is, is checked by the caller.
 */
import type { ErrorCode } from "./errors";
import { err, ok, type Result } from "./result";
import { hasControlCharacters } from "./text";

/** Backslashes (read as "/" by browsers) and control characters have no place in a return path. */
const hasUnsafeCharacters = (raw: string) => raw.includes("\\") || hasControlCharacters(raw);

/** A same-origin path (with query) to return to, or `fallback` when `raw` is unsafe. */
export function safeReturnTo(raw: string | null | undefined, origin: string, fallback = "/"): string {
  if (!raw || raw.length > 4096 || !raw.startsWith("/") || raw.startsWith("//") || hasUnsafeCharacters(raw)) {
    return fallback;
  }
  try {
    const url = new URL(raw, origin);
    if (url.origin !== origin) return fallback;
    return `${url.pathname}${url.search}`;
  } catch {
    return fallback;
  }
}

/**
 * The one shape a connect form may return to: an approval link path exactly as
 * approvals/link.ts builds it, `/approve/req_<22 base64url>?t=<43 base64url>`. Nothing is
 * decoded or normalised first, so an encoded slash, a backslash, a lookalike letter, an extra
 * parameter or a fragment is simply not that shape.
 */
const APPROVAL_RETURN = /^\/approve\/(req_[A-Za-z0-9_-]{22})\?t=([A-Za-z0-9_-]{43})$/;

/** An approval page to come back to: its request id, its link token and its path. */
export interface ApprovalReturn {
  requestId: string;
  token: string;
  path: string;
}

/** The approval page `raw` names, or `return_to_invalid` for anything that is not exactly one. */
export function parseApprovalReturn(raw: unknown): Result<ApprovalReturn, ErrorCode<"approvalReturn">> {
  if (typeof raw !== "string" || raw.length > 100) return err("return_to_invalid");
  const match = APPROVAL_RETURN.exec(raw);
  const [, requestId, token] = match ?? [];
  if (!requestId || !token) return err("return_to_invalid");
  return ok({ requestId, token, path: `/approve/${requestId}?t=${token}` });
}
