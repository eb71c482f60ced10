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
    "request_state_invalid",
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
    "vapid_key_invalid",
    "vapid_subject_invalid",
    "rule_max_invalid",
    "request_ttl_invalid",
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
  /**
   * A connect transaction's callback (src/connections/transaction.ts); `transaction_invalid` is a
   * provider's transaction brought to the MCP callback (src/upstream/connect.ts).
   */
  transaction: [
    "state_missing",
    "state_mismatch",
    "transaction_expired",
    "wrong_user",
    "state_replayed",
    "transaction_invalid",
  ],
  /** A call the agent described, refused before it is judged (src/grants/canonical.ts). */
  call: [
    "method_invalid",
    "url_invalid",
    "scheme_not_https",
    "userinfo_present",
    "port_not_default",
    "fragment_present",
    "ambiguous_path",
    "body_not_allowed",
    "header_forbidden",
    "header_invalid",
  ],
  /** A call matched to a provider (src/calls/prepare.ts); `invalid_request` carries a `call` code as its reason. */
  prepare: ["invalid_request", "address_not_allowed", "wrong_port", "unknown_provider", "path_not_allowed"],
  /** A grant's state change refused (src/grants/transitions.ts). */
  transition: ["not_pending", "expired", "not_live", "widened", "no_providers"],
  /** A provider credential that cannot be used for a call (src/providers/credentials.ts). */
  credential: ["not_connected", "reauth_required", "provider_unavailable"],
  /** The shared token cache, before its owner names the feature (src/vault/token-cache.ts). */
  tokenCache: ["not_connected", "reauth_required", "unavailable"],
  /**
   * A provider's token endpoint (src/providers/oauth-client.ts). `endpoint_not_allowed` is the
   * vet's refusal inside the guarded fetch; it reaches callers as `token_endpoint_unreachable`.
   */
  providerToken: [
    "invalid_grant",
    "token_endpoint_error",
    "token_response_invalid",
    "token_endpoint_unreachable",
    "endpoint_not_allowed",
  ],
  /** A provider API call on the wire (src/calls/outbound.ts); "upstream" names MCP servers only. */
  outbound: ["provider_timeout", "provider_unreachable"],
  /** The guarded fetch every outside URL goes through (src/http/guarded-fetch.ts). */
  fetch: ["timeout", "unreachable", "redirect_refused", "too_large"],
  /** An upstream-supplied URL refused before it is fetched (src/upstream/client/endpoint.ts). */
  endpoint: [
    "scheme_not_allowed",
    "address_not_allowed",
    "userinfo_present",
    "fragment_present",
    "unsafe_characters",
    "invalid_url",
  ],
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
  /** Talking MCP to an upstream server (src/upstream/client/errors.ts, raised in mcp-client.ts and operation.ts). */
  mcpClient: ["unauthorized", "origin_mismatch", "not_mcp", "protocol_error"],
  /** Naming and adding an upstream server (src/upstream/catalogue.ts, src/upstream/servers.ts). */
  server: ["name_invalid", "name_reserved", "name_taken", "url_invalid", "too_many_servers"],
  /** Starting an upstream OAuth connection: the hop that failed (src/upstream/connect.ts). */
  connectStart: [
    "probe_failed",
    "resource_unusable",
    "authorization_server_unusable",
    "client_invalid",
    "registration_failed",
    "sign_in_unusable",
  ],
  /** Finishing an upstream OAuth connection at its callback (src/upstream/connect.ts). */
  connectFinish: ["link_invalid", "server_changed", "not_granted", "exchange_failed"],
  /** One upstream tool call (src/upstream/calls.ts; its credential part in src/upstream/credentials.ts). */
  upstreamCall: ["not_found", "not_connected", "reauth_required", "upstream_unavailable", "invalid_request", "denied"],
  /**
   * The tools a person accepts as reads on /connections/mcp/<name>/reads (src/upstream/reads.ts):
   * a name no tool could have, a name twice, a tool that is not on the server or does not say it
   * only reads, more names than a server may offer, or a catalogue server's operator-set reads.
   */
  reads: ["tool_name_invalid", "tool_duplicated", "tool_not_offered", "too_many_tools", "catalogue_server"],
  /** Setting up how the person is reached: push devices and the webhook (src/notify/). */
  notify: [
    "push_not_configured",
    "subscription_invalid",
    "endpoint_not_allowed",
    "device_name_invalid",
    "too_many_devices",
    "webhook_url_invalid",
    "not_found",
  ],
  /**
   * A retried call's request state refused before anything runs (src/mcp/elicitation/state.ts):
   * unreadable, not ours, past its time, another person's or connection's, another call's, or
   * already used.
   */
  requestState: ["malformed", "mac", "expired", "bind", "other_call", "unknown_request", "replayed"],
  /**
   * Where a connect form started on an approval page may return to (src/lib/return-to.ts, then
   * src/connections/approval-return.tsx): not exactly an approval link path (400), not a request
   * of the signed-in person with that link token (404), or a request already decided (409).
   */
  approvalReturn: ["return_to_invalid", "not_found", "not_pending"],
} as const satisfies Record<string, readonly string[]>;

export type ErrorStep = keyof typeof ERROR_CODES;

/** The codes of one step, or with no argument every code there is. */
export type ErrorCode<S extends ErrorStep = ErrorStep> = (typeof ERROR_CODES)[S][number];

/** A tagged failure whose `code` must be one of its step's codes: `Coded<"call", "header_forbidden", { header: string }>`. */
export type Coded<S extends ErrorStep, C extends ErrorCode<S>, Extra extends object = object> = { code: C } & Extra;
