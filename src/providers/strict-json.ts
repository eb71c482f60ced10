/**
 * JSON parsing for classifiers. A body whose meaning depends on which duplicate key a server
 * keeps (`{"query":"{a}","query":"mutation{b}"}`) is ambiguous, so it is refused instead of
 * guessed: JSON.parse keeps the last key, some servers keep the first. Likewise a key that
 * differs only in case from one a classifier reads (`Query` beside `query`): case-insensitive
 * binders (ASP.NET, Jackson with ACCEPT_CASE_INSENSITIVE_PROPERTIES) may read either.
 * Pure; never throws.
 */
import { err, ok, type Result } from "../lib/result";

/** Parse JSON, refusing invalid text and objects with duplicate keys. */
export function parseJsonStrict(text: string): Result<unknown, "invalid" | "duplicate_key"> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return err("invalid");
  }
  return hasDuplicateKeys(text) ? err("duplicate_key") : ok(value);
}

/** Scan text that JSON.parse accepted; keys are compared after unescaping ("\u0061" is "a"). */
function hasDuplicateKeys(text: string): boolean {
  // One entry per open container: the keys seen so far for an object, null for an array.
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
      const keys = stack.at(-1);
      if (keys && expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (keys.has(key)) return true;
        keys.add(key);
        expectKey = false;
      }
      i = end;
    } else if (char === "{") {
      stack.push(new Set());
      expectKey = true;
    } else if (char === "[") {
      stack.push(null);
      expectKey = false;
    } else if (char === "}" || char === "]") {
      stack.pop();
      expectKey = false;
    } else if (char === ",") {
      expectKey = stack.at(-1) instanceof Set;
    }
  }
  return false;
}

/** Whether a parsed JSON value is a plain object (not null, not an array). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Whether some key is a case variant of a known key without being it exactly: `Query`, `QUERY`,
 * or `querſ`-style letters that fold to it under Unicode case mapping (ſ → S, K → k).
 */
export function hasCaseVariantKey(keys: Iterable<string>, known: readonly string[]): boolean {
  const folded = new Set(known.map((key) => key.toLowerCase()));
  const exact = new Set(known);
  for (const key of keys) {
    if (exact.has(key)) continue;
    if (folded.has(key.toLowerCase()) || folded.has(key.toUpperCase().toLowerCase())) return true;
  }
  return false;
}
