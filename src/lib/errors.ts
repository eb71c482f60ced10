/**
 * The one vocabulary of stable error codes. Every failure type in src/ takes its codes from a
 * list here, named by the step that raises them, so a code means one thing wherever it appears
 * and a new one is added in one place. What a caller sees is still chosen by each boundary (a
 * tool error, a page, a JSON-RPC error); messages keep their fixed wording where they are made.
 *
 * The failure types take their codes from here by type (`ErrorCode<"fetch">`, or `Coded<…>` for
 * tagged objects), so the compiler refuses a code that is not listed. A code may stand in several
 * lists when it means the same thing there (`issuer_mismatch` in discovery and at the callback;
 * `not_connected` for a provider and a server).
 */

export const ERROR_CODES = {
  /** What an assistant reads in a tool error (src/mcp/tool-result.ts). */
  tool: [
    "access_required",
    "access_denied",
    "refused_by_rule",
    "expired",
    "not_found",
    "rate_limited",
    "invalid_request",
    "unknown_provider",
    "not_connected",
    "reauth_required",
    "provider_unavailable",
    "upstream_unavailable",
    "internal_error",
  ],
  /** A setting that stops the deployment before any route runs (src/config.ts). */
  config: [
    "public_url_invalid",
    "cookie_secret_missing",
    "dev_signin_not_local",
    "oidc_incomplete",
    "signin_missing",
    "grant_max_invalid",
    "vault_keys_invalid",
    "custom_providers_invalid",
    "upstream_loopback_not_local",
    "mcp_servers_invalid",
    "rule_max_invalid",
  ],
  /** Sign-in through the OIDC provider (src/identity/oidc.ts). */
  signin: [
    "state_missing",
    "state_mismatch",
    "transaction_expired",
    "provider_error",
    "callback_invalid",
    "token_exchange_failed",
    "discovery_failed",
  ],
  /** A connect transaction's callback (src/connections/transaction.ts). */
  transaction: ["state_missing", "state_mismatch", "transaction_expired", "wrong_user", "state_replayed"],
  /** A call the agent described, before it is judged (src/grants/canonical.ts, src/calls/prepare.ts). */
  call: [
    "method_invalid",
    "url_invalid",
    "scheme_not_https",
    "userinfo_present",
    "port_not_default",
    "fragment_present",
    "body_not_allowed",
    "header_forbidden",
    "header_invalid",
    "invalid_request",
    "address_not_allowed",
    "unknown_provider",
    "path_not_allowed",
  ],
  /** A grant's state change refused (src/grants/transitions.ts). */
  transition: ["not_pending", "expired", "not_live", "widened", "no_providers"],
  /** A credential that cannot be used for a call (src/providers/credentials.ts, src/vault/token-cache.ts). */
  credential: ["not_connected", "reauth_required", "provider_unavailable", "unavailable"],
  /** A provider's token endpoint (src/providers/oauth-client.ts). */
  providerToken: ["invalid_grant", "token_endpoint_error", "token_response_invalid", "token_endpoint_unreachable"],
  /** A provider API call on the wire (src/calls/outbound.ts). */
  outbound: ["upstream_timeout", "upstream_unreachable"],
  /** A URL refused before it is fetched (src/upstream/client/endpoint.ts). */
  endpoint: [
    "scheme_not_allowed",
    "address_not_allowed",
    "userinfo_present",
    "fragment_present",
    "unsafe_characters",
    "invalid_url",
  ],
  /** The guarded fetch of an upstream hop (src/upstream/client/safe-fetch.ts). */
  fetch: ["timeout", "unreachable", "redirect_refused", "too_large"],
  /** RFC 9728 / RFC 8414 discovery (src/upstream/client/discovery.ts). */
  discovery: [
    "metadata_not_found",
    "metadata_unavailable",
    "metadata_invalid",
    "resource_mismatch",
    "issuer_mismatch",
    "pkce_unsupported",
  ],
  /** Registering as a client of an upstream authorization server (src/upstream/client/registration.ts). */
  registration: ["registration_unsupported", "registration_failed", "registration_invalid"],
  /** An upstream token endpoint (src/upstream/client/oauth.ts). */
  upstreamToken: ["invalid_grant", "token_endpoint_error", "token_response_invalid", "token_type_unsupported"],
  /** An upstream authorization callback (src/upstream/client/oauth.ts). */
  upstreamCallback: ["authorization_denied", "authorization_error", "issuer_mismatch", "callback_invalid"],
  /** RFC 7009 revocation upstream (src/upstream/client/oauth.ts). */
  revocation: ["revocation_unsupported", "revocation_failed"],
  /** The first unauthenticated look at a server (src/upstream/client/probe.ts). */
  probe: ["probe_failed", "not_mcp"],
  /** Talking MCP to an upstream server (src/upstream/client/errors.ts). */
  mcpClient: ["unauthorized", "origin_mismatch", "not_mcp", "protocol_error", "tool_error"],
  /** Naming and adding an upstream server (src/upstream/catalogue.ts, src/upstream/servers.ts). */
  server: ["name_invalid", "name_reserved", "name_taken", "url_invalid", "too_many_servers"],
  /** One upstream tool call (src/upstream/servers.ts). */
  upstreamCall: ["not_found", "not_connected", "reauth_required", "upstream_unavailable", "invalid_request", "denied"],
} as const satisfies Record<string, readonly string[]>;

export type ErrorStep = keyof typeof ERROR_CODES;

/** The codes of one step, or with no argument every code there is. */
export type ErrorCode<S extends ErrorStep = ErrorStep> = (typeof ERROR_CODES)[S][number];

/** A tagged failure whose `code` must be one of its step's codes: `Coded<"call", "header_forbidden", { header: string }>`. */
export type Coded<S extends ErrorStep, C extends ErrorCode<S>, Extra extends object = object> = { code: C } & Extra;
