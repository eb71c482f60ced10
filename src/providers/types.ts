/**
 * The shape of a provider: where its API lives, how the person's credential is attached, and how
 * one outbound request is classified as read or write. Definitions are plain data plus pure
 * functions: no I/O, no clock, no secrets. Classification must fail closed: anything a
 * classifier does not positively recognise as a read is a write.
 */

export type Access = "read" | "write";

/** One outbound call as the classifier sees it, after canonicalisation (see grants/canonical.ts). */
export interface ProviderRequest {
  /** Already upper-case and trimmed: one of GET HEAD POST PUT PATCH DELETE. */
  method: string;
  /** Parsed once with WHATWG URL; https (http only for enabled loopback dev providers). */
  url: URL;
  /** Agent-supplied headers, lower-case names. */
  headers: Record<string, string>;
  /** The body exactly as it will be sent ("" for none). */
  body: string;
}

export type Classification =
  | { ok: true; access: Access; operation: string }
  | { ok: false; code: "path_not_allowed" | "unsupported"; message: string };

export type ProviderAuth =
  | {
      kind: "oauth2";
      authorizeUrl: string;
      tokenUrl: string;
      revokeUrl?: string;
      /**
       * How revokeUrl is called: "rfc7009" posts `token=` with client authentication as for the
       * token endpoint; "bearer" posts with the token itself in `Authorization: Bearer` (Slack,
       * Linear); "json_basic" posts JSON `{token}` with HTTP Basic client credentials (Notion);
       * "github_grant" sends DELETE with JSON `{access_token}` and Basic client credentials to
       * revokeUrl with `{client_id}` filled in (GitHub apps). Default "rfc7009".
       */
      revokeStyle?: "rfc7009" | "bearer" | "json_basic" | "github_grant";
      scopes: string[];
      scopeSeparator: " " | ",";
      /** The authorize parameter that carries `scopes`. Default "scope"; Slack user tokens use "user_scope". */
      scopeParam?: "scope" | "user_scope";
      tokenEndpointAuth: "client_secret_basic" | "client_secret_post";
      /** Where the access token sits in the token response. Default "standard" (RFC 6749 §5.1). */
      tokenResponse?: "standard" | "slack_authed_user";
      extraAuthorizeParams?: Record<string, string>;
      refreshable: boolean;
    }
  | {
      kind: "api_key";
      /** Header that carries the key, e.g. "Authorization" or "X-Api-Key". */
      header: string;
      /** Prepended to the key: "" or "Bearer " etc. */
      prefix: string;
      /** Where the person creates a key, shown on the connect page. */
      hint: string;
    };

export interface ProviderDefinition {
  id: string;
  name: string;
  /** Exact lower-case API hosts. */
  hosts: readonly string[];
  /**
   * Host suffixes (with the leading dot) for providers whose API host is per account (Snowflake).
   * A host matches when it is one or more DNS labels followed by the suffix. Exact hosts elsewhere.
   */
  hostSuffixes?: readonly string[];
  /**
   * Accepted path prefixes. A prefix ending in "/" matches by `startsWith`; any other prefix
   * matches itself exactly or followed by "/" (so "/graphql" never matches "/graphqlx").
   */
  pathPrefixes: readonly string[];
  /**
   * Exact origin (scheme, host, port) of a custom provider, e.g. `http://127.0.0.1:8787`.
   * Unset for built-ins, which are always https on the default port.
   */
  origin?: string;
  auth: ProviderAuth;
  /**
   * Headers to send with the person's token (Authorization etc.) plus fixed ones (Notion-Version…).
   * Names listed in reservedHeaders always win; the others are defaults the agent may override.
   */
  credentialHeaders(token: string): Record<string, string>;
  /** Header names (lower-case) the agent may never set for this provider (its auth headers). */
  reservedHeaders: readonly string[];
  /** Usage hints for the assistant (endpoints, versions, pagination). */
  hints: string;
  /** Read or write for one request. MUST fail closed: unknown → write. */
  classify(request: ProviderRequest): Classification;
  /** What some calls do, in words a person reads on the approval page (describe.ts matches them). */
  operations?: readonly OperationWords[];
  /** Only custom dev providers may target loopback http(s) hosts, and only when explicitly enabled. */
  allowLoopback: boolean;
}

/**
 * One operation in words: `POST /repos/{owner}/{repo}/issues` is "create an issue in
 * {owner}/{repo}". A `{name}` matches exactly one segment of the canonical path and is filled
 * into the words with its decoded text. Words only describe; they never decide read or write.
 */
export interface OperationWords {
  method: string;
  path: string;
  words: string;
}
