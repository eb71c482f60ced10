/**
 * Shared, fail-closed building blocks for provider classifiers: REST by HTTP method, method
 * override detection, exact allow-lists of POST endpoints that only read, and GraphQL by
 * operation type with the real parser. Pure: no I/O, no clock. Every helper answers "write"
 * unless it positively recognises a read; no helper ever turns a write into a read.
 * Path rules match the canonical path (grants/paths.ts: decoded once, one spelling), which
 * canonicalizeCall has already put in the URL; an ambiguous path is refused here too.
 */
import { OperationTypeNode } from "graphql/language/ast";
import { Kind } from "graphql/language/kinds";
import { parse } from "graphql/language/parser";
import { headerRecord } from "../grants/canonical";
import { canonicalPath } from "../grants/paths";
import type { CanonicalCall } from "../grants/types";
import { hasCaseVariantKey, isJsonObject, parseJsonStrict } from "./strict-json";
import type { Access, Classification, ProviderRequest } from "./types";

/** Headers some frameworks (Google APIs, Rails, Laravel, ASP.NET…) honour to swap the method. */
const OVERRIDE_HEADERS = ["x-http-method-override", "x-http-method", "x-method-override"];
const LABEL_PATH_MAX = 200;
/** Upper bound on GraphQL lexer tokens: a hostile document fails to parse (→ write) instead of burning CPU. */
const GRAPHQL_MAX_TOKENS = 20_000;

/** Read for GET and HEAD; write for every other method, known or not. */
export function restAccess(method: string): Access {
  return method === "GET" || method === "HEAD" ? "read" : "write";
}

/** A read classification. */
export const read = (operation: string): Classification => ({ ok: true, access: "read", operation });
/** A write classification. */
export const write = (operation: string): Classification => ({ ok: true, access: "write", operation });

/** Whether a path falls under a prefix ("/a/" by startsWith; "/a" itself or "/a/…"). */
export function pathHasPrefix(path: string, prefix: string): boolean {
  if (prefix.endsWith("/")) return path.startsWith(prefix);
  return path === prefix || path.startsWith(`${prefix}/`);
}

/** The path the API will route (canonical spelling), or null when servers could disagree on it. */
export function routedPath(request: ProviderRequest): string | null {
  const path = canonicalPath(request.url.pathname);
  return path.ok ? path.path : null;
}

/**
 * Whether the request targets this one endpoint (e.g. `/graphql`) however the path is spelled:
 * one trailing slash and letter case are ignored, as lenient routers ignore them.
 */
export function isEndpoint(request: ProviderRequest, endpoint: string): boolean {
  const path = routedPath(request);
  if (path === null) return false;
  const bare = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
  return bare.toLowerCase() === endpoint.toLowerCase();
}

/** The request a provider judges, built from the canonical call: what is judged is what is sent. */
export function providerRequestOf(call: CanonicalCall): ProviderRequest {
  return { method: call.method, url: new URL(call.url), headers: headerRecord(call.headers), body: call.body };
}

/** The refusal for a path outside a provider's prefixes (or ambiguous), or null when the path is inside. */
export function outsidePrefixes(request: ProviderRequest, prefixes: readonly string[]): Classification | null {
  const path = routedPath(request);
  if (path === null) return { ok: false, code: "path_not_allowed", message: `ambiguous path: ${label(request)}` };
  if (prefixes.some((prefix) => pathHasPrefix(path, prefix))) return null;
  return { ok: false, code: "path_not_allowed", message: `unexpected path: ${label(request)}` };
}

/** "METHOD /path", the path cut short for display. */
export function label(request: ProviderRequest): string {
  const path = request.url.pathname;
  return `${request.method} ${path.length > LABEL_PATH_MAX ? `${path.slice(0, LABEL_PATH_MAX)}…` : path}`;
}

const isOverrideKey = (key: string): boolean => key.trim().toLowerCase() === "_method";

/** Whether the request asks the server to treat it as another method (header, query or body). */
export function hasMethodOverride(request: ProviderRequest): boolean {
  // CGI-style servers read `X_HTTP_Method_Override` as `X-HTTP-Method-Override`.
  const headerNames = Object.keys(request.headers).map((name) => name.trim().toLowerCase().replaceAll("_", "-"));
  if (OVERRIDE_HEADERS.some((name) => headerNames.includes(name))) return true;
  if ([...request.url.searchParams.keys()].some(isOverrideKey)) return true;
  const body = request.body;
  if (body === "") return false;
  // The body is checked in every shape a server might parse it as, whatever the content-type says.
  if ([...new URLSearchParams(body).keys()].some(isOverrideKey)) return true;
  if (/name\s*=\s*"?\s*_method\b/i.test(body)) return true;
  try {
    const json: unknown = JSON.parse(body);
    if (isJsonObject(json) && Object.keys(json).some(isOverrideKey)) return true;
  } catch {
    // Not JSON: already checked as form and multipart.
  }
  return false;
}

export interface ReadOnlyPath {
  /** An exact path, or a RegExp that must match the whole path. */
  path: string | RegExp;
}

function matchesWhole(path: string, pattern: string | RegExp): boolean {
  if (typeof pattern === "string") return path === pattern;
  const match = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, "")).exec(path);
  return match !== null && match.index === 0 && match[0] === path;
}

/** Whether this is a POST, without method override, to an endpoint on the exact allow-list. */
export function readOnlyPost(request: ProviderRequest, allowList: readonly ReadOnlyPath[]): boolean {
  if (request.method !== "POST" || hasMethodOverride(request)) return false;
  const path = routedPath(request);
  return path !== null && allowList.some((entry) => matchesWhole(path, entry.path));
}

/** REST classification: method override → write; allow-listed POST → read; else by method. */
export function restClassify(request: ProviderRequest, readOnlyPosts: readonly ReadOnlyPath[] = []): Classification {
  if (hasMethodOverride(request)) return write(`${label(request)} (method override)`);
  // The canonicaliser refuses these; a body on a GET means someone expects it to do something.
  if (request.body !== "" && restAccess(request.method) === "read") return write(`${label(request)} (with a body)`);
  if (readOnlyPost(request, readOnlyPosts)) return read(`${label(request)} (read-only endpoint)`);
  return restAccess(request.method) === "read" ? read(label(request)) : write(label(request));
}

const PERSISTED_ID_KEYS = ["id", "documentId", "doc_id", "queryId"];
const GRAPHQL_URL_KEYS = ["query", "extensions", "operationName", "variables", ...PERSISTED_ID_KEYS];
/** Keys whose case variants (`Query`) some servers would read as the real key: ambiguous. */
const GRAPHQL_KEYS = [...GRAPHQL_URL_KEYS, "persistedQuery"];

/**
 * Read only when every operation of every document in the request is a `query`; mutations,
 * subscriptions, persisted queries, unparseable or non-JSON bodies and anything unexpected → write.
 */
export function graphqlAccess(request: ProviderRequest): Classification {
  if (hasMethodOverride(request)) return write("GraphQL request with a method override");
  const params = request.url.searchParams;
  let payloads: unknown[];
  if (hasCaseVariantKey(params.keys(), GRAPHQL_KEYS))
    return write("GraphQL request with a case variant of a GraphQL key");
  if (request.method === "GET") {
    if (request.body !== "") return write("GraphQL GET with a body");
    if (params.has("extensions") || PERSISTED_ID_KEYS.some((key) => params.has(key))) {
      return write("GraphQL persisted query");
    }
    const queries = params.getAll("query");
    if (queries.length !== 1) return write("GraphQL GET without exactly one query");
    payloads = [{ query: queries[0] }];
  } else if (request.method === "POST") {
    // Some servers merge URL parameters into a POST; a request that could mean two things is a write.
    if (GRAPHQL_URL_KEYS.some((key) => params.has(key))) return write("GraphQL POST with GraphQL URL parameters");
    const parsed = parseJsonStrict(request.body);
    if (!parsed.ok) return write("GraphQL request whose body is not unambiguous JSON");
    payloads = Array.isArray(parsed.value) ? parsed.value : [parsed.value];
    if (payloads.length === 0) return write("GraphQL empty batch");
  } else {
    return write(`GraphQL over ${request.method}`);
  }
  for (const payload of payloads) {
    const reason = writeReason(payload);
    if (reason) return write(reason);
  }
  return read(payloads.length > 1 ? `GraphQL query batch (${payloads.length})` : "GraphQL query");
}

/** Why one `{query, operationName?, variables?}` payload is not a plain read, or null when it is. */
function writeReason(payload: unknown): string | null {
  if (!isJsonObject(payload)) return "GraphQL request that is not a JSON object";
  if (hasCaseVariantKey(Object.keys(payload), GRAPHQL_KEYS))
    return "GraphQL request with a case variant of a GraphQL key";
  const extensions = payload.extensions;
  if (isJsonObject(extensions) && hasCaseVariantKey(Object.keys(extensions), GRAPHQL_KEYS)) {
    return "GraphQL request with a case variant of a GraphQL key";
  }
  const persisted =
    PERSISTED_ID_KEYS.some((key) => key in payload) ||
    (extensions !== undefined && (!isJsonObject(extensions) || "persistedQuery" in extensions));
  if (persisted) return "GraphQL persisted query";
  if (typeof payload.query !== "string") return "GraphQL request without a query";
  let definitions: ReturnType<typeof parse>["definitions"];
  try {
    definitions = parse(payload.query, { noLocation: true, maxTokens: GRAPHQL_MAX_TOKENS }).definitions;
  } catch {
    return "GraphQL document that does not parse";
  }
  let operations = 0;
  for (const definition of definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) continue;
    if (definition.kind !== Kind.OPERATION_DEFINITION) return "GraphQL document with type system definitions";
    if (definition.operation !== OperationTypeNode.QUERY) return `GraphQL ${definition.operation}`;
    operations++;
  }
  return operations === 0 ? "GraphQL document without an operation" : null;
}
