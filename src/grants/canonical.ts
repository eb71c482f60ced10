/**
 * Canonical form of one outbound call, so a request grant matches only the identical call.
 * The URL is parsed once with WHATWG URL and the parsed form is what is stored, shown and later
 * fetched. Pure apart from hashing.
 */
import { sha256Hex } from "../lib/crypto";
import { err, ok, type Result } from "../lib/result";
import type { CanonicalCall } from "./types";

export type CallError =
  | { code: "method_invalid" }
  | { code: "url_invalid" }
  | { code: "scheme_not_https" }
  | { code: "userinfo_present" }
  | { code: "port_not_default" }
  | { code: "fragment_present" }
  | { code: "body_not_allowed" }
  | { code: "header_forbidden"; header: string }
  | { code: "header_invalid" };

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]);
/** Headers the agent can never set: credentials, routing and framing are ours alone. */
export const FORBIDDEN_HEADERS = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "te",
  "upgrade",
  "x-api-key",
  "api-key",
  "x-auth-token",
]);

export interface RawCall {
  method: string;
  url: string;
  body?: string | undefined;
  headers?: Record<string, string> | undefined;
}

export interface CanonicalizeOptions {
  /**
   * The exact origin of an explicitly enabled loopback dev provider (`http://127.0.0.1:8788`):
   * only a URL on that origin may use http or a non-default port.
   */
  devOrigin?: string;
}

/** Canonicalise a call, or say precisely why it cannot be made. */
export function canonicalizeCall(raw: RawCall, options: CanonicalizeOptions = {}): Result<CanonicalCall, CallError> {
  const method = raw.method.trim().toUpperCase();
  if (!METHODS.has(method)) return err({ code: "method_invalid" });
  let url: URL;
  try {
    url = new URL(raw.url.trim());
  } catch {
    return err({ code: "url_invalid" });
  }
  const dev = options.devOrigin !== undefined && url.origin === options.devOrigin;
  if (url.protocol !== "https:" && !(dev && url.protocol === "http:")) return err({ code: "scheme_not_https" });
  if (url.username || url.password) return err({ code: "userinfo_present" });
  if (url.port !== "" && !dev) return err({ code: "port_not_default" });
  if (url.hash || raw.url.includes("#")) return err({ code: "fragment_present" });
  if (!url.hostname || url.hostname.endsWith(".")) return err({ code: "url_invalid" });
  const body = raw.body ?? "";
  if ((method === "GET" || method === "HEAD") && body !== "") return err({ code: "body_not_allowed" });
  const headers: { name: string; value: string }[] = [];
  for (const [name, value] of Object.entries(raw.headers ?? {})) {
    const lower = name.trim().toLowerCase();
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(lower) || /[\r\n\0]/.test(value)) return err({ code: "header_invalid" });
    if (FORBIDDEN_HEADERS.has(lower) || lower.startsWith("proxy-") || lower.startsWith("cf-")) {
      return err({ code: "header_forbidden", header: lower });
    }
    headers.push({ name: lower, value });
  }
  headers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return ok({ method, url: url.href, body, headers });
}

/** SHA-256 fingerprint of a canonical call: equal only for the identical call. */
export function fingerprintCall(call: CanonicalCall): Promise<string> {
  const headers = call.headers.map((header) => [header.name, header.value]);
  return sha256Hex(JSON.stringify([call.method, call.url, call.body, headers]));
}
