/**
 * `return_to` handling: after sign-in we only ever send the browser to a path on our own origin.
 * Absolute URLs, protocol-relative `//host`, backslash tricks and control characters are refused.
 */
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
