/**
 * The single gate for every URL an upstream MCP server or its authorization server hands us:
 * the server URL, resource metadata URL, issuer, and the authorization, token, registration and
 * revocation endpoints. Pure: no I/O, no DNS, no clock.
 *
 * Invariants: a URL that passes is https (or http to a loopback host when the caller explicitly
 * allows dev loopback), names a public host by `classifyHost` (private and metadata never), has
 * no userinfo and no fragment, and its raw text holds no shell syntax or control characters.
 * The raw-text check exists because of CVE-2025-6514 (mcp-remote passed a hostile
 * `authorization_endpoint` to a shell), and because WHATWG URL silently strips tabs and
 * newlines, so checking only the parsed form would let them through to a log line or a link.
 */

import type { ErrorCode } from "../../lib/errors";
import { err, ok, type Result } from "../../lib/result";
import { classifyHost } from "../../providers/ssrf";

export const MAX_ENDPOINT_LENGTH = 2048;

export type EndpointErrorCode = ErrorCode<"endpoint">;

export interface EndpointError {
  code: EndpointErrorCode;
}

export interface EndpointOptions {
  /** Dev only: accept http and https to loopback hosts (localhost, 127.0.0.1, [::1]). */
  allowLoopback: boolean;
}

/**
 * Quotes, angle brackets, backslash (WHATWG reads it as "/"), backtick, `;`, `|`, and the
 * invisible or bidi-reordering characters used to disguise a link; plus the multi-character
 * shell forms `$(`, `${` and `&&` (a lone `$` or `&` is ordinary URL text: `?a=1&b=2`).
 */
const UNSAFE_TEXT =
  /["'`<>\\;|\u00ad\u061c\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff]|\$\(|\$\{|&&/u;

/** C0 controls, space, DEL, C1 controls and no-break space. */
function hasControlOrSpace(raw: string): boolean {
  for (let i = 0; i < raw.length; i++) {
    const char = raw.charCodeAt(i);
    if (char <= 0x20 || (char >= 0x7f && char <= 0xa0)) return true;
  }
  return false;
}

const fail = (code: EndpointErrorCode) => err<EndpointError>({ code });

/** Parse and vet one upstream-supplied URL; the returned URL is the only form callers may use. */
export function parseEndpoint(raw: unknown, options: EndpointOptions): Result<URL, EndpointError> {
  if (typeof raw !== "string" || raw === "" || raw.length > MAX_ENDPOINT_LENGTH) return fail("invalid_url");
  if (hasControlOrSpace(raw) || UNSAFE_TEXT.test(raw)) return fail("unsafe_characters");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail("invalid_url");
  }
  const host = classifyHost(url.hostname);
  const loopbackAllowed = options.allowLoopback && host === "loopback";
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopbackAllowed)) return fail("scheme_not_allowed");
  // "https://@host/" has an empty username but still carries the userinfo delimiter.
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(raw)?.[1] ?? "";
  if (url.username !== "" || url.password !== "" || authority.includes("@")) return fail("userinfo_present");
  // An empty fragment ("…/#") serialises to hash "", so look at the raw text too.
  if (url.hash !== "" || raw.includes("#")) return fail("fragment_present");
  if (host !== "public" && !loopbackAllowed) return fail("address_not_allowed");
  return ok(url);
}
