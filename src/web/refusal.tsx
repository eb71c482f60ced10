/**
 * How a browser route answers a step that was refused or failed: one warn line in the log that
 * names the reason, and a message page that shows the same stable code, with the status that
 * fits. The reason is an error code from src/lib/errors.ts, never upstream text, a URL or a
 * secret, so the log line and the page agree and neither can leak what the step carried.
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ErrorCode } from "../lib/errors";
import { log } from "../lib/log";
import type { WebContext } from "./context";
import { MessagePage, type MessagePageProps } from "./layout";

export interface Refusal extends MessagePageProps {
  /** Shown on the page and logged as `reason`. */
  code: ErrorCode;
}

/** Log `event` with the refusal's code (after any `fields`) and answer with its message page. */
export function refusalPage(
  c: WebContext,
  status: ContentfulStatusCode,
  event: string,
  refusal: Refusal,
  fields: Record<string, unknown> = {},
) {
  log.warn(event, { ...fields, reason: refusal.code });
  return c.html(<MessagePage {...refusal} />, status);
}
