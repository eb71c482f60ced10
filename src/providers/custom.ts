/**
 * Custom providers declared by the operator in configuration (CUSTOM_PROVIDERS, a JSON array):
 * an https API with a pasted API key, reads = GET/HEAD plus the exact (method, path) pairs the
 * operator declares, matched against the canonical path the API will route (paths.ts; an
 * ambiguous path is refused, never a declared read). Parsing is strict and fails the whole configuration on any doubt: no
 * userinfo, no private or metadata hosts, no collision with a built-in id or host, and loopback
 * http(s) only when the deployment allows it AND the entry says `"dev_loopback": true`.
 * Pure: no I/O, no clock.
 */
import * as z from "zod";
import { canonicalPath } from "../grants/paths";
import { err, ok, type Result } from "../lib/result";
import { hasMethodOverride, label, outsidePrefixes, pathHasPrefix, read, routedPath, write } from "./classify";
import { BUILT_IN_PROVIDERS, ownsHost } from "./registry";
import { classifyHost } from "./ssrf";
import type { ProviderDefinition, ProviderRequest } from "./types";

export interface CustomProvidersError {
  code: "custom_providers_invalid";
  message: string;
}

export interface CustomProvidersOptions {
  /** True only on a local development deployment (see config.ts isLoopbackHost). */
  allowLoopback: boolean;
}

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] as const;
const DEV_LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);
/** Headers that frame or route the request: never a credential header. */
const FRAMING_HEADERS = new Set(["host", "content-length", "transfer-encoding", "connection", "te", "upgrade"]);

const ReadRule = z.strictObject({ method: z.enum(METHODS), path: z.string().min(1).max(512) });
const Entry = z.strictObject({
  id: z.string().regex(/^[a-z][a-z0-9-]{1,31}$/),
  name: z
    .string()
    .trim()
    .min(1)
    .max(64)
    .regex(/^[^\p{Cc}]+$/u),
  base_url: z.string().min(1).max(2048),
  api_key_header: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,64}$/)
    .refine((name) => {
      const lower = name.toLowerCase();
      return !FRAMING_HEADERS.has(lower) && !lower.startsWith("proxy-") && !lower.startsWith("cf-");
    }),
  api_key_prefix: z
    .string()
    .max(32)
    .regex(/^[\x20-\x7e]*$/)
    .optional(),
  reads: z.array(ReadRule).max(100).optional(),
  dev_loopback: z.boolean().optional(),
});
type Entry = z.infer<typeof Entry>;

const fail = (message: string): Result<never, CustomProvidersError> =>
  err({ code: "custom_providers_invalid", message });

/** Parse CUSTOM_PROVIDERS; "" (unset) is no custom providers. */
export function parseCustomProviders(
  json: string,
  options: CustomProvidersOptions,
): Result<ProviderDefinition[], CustomProvidersError> {
  if (json.trim() === "") return ok([]);
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return fail('unexpected "CUSTOM_PROVIDERS" value: not JSON');
  }
  const parsed = z.array(Entry).max(50).safeParse(raw);
  if (!parsed.success) return fail(describeIssue(raw, parsed.error.issues[0]));
  const providers: ProviderDefinition[] = [];
  for (const [index, entry] of parsed.data.entries()) {
    const where = `CUSTOM_PROVIDERS[${index}]`;
    if (BUILT_IN_PROVIDERS.some((provider) => provider.id === entry.id)) {
      return fail(`${where}: unexpected "id" value: "${entry.id}" is a built-in provider`);
    }
    if (providers.some((provider) => provider.id === entry.id)) {
      return fail(`${where}: unexpected "id" value: "${entry.id}" is declared twice`);
    }
    const base = parseBaseUrl(entry, options);
    if (typeof base === "string") return fail(`${where}: ${base}`);
    const overlap = providers.find(
      (provider) =>
        provider.origin === base.origin &&
        provider.pathPrefixes.some((prefix) => pathHasPrefix(prefix, base.path) || pathHasPrefix(base.path, prefix)),
    );
    if (overlap) return fail(`${where}: unexpected "base_url" value: overlaps custom provider "${overlap.id}"`);
    const reads: ReadEntry[] = [];
    for (const [readIndex, rule] of (entry.reads ?? []).entries()) {
      const path = parseReadPath(rule.path, base.path);
      if (!path) return fail(`${where}: unexpected "reads[${readIndex}].path" value`);
      reads.push({ method: rule.method, ...path });
    }
    providers.push(customProvider(entry, base, reads));
  }
  return ok(providers);
}

/** The first zod issue in fixed wording: `missing "x"` or `unexpected "x" value`. */
function describeIssue(raw: unknown, issue: z.core.$ZodIssue | undefined): string {
  if (!issue) return 'unexpected "CUSTOM_PROVIDERS" value';
  const [index, ...rest] = issue.path;
  if (typeof index !== "number") return 'unexpected "CUSTOM_PROVIDERS" value: use a JSON array of providers';
  const where = `CUSTOM_PROVIDERS[${index}]`;
  if (issue.code === "unrecognized_keys") return `${where}: unexpected "${issue.keys[0]}"`;
  const field = rest.map((key, position) =>
    typeof key === "number" ? `[${key}]` : `${position ? "." : ""}${String(key)}`,
  );
  const name = field.join("");
  if (name === "") return `${where}: unexpected entry: use an object`;
  let value: unknown = raw;
  for (const key of issue.path) value = (value as Record<PropertyKey, unknown> | undefined)?.[key];
  return value === undefined ? `${where}: missing "${name}"` : `${where}: unexpected "${name}" value`;
}

interface BaseUrl {
  origin: string;
  path: string;
  loopback: boolean;
}

/** The base URL's origin and path prefix, or the message saying why it is refused. */
function parseBaseUrl(entry: Entry, options: CustomProvidersOptions): BaseUrl | string {
  const bad = (why: string) => `unexpected "base_url" value: ${why}`;
  let url: URL;
  try {
    url = new URL(entry.base_url);
  } catch {
    return bad("not a URL");
  }
  if (url.username || url.password) return bad("user info is not allowed");
  if (url.search || url.hash || entry.base_url.includes("#")) return bad("no query or fragment");
  if (url.protocol !== "https:" && url.protocol !== "http:") return bad("use https");
  const basePath = canonicalPath(url.pathname);
  if (!basePath.ok || basePath.path !== url.pathname) return bad("the path is not in canonical form");
  const devHost = DEV_LOOPBACK_HOSTS.has(url.hostname);
  if (devHost) {
    if (!options.allowLoopback || entry.dev_loopback !== true) {
      return bad('loopback hosts need "dev_loopback": true on a local development deployment');
    }
    return { origin: url.origin, path: url.pathname, loopback: true };
  }
  if (entry.dev_loopback === true) return 'unexpected "dev_loopback" value: only for localhost, 127.0.0.1 or [::1]';
  if (url.protocol !== "https:") return bad("use https");
  if (url.port !== "") return bad("use the default https port");
  const hostClass = classifyHost(url.hostname);
  if (hostClass !== "public") return bad(`${hostClass} hosts are not allowed`);
  const builtIn = BUILT_IN_PROVIDERS.find((provider) => ownsHost(provider, url.hostname));
  if (builtIn) return bad(`the host belongs to built-in provider "${builtIn.id}"`);
  return { origin: url.origin, path: url.pathname, loopback: false };
}

interface ReadEntry {
  method: string;
  path: string;
  prefix: boolean;
}

/** An exact path or "/prefix/*", already in WHATWG and canonical form and under the base path; else null. */
function parseReadPath(raw: string, basePath: string): Omit<ReadEntry, "method"> | null {
  const prefix = raw.endsWith("/*");
  const path = prefix ? raw.slice(0, -1) : raw;
  if (!path.startsWith("/") || path.includes("*")) return null;
  let normalised: string;
  try {
    const url = new URL(path, "https://custom-provider.invalid");
    normalised = url.search || url.hash ? "" : url.pathname;
  } catch {
    return null;
  }
  const canonical = canonicalPath(normalised);
  if (!canonical.ok || canonical.path !== path || normalised !== path || !pathHasPrefix(path, basePath)) return null;
  return { path, prefix };
}

function customProvider(entry: Entry, base: BaseUrl, reads: readonly ReadEntry[]): ProviderDefinition {
  const header = entry.api_key_header.toLowerCase();
  const keyPrefix = entry.api_key_prefix ?? "";
  const declared = reads.map((rule) => `${rule.method} ${rule.path}${rule.prefix ? "*" : ""}`);
  const isDeclaredRead = (request: ProviderRequest) => {
    const path = routedPath(request);
    return (
      path !== null &&
      reads.some(
        (rule) => rule.method === request.method && (rule.prefix ? path.startsWith(rule.path) : path === rule.path),
      )
    );
  };
  return {
    id: entry.id,
    name: entry.name,
    hosts: [new URL(base.origin).hostname],
    pathPrefixes: [base.path],
    origin: base.origin,
    auth: {
      kind: "api_key",
      header: entry.api_key_header,
      prefix: keyPrefix,
      hint: `Paste an API key for ${entry.name}; it is sent in the ${entry.api_key_header} header.`,
    },
    credentialHeaders: (token) => ({ [header]: `${keyPrefix}${token}` }),
    reservedHeaders: [header],
    hints:
      `Custom API "${entry.name}" at ${entry.base_url}. GET and HEAD are reads` +
      (declared.length > 0 ? `, and so are ${declared.join(", ")}` : "") +
      "; every other call is a write.",
    classify(request) {
      const outside = outsidePrefixes(request, [base.path]);
      if (outside) return outside;
      if (hasMethodOverride(request)) return write(`${label(request)} (method override)`);
      if (request.method === "GET" || request.method === "HEAD") {
        return request.body === "" ? read(label(request)) : write(`${label(request)} (with a body)`);
      }
      return isDeclaredRead(request) ? read(`${label(request)} (declared read)`) : write(label(request));
    },
    allowLoopback: base.loopback,
  };
}
