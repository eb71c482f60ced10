/**
 * How tools answer: structured content plus readable text on success; on failure a tool error
 * with a stable `code` and a message that tells the assistant what to do next.
 */
export type ToolErrorCode =
  | "access_required"
  | "access_denied"
  | "expired"
  | "not_found"
  | "rate_limited"
  | "invalid_request"
  | "unknown_provider";

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

/** ISO time or null. */
export const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
