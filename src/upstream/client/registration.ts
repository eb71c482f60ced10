/**
 * Who we are to an upstream authorization server: a pre-registered client from configuration,
 * a Client ID Metadata Document (MCP 2025-11-25: our client_id is the HTTPS URL of a JSON
 * document we publish), or a client registered on the fly by RFC 7591 Dynamic Client
 * Registration. Also builds that metadata document.
 *
 * Invariants: we register as a public client (`token_endpoint_auth_method: "none"`, PKCE for
 * every code) with exactly one redirect URI; a registration answer is accepted only with a
 * plain `client_id` and, when it lists redirect URIs, ours among them; the registration
 * endpoint is fetched through `safeFetch` (vetted, no redirects); no secret in any error.
 */
import type { ErrorCode } from "../../lib/errors";
import { err, ok, type Result } from "../../lib/result";
import type { AuthorizationServer } from "./discovery";
import { oauthErrorCode } from "./errors";
import { fetchJson, type SafeFetchErrorCode, type UpstreamOptions } from "./safe-fetch";

export const CLIENT_NAME = "Countersign";
export const CLIENT_METADATA_PATH = "/oauth/client-metadata.json";
export const MCP_CALLBACK_PATH = "/connections/mcp/callback";

export type TokenEndpointAuthMethod = "none" | "client_secret_post" | "client_secret_basic";

/** The credentials we present at an upstream token endpoint. */
export interface UpstreamClient {
  clientId: string;
  clientSecret?: string;
  /** Absent: `none` without a secret, else what the server's metadata allows (basic by default). */
  authMethod?: TokenEndpointAuthMethod;
  /** RFC 7591: seconds since the epoch, 0 for never. */
  clientSecretExpiresAt?: number;
}

export type ClientRegistration =
  | { kind: "preregistered"; clientId: string; clientSecret?: string }
  | { kind: "cimd"; clientId: string }
  | { kind: "dcr" };

export interface RegistrationConfig {
  /** Our PUBLIC_URL origin (from configuration, never from a Host header). */
  publicOrigin: string;
  /** A client the operator registered with this upstream by hand; an empty string counts as none. */
  clientId?: string;
  clientSecret?: string;
}

export type RegistrationErrorCode = SafeFetchErrorCode | ErrorCode<"registration">;

export interface RegistrationError {
  code: RegistrationErrorCode;
  status?: number;
  /** A registered OAuth error code (RFC 7591 §3.2.2), never free text. */
  error?: string;
}

const GRANT_TYPES = ["authorization_code", "refresh_token"];
const CLIENT_ID = /^[\x21-\x7e]{1,512}$/;
const CLIENT_SECRET = /^[\x21-\x7e]{1,1024}$/;
const AUTH_METHODS = new Set<string>(["none", "client_secret_post", "client_secret_basic"]);

const origin = (publicOrigin: string) => new URL(publicOrigin).origin;

/** Where we publish our client metadata document; this URL is also the CIMD client_id. */
export const clientMetadataUrl = (publicOrigin: string) => `${origin(publicOrigin)}${CLIENT_METADATA_PATH}`;

/** The one redirect URI upstream authorization servers send users back to. */
export const mcpCallbackUrl = (publicOrigin: string) => `${origin(publicOrigin)}${MCP_CALLBACK_PATH}`;

/** The JSON document served at `clientMetadataUrl(publicOrigin)`. */
export function clientMetadataDocument(publicOrigin: string) {
  return {
    client_id: clientMetadataUrl(publicOrigin),
    client_name: CLIENT_NAME,
    client_uri: origin(publicOrigin),
    redirect_uris: [mcpCallbackUrl(publicOrigin)],
    grant_types: GRANT_TYPES,
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  };
}

/** Pick how to identify ourselves: configuration wins, then CIMD when advertised (and we are https), else DCR. */
export function chooseClientRegistration(
  as: Pick<AuthorizationServer, "clientIdMetadataDocumentSupported">,
  config: RegistrationConfig,
): ClientRegistration {
  if (config.clientId) {
    return {
      kind: "preregistered",
      clientId: config.clientId,
      ...(config.clientSecret ? { clientSecret: config.clientSecret } : {}),
    };
  }
  // The upstream must fetch our metadata document: never offered from a plain-http (loopback dev) origin.
  if (as.clientIdMetadataDocumentSupported && new URL(config.publicOrigin).protocol === "https:") {
    return { kind: "cimd", clientId: clientMetadataUrl(config.publicOrigin) };
  }
  return { kind: "dcr" };
}

/** Register a public client with the upstream by RFC 7591 Dynamic Client Registration. */
export async function registerClient(
  as: Pick<AuthorizationServer, "registrationEndpoint">,
  metadata: { redirectUri: string },
  options: UpstreamOptions,
): Promise<Result<UpstreamClient, RegistrationError>> {
  if (as.registrationEndpoint === undefined) return err({ code: "registration_unsupported" });
  const body = {
    client_name: CLIENT_NAME,
    redirect_uris: [metadata.redirectUri],
    grant_types: GRANT_TYPES,
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  };
  const response = await fetchJson(
    as.registrationEndpoint,
    {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    },
    options,
  );
  if (!response.ok) {
    return err({ code: response.error.code, ...(response.error.status ? { status: response.error.status } : {}) });
  }
  const { status, json } = response.value;
  if (status !== 200 && status !== 201) {
    const error = oauthErrorCode(json?.error);
    return err({ code: "registration_failed", status, ...(error ? { error } : {}) });
  }
  if (!json) return err({ code: "registration_invalid" });
  const { client_id: clientId, client_secret: secret, token_endpoint_auth_method: method } = json;
  if (typeof clientId !== "string" || !CLIENT_ID.test(clientId)) return err({ code: "registration_invalid" });
  if (secret !== undefined && (typeof secret !== "string" || !CLIENT_SECRET.test(secret))) {
    return err({ code: "registration_invalid" });
  }
  if (method !== undefined && (typeof method !== "string" || !AUTH_METHODS.has(method))) {
    return err({ code: "registration_invalid" });
  }
  const uris = json.redirect_uris;
  if (uris !== undefined && (!Array.isArray(uris) || !uris.includes(metadata.redirectUri))) {
    return err({ code: "registration_invalid" });
  }
  const client: UpstreamClient = { clientId };
  // A secret we did not ask for is kept: the server decided we are confidential (RFC 7591 §3.2.1).
  if (secret !== undefined) client.clientSecret = secret;
  client.authMethod = (method as TokenEndpointAuthMethod | undefined) ?? (secret ? "client_secret_basic" : "none");
  if (client.authMethod !== "none" && !client.clientSecret) return err({ code: "registration_invalid" });
  const expires = json.client_secret_expires_at;
  if (secret !== undefined && typeof expires === "number" && Number.isFinite(expires) && expires >= 0) {
    client.clientSecretExpiresAt = expires;
  }
  return ok(client);
}
