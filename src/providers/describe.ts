/**
 * A call in words for the person deciding on it: the provider's own table of operations
 * (`OperationWords` in types.ts) matched against the canonical path, the one the call is judged
 * by and sent to. Pure: no I/O, no clock. Words only name the operation; whether the call reads
 * or writes stays the classifier's and is shown beside them. A request that asks the server to
 * treat it as another method, a GET with a body, or a path servers could route differently gets
 * no words, because the words would then describe a call other than the one made.
 */
import { hasMethodOverride, restAccess, routedPath } from "./classify";
import type { OperationWords, ProviderRequest } from "./types";

/** The longest text one `{name}` contributes to the words. */
const MAX_VALUE = 100;

/** The words for this request from `operations`, or null when none describes it. */
export function describeOperation(
  operations: readonly OperationWords[] | undefined,
  request: ProviderRequest,
): string | null {
  if (!operations || operations.length === 0 || hasMethodOverride(request)) return null;
  if (request.body !== "" && restAccess(request.method) === "read") return null;
  const path = routedPath(request);
  if (path === null) return null;
  const segments = segmentsOf(path);
  for (const operation of operations) {
    if (operation.method !== request.method) continue;
    const values = matchPath(segmentsOf(operation.path), segments);
    if (values) return fillWords(operation.words, values);
  }
  return null;
}

/** `/a/b/` and `/a/b` alike: one trailing slash is an ordinary REST spelling. */
function segmentsOf(path: string): string[] {
  const bare = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
  return bare.split("/").slice(1);
}

/** The `{name}` values when every segment matches, or null. Canonical segments decode safely. */
function matchPath(pattern: string[], segments: string[]): Map<string, string> | null {
  if (pattern.length !== segments.length) return null;
  const values = new Map<string, string>();
  for (const [index, part] of pattern.entries()) {
    const segment = segments[index] ?? "";
    const name = /^\{([a-z_]+)\}$/.exec(part)?.[1];
    if (name === undefined) {
      if (part !== segment) return null;
      continue;
    }
    if (segment === "") return null;
    const decoded = decodeURIComponent(segment);
    values.set(name, decoded.length > MAX_VALUE ? `${decoded.slice(0, MAX_VALUE)}…` : decoded);
  }
  return values;
}

function fillWords(words: string, values: Map<string, string>): string {
  return words.replace(/\{([a-z_]+)\}/g, (whole, name: string) => values.get(name) ?? whole);
}
