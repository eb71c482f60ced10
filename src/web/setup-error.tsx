/**
 * What a misconfigured deployment answers: a clear setup page naming what is missing, and a
 * failing health check, never a half-working server. Messages name settings, never values.
 */
import type { ConfigError } from "../config";
import { log } from "../lib/log";
import { MessagePage } from "./layout";

/** The response for any request while configuration is invalid. */
export function setupErrorResponse(request: Request, error: ConfigError): Response {
  log.error("config.invalid", { code: error.code });
  const headers = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
  };
  if (new URL(request.url).pathname === "/healthz") {
    return Response.json({ status: "misconfigured", code: error.code }, { status: 503, headers });
  }
  const page = <MessagePage title="Countersign is not set up yet" message={error.message} code={error.code} />;
  return new Response(`<!doctype html>${page}`, {
    status: 503,
    headers: { ...headers, "Content-Type": "text/html; charset=utf-8" },
  });
}
