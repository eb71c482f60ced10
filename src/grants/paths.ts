/**
 * The path an API will route, not the path as spelled. A WHATWG-parsed pathname is decoded
 * exactly once and re-encoded in one canonical spelling; that spelling is what every path rule
 * matches and what is sent, so the judged path and the sent path are the same string.
 *
 * Servers disagree about paths: nginx, Tomcat, IIS and many frameworks decode %XX (some twice),
 * treat `\` as `/`, drop `;params` and resolve `..` after decoding. Any path on which two such
 * servers could disagree is ambiguous and refused with `ambiguous_path`, for built-in and
 * custom providers alike. Refusal, not "write": a write grant or a one-call approval would
 * still send a call whose routed path differs from the one the person saw. Pure.
 */
import { hasControlCharacters } from "../lib/text";

export type PathVerdict = { ok: true; path: string } | { ok: false; code: "ambiguous_path"; why: string };

/** WHATWG's path percent-encode set (controls and space too), plus `%` itself. */
const MUST_ENCODE = '"#%<>?`{} ';
/** Decoded characters that could split or join a segment on some server (controls cut it). */
const SEGMENT_BREAKERS = /[/\\;]/;
/** Characters that fold to a breaker (fullwidth solidus, one-dot leader…) under NFKC. */
const FOLDED_BREAKERS = /[/\\;.%]/;

const ambiguous = (why: string): PathVerdict => ({ ok: false, code: "ambiguous_path", why });

/**
 * Decode a WHATWG pathname once and re-encode it canonically (`/v%32/caf%c3%a9` →
 * `/v2/caf%C3%A9`), or say why the path is ambiguous.
 */
export function canonicalPath(pathname: string): PathVerdict {
  if (!pathname.startsWith("/")) return ambiguous("does not start with /");
  if (pathname.includes("\\")) return ambiguous("backslash");
  if (pathname.includes(";")) return ambiguous("path parameter (;)");
  if (/%(?![0-9A-Fa-f]{2})/.test(pathname)) return ambiguous("malformed percent-encoding");
  if (/%(2f|5c|2e)/i.test(pathname)) return ambiguous("encoded /, \\ or .");
  const segments = pathname.slice(1).split("/");
  const out: string[] = [];
  for (const [index, raw] of segments.entries()) {
    const last = index === segments.length - 1;
    // One trailing slash (`/organizations/`) is an ordinary REST spelling; `//` anywhere is not.
    if (raw === "" && !(last && index > 0)) {
      if (segments.length === 1) break;
      return ambiguous("empty segment");
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      return ambiguous("percent-encoding that is not UTF-8");
    }
    if (decoded === "." || decoded === "..") return ambiguous("dot segment");
    if (SEGMENT_BREAKERS.test(decoded) || hasControlCharacters(decoded))
      return ambiguous("encoded control or separator");
    // A server that decodes twice would see a second layer: `%252F` is `/` to it.
    if (/%[0-9A-Fa-f]{2}/.test(decoded)) return ambiguous("double percent-encoding");
    const folded = decoded.normalize("NFKC");
    if (folded !== decoded && (FOLDED_BREAKERS.test(folded) || folded === "." || folded === "..")) {
      return ambiguous("character that folds to a separator");
    }
    out.push(encodeSegment(decoded));
  }
  return { ok: true, path: `/${out.join("/")}` };
}

/** The decoded form of a canonical path, for display beside the path as sent. */
export function decodedPath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function encodeSegment(segment: string): string {
  let out = "";
  for (const char of segment) {
    const code = char.charCodeAt(0);
    if (code > 0x20 && code < 0x7f && !MUST_ENCODE.includes(char)) out += char;
    else out += encodeURIComponent(char);
  }
  return out;
}
