/**
 * Canonical form of one outbound call, so a call grant matches only the identical call.
 * The URL is parsed once with WHATWG URL, its path decoded once and re-encoded in one spelling
 * (paths.ts; an ambiguous path is refused), and that form is what is classified,
 * stored, shown and later fetched. Header names are case- and `_`-insensitive for the reserved
 * list, as CGI-style servers fold `X_Original_URL` into `X-Original-URL`. Pure apart from hashing.
 */
import { sha256Hex } from "../lib/crypto";
import type { Coded, ErrorCode } from "../lib/errors";
import { err, ok, type Result } from "../lib/result";
import { canonicalPath } from "./paths";
import type { CanonicalCall } from "./types";

/** Every `call` code; only `header_forbidden` names what it refused (a reserved name, never a value). */
export type CallError =
  | Coded<"call", Exclude<ErrorCode<"call">, "header_forbidden">>
  | Coded<"call", "header_forbidden", { header: string }>;

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]);
/**
 * Headers the agent can never set: credentials, routing and framing are ours alone. The one list
 * of reserved header names (lower case, `-` not `_`); `RESERVED_HEADER_PREFIXES` adds families.
 * Path overrides (X-Original-URL and kin) make a proxy or framework route another path than the
 * one judged and shown, so they are reserved like credentials.
 */
export const FORBIDDEN_HEADERS: ReadonlySet<string> = new Set([
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
  "forwarded",
  "x-original-url",
  "x-original-uri",
  "x-original-path",
  "x-rewrite-url",
  "x-override-url",
  "x-envoy-original-path",
  "x-envoy-original-url",
  "x-http-destinationurl",
  "x-proxy-url",
  "x-real-ip",
  "x-host",
  "x-middleware-subrequest",
]);
/** Families of reserved names: proxy credentials, Cloudflare's, forwarding and Envoy's routing headers. */
export const RESERVED_HEADER_PREFIXES: readonly string[] = ["proxy-", "cf-", "x-forwarded-", "x-envoy-"];

/**
 * A header name as a lenient server reads it: case folded, `_` read as `-` (CGI, WSGI and some
 * proxies do). Two names that fold alike are one header to such a server.
 */
export const foldHeaderName = (name: string): string => name.trim().toLowerCase().replaceAll("_", "-");

/** Whether the agent may not set this header, however it is spelled (case, `_` for `-`). */
export function isReservedHeader(name: string): boolean {
  const folded = foldHeaderName(name);
  return FORBIDDEN_HEADERS.has(folded) || RESERVED_HEADER_PREFIXES.some((prefix) => folded.startsWith(prefix));
}

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
  // WHATWG reads `\` as `/` and `%2e` as `.`; a server behind a lenient proxy may not. Refuse
  // both as typed rather than guess, even where WHATWG has already resolved them away.
  // (A host may be percent-encoded: WHATWG decodes and checks it, so only the path is looked at.)
  const beforeQuery = raw.url.trim().split("?")[0] ?? "";
  const typedPath = beforeQuery.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/\\]*/, "");
  if (beforeQuery.includes("\\") || /%2e/i.test(typedPath)) return err({ code: "ambiguous_path" });
  const path = canonicalPath(url.pathname);
  if (!path.ok) return err({ code: "ambiguous_path" });
  url.pathname = path.path;
  if (url.pathname !== path.path) return err({ code: "ambiguous_path" });
  const body = raw.body ?? "";
  if ((method === "GET" || method === "HEAD") && body !== "") return err({ code: "body_not_allowed" });
  const headers: { name: string; value: string }[] = [];
  for (const [name, rawValue] of Object.entries(raw.headers ?? {})) {
    const lower = name.trim().toLowerCase();
    // Visible ASCII only: fetch would send other code units as Latin-1 bytes the person never saw.
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(lower) || !/^[\t\x20-\x7e]*$/.test(rawValue)) {
      return err({ code: "header_invalid" });
    }
    if (isReservedHeader(lower)) return err({ code: "header_forbidden", header: lower });
    // `X-A`, `x-a` and `x_a` would be one header to a lenient server but two in the fingerprint
    // and on the page.
    const folded = foldHeaderName(lower);
    if (headers.some((header) => foldHeaderName(header.name) === folded)) return err({ code: "header_invalid" });
    // fetch trims a value's outer whitespace; trim here so the judged value is the sent one.
    headers.push({ name: lower, value: rawValue.replace(/^[\t ]+|[\t ]+$/g, "") });
  }
  headers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return ok({ method, url: url.href, body, headers });
}

/** SHA-256 fingerprint of a canonical call: equal only for the identical call. */
export function fingerprintCall(call: CanonicalCall): Promise<string> {
  const headers = call.headers.map((header) => [header.name, header.value]);
  return sha256Hex(JSON.stringify([call.method, call.url, call.body, headers]));
}

/** A canonical call's headers as the name-to-value record fetch and the classifiers take. */
export const headerRecord = (headers: CanonicalCall["headers"]): Record<string, string> =>
  Object.fromEntries(headers.map((header) => [header.name, header.value]));
