/**
 * The failures of the stateless upstream hops that more than one hop shares: the MCP client's
 * error (raised inside an operation, returned by the client) and the registered OAuth error
 * codes a token or registration endpoint may answer with. Types and pure helpers only.
 */
import type { ErrorCode } from "../../lib/errors";
import type { SafeFetchErrorCode } from "./safe-fetch";
import type { BearerChallenge } from "./www-authenticate";

/**
 * A URL gate or fetch code, or one of MCP's own: `unauthorized` (the upstream answered 401 or
 * 403: token missing, expired or revoked), `origin_mismatch` (the transport tried to fetch
 * another origin, e.g. a legacy SSE `endpoint` event pointing elsewhere), `not_mcp` (neither
 * Streamable HTTP nor legacy SSE answered like MCP), `protocol_error` (a JSON-RPC error, of
 * tools/call too, or a malformed answer). A tool result with `isError` is an ok result.
 */
export type McpClientErrorCode = SafeFetchErrorCode | ErrorCode<"mcpClient">;

export interface McpClientError {
  code: McpClientErrorCode;
  status?: number;
  /** JSON-RPC error code, for protocol_error */
  rpcCode?: number;
  /** Parsed WWW-Authenticate of a 401/403 */
  challenge?: BearerChallenge;
}

/** OAuth error codes from RFC 6749, 6750, 7009, 7591, 8707 and OIDC: the only upstream words we repeat. */
const OAUTH_ERRORS = new Set([
  "invalid_request",
  "invalid_client",
  "invalid_grant",
  "unauthorized_client",
  "unsupported_grant_type",
  "invalid_scope",
  "invalid_target",
  "access_denied",
  "unsupported_response_type",
  "server_error",
  "temporarily_unavailable",
  "unsupported_token_type",
  "invalid_token",
  "insufficient_scope",
  "invalid_redirect_uri",
  "invalid_client_metadata",
  "invalid_software_statement",
  "unapproved_software_statement",
  "login_required",
  "consent_required",
  "interaction_required",
]);

/** A registered OAuth error code, or undefined for anything else (free text may echo secrets). */
export const oauthErrorCode = (value: unknown): string | undefined =>
  typeof value === "string" && OAUTH_ERRORS.has(value) ? value : undefined;
