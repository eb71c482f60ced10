/**
 * First contact with a server URL a user typed: one unauthenticated MCP `initialize` POST
 * (Streamable HTTP, MCP 2025-06-18) that tells us whether the server is open, wants OAuth, or
 * may be a legacy HTTP+SSE server.
 *
 * Invariants: no credential of any kind is sent; the request goes through `safeFetch` (vetted
 * URL, no redirects, bounded time) and the body is never read, so an SSE answer that stays
 * open cannot hold us; the challenge is returned as parsed text and its `resource_metadata` is
 * vetted later by discovery, never fetched here.
 */
import type { Coded } from "../../lib/errors";
import { err, ok, type Result } from "../../lib/result";
import { type SafeFetchError, safeFetch, UPSTREAM_TIMEOUT_MS, type UpstreamOptions } from "./safe-fetch";
import { type BearerChallenge, parseWwwAuthenticate } from "./www-authenticate";

export const PROBE_PROTOCOL_VERSION = "2025-06-18";

export type ProbeOutcome =
  | { auth: "none"; transport: "streamable-http"; sessionId?: string }
  | { auth: "oauth"; challenge: BearerChallenge }
  | { auth: "unknown"; transport: "sse-candidate" };

export type ProbeError =
  | SafeFetchError
  | Coded<"probe", "probe_failed", { status: number }>
  | Coded<"probe", "not_mcp", { status: number }>;

/** MCP 2025-06-18 Streamable HTTP: a session id is visible ASCII; anything else is dropped. */
const SESSION_ID = /^[\x21-\x7e]{1,256}$/;

const INITIALIZE = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: PROBE_PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: "Countersign", version: "1.0.0" },
  },
});

/** Send an unauthenticated `initialize` and classify the answer. */
export async function probeServer(url: string, options: UpstreamOptions): Promise<Result<ProbeOutcome, ProbeError>> {
  const response = await safeFetch(
    url,
    {
      method: "POST",
      headers: {
        Accept: "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": PROBE_PROTOCOL_VERSION,
      },
      body: INITIALIZE,
    },
    {
      allowLoopback: options.allowLoopback,
      timeoutMs: options.timeoutMs ?? UPSTREAM_TIMEOUT_MS,
      maxBytes: 0,
      discardBody: true,
      ...(options.fetcher ? { fetcher: options.fetcher } : {}),
    },
  );
  if (!response.ok) return response;
  const { status, headers } = response.value;
  if (status >= 200 && status < 300) {
    // A web page answering 200 is not an MCP server: the answer must be JSON or an event stream.
    const type = (headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
    if (type !== "application/json" && type !== "text/event-stream") return err({ code: "not_mcp", status });
    const sessionId = headers.get("mcp-session-id");
    return ok({
      auth: "none",
      transport: "streamable-http",
      ...(sessionId && SESSION_ID.test(sessionId) ? { sessionId } : {}),
    });
  }
  if (status === 401 || status === 403) {
    // MCP 2025-11-25: without resource_metadata the client falls back to the well-known URLs,
    // so a plain Bearer challenge still means OAuth; discovery decides whether it is real.
    const challenge = parseWwwAuthenticate(headers.get("www-authenticate"));
    if (challenge.bearer) return ok({ auth: "oauth", challenge });
    return err({ code: "probe_failed", status });
  }
  // MCP backwards compatibility: an old HTTP+SSE server answers a POST with 400, 404 or 405.
  if (status === 400 || status === 404 || status === 405) return ok({ auth: "unknown", transport: "sse-candidate" });
  return err({ code: "probe_failed", status });
}
