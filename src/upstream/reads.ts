/**
 * Which of a server's tools the person accepts as reads: the tools that may be asked about (those
 * whose annotations say `readOnlyHint: true`) and the checks on what a form sent back. Pure: no
 * I/O, no clock.
 *
 * Invariants: a choice is taken whole or not at all; every name in it is a tool the server offers
 * that says it only reads, named once; nothing is dropped silently, so what is stored is exactly
 * what the person ticked. The shape is checked before the form reaches the person's Durable
 * Object; membership is checked there, against the same row the choice is written to.
 */
import type { ErrorCode } from "../lib/errors";
import { err, ok, type Result } from "../lib/result";
import { UPSTREAM_TOOL_NAME } from "./catalogue";
import { MAX_TOOLS } from "./client/mcp-client";

export type ReadChoiceError = ErrorCode<"reads">;

/** The tools of a server that say they only read, in the server's order. */
export function readClaims<T extends { name: string; annotations?: { readOnlyHint?: boolean } }>(
  tools: readonly T[],
): T[] {
  return tools.filter((tool) => tool.annotations?.readOnlyHint === true);
}

/** The names a form sent, checked for shape: each a possible tool name, none twice, not too many. */
export function parseReadNames(values: readonly unknown[]): Result<string[], ReadChoiceError> {
  if (values.length > MAX_TOOLS) return err("too_many_tools");
  const seen = new Set<string>();
  for (const value of values) {
    if (typeof value !== "string" || !UPSTREAM_TOOL_NAME.test(value)) return err("tool_name_invalid");
    if (seen.has(value)) return err("tool_duplicated");
    seen.add(value);
  }
  return ok([...seen].sort());
}

/** The checked choice against the server's current tools: every name must claim to read. */
export function checkReadChoice(
  names: readonly string[],
  tools: readonly { name: string; annotations?: { readOnlyHint?: boolean } }[],
): Result<string[], ReadChoiceError> {
  const parsed = parseReadNames(names);
  if (!parsed.ok) return parsed;
  const claimed = new Set(readClaims(tools).map((tool) => tool.name));
  if (parsed.value.some((name) => !claimed.has(name))) return err("tool_not_offered");
  return parsed;
}
