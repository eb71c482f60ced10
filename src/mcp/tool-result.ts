/**
 * How tools answer: structured content plus readable text on success; on failure a tool error
 * with a stable `code` and a message that tells the assistant what to do next.
 */

import type { ErrorCode } from "../lib/errors";
import { errorLabel, log } from "../lib/log";

export type ToolErrorCode = ErrorCode<"tool">;

export interface ToolErrorBody {
  error: { code: ToolErrorCode; message: string; [extra: string]: unknown };
}

/** A successful tool result. */
export function toolResult<T extends Record<string, unknown>>(structured: T, text: string) {
  return { content: [{ type: "text" as const, text }], structuredContent: structured };
}

/** A tool error: `isError`, with the code and message as JSON text the assistant can read. */
export function toolError(code: ToolErrorCode, message: string, extra: Record<string, unknown> = {}) {
  const body: ToolErrorBody = { error: { code, message, ...extra } };
  return { isError: true, content: [{ type: "text" as const, text: JSON.stringify(body) }] };
}

/**
 * Wrap a tool handler so an unexpected exception becomes a stable `internal_error` tool error,
 * logged with the tool's name; its message (which may name tables or internals) never reaches
 * the assistant.
 */
export function safely<A extends unknown[], R>(tool: string, handler: (...args: A) => Promise<R>) {
  return async (...args: A): Promise<R | ReturnType<typeof toolError>> => {
    try {
      return await handler(...args);
    } catch (error) {
      log.error("tool.failed", { tool, error: errorLabel(error) });
      return toolError(
        "internal_error",
        "Something failed on Countersign's side. Try again; if it keeps failing, tell the person.",
      );
    }
  };
}

/** ISO time or null. */
export const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
