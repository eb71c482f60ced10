/**
 * Connecting an upstream MCP server over OAuth 2.1 (MCP authorization): start (probe, RFC 9728
 * and RFC 8414 discovery, the client by preregistration, CIMD or RFC 7591 registration, PKCE and
 * the state-bound transaction, the authorization URL) and finish (the callback's state claimed
 * once, RFC 9207 checks, the code exchange, the tokens to the person's Durable Object). Each
 * returns a tagged result; the route turns it into a page.
 *
 * Invariants: every hop is vetted by the endpoint gate and never followed through a redirect;
 * the transaction is bound to this browser and this person, and its state is burned before the
 * code is exchanged; the authorization endpoint is vetted before a transaction exists, so a
 * refusal leaves nothing behind; a catalogue client's secret stays in configuration, any other
 * goes to the vault; no token or secret is in a result, a log line or a failure code.
 */
import type { Config } from "../config";
import { beginConnect, finishConnect, type McpConnectTransaction } from "../connections/transaction";
import type { ErrorCode } from "../lib/errors";
import { log } from "../lib/log";
import { hasControlCharacters } from "../lib/text";
import type { UserSession } from "../session/user-session";
import { discoverAuthorizationServer, discoverProtectedResource } from "./client/discovery";
import { parseEndpoint } from "./client/endpoint";
import { authorizationUrl, exchangeCode, verifyAuthorizationResponse } from "./client/oauth";
import { probeServer } from "./client/probe";
import { chooseClientRegistration, mcpCallbackUrl, registerClient, type UpstreamClient } from "./client/registration";
import type { OAuthBinding, ServerView } from "./store";

export interface ConnectContext {
  config: Config;
  /** Where connect transactions are kept (OAUTH_KV). */
  kv: KVNamespace;
  /** The signed-in person and their own Durable Object. */
  userId: string;
  session: DurableObjectStub<UserSession>;
}

/** A client the person brought for a server they added (empty strings: none). */
export interface OwnClient {
  clientId: string;
  clientSecret: string;
}

/** What the person chose on the form: their own client, and the checked approval page to return to. */
export interface StartChoices extends OwnClient {
  returnTo?: string;
}

/** Which hop of the start failed; the result's `code` is that hop's own code. */
export type StartFailure = ErrorCode<"connectStart">;

export type StartResult =
  | { kind: "authorize"; url: string; cookie: string }
  | { kind: "not_oauth"; server: string }
  | { kind: "failed"; failure: StartFailure; code: ErrorCode };

/** Which check of the callback failed; the result's `code` is that check's own code. */
export type FinishFailure = ErrorCode<"connectFinish">;

export type FinishResult =
  | { ok: true; server: string; returnTo?: string }
  | { ok: false; failure: FinishFailure; code: ErrorCode };

const MAX_CLIENT_ID_LENGTH = 512;
const MAX_SECRET_LENGTH = 4096;

const failed = (failure: StartFailure, code: ErrorCode): StartResult => ({ kind: "failed", failure, code });

/** Start an OAuth connection of one of the person's servers: the authorization URL and the binding cookie. */
export async function startOAuth(context: ConnectContext, found: ServerView, own: StartChoices): Promise<StartResult> {
  const { config, session } = context;
  let server = found;
  if (server.auth === "unknown" || server.auth === "none" || server.status === "error") {
    server = (await session.detectUpstreamServer(server.name)) ?? server;
  }
  if (server.auth !== "oauth") return { kind: "not_oauth", server: server.name };
  const options = { allowLoopback: config.upstreamLoopback };
  const probe = await probeServer(server.url, options);
  if (!probe.ok) {
    log.warn("upstream.probe_failed", { server: server.name, reason: probe.error.code });
    return failed("probe_failed", probe.error.code);
  }
  const challenge = probe.value.auth === "oauth" ? probe.value.challenge : null;
  const resource = await discoverProtectedResource(server.url, challenge, options);
  if (!resource.ok) {
    log.warn("upstream.discovery_failed", { server: server.name, reason: resource.error.code });
    return failed("resource_unusable", resource.error.code);
  }
  const issuer = resource.value.authorizationServers[0];
  const as = issuer ? await discoverAuthorizationServer(issuer, options) : null;
  if (!as?.ok) {
    const code = as ? as.error.code : "metadata_invalid";
    log.warn("upstream.discovery_failed", { server: server.name, reason: code });
    return failed("authorization_server_unusable", code);
  }
  const catalogue = config.mcpServers.find((entry) => entry.name === server.name && server.source === "catalogue");
  // A person brings their own client only for a server they added; the catalogue's is the operator's.
  const ownClientId = server.source === "user" ? own.clientId : "";
  const ownSecret = server.source === "user" ? own.clientSecret : "";
  if (
    ownClientId.length > MAX_CLIENT_ID_LENGTH ||
    ownSecret.length > MAX_SECRET_LENGTH ||
    hasControlCharacters(ownClientId + ownSecret)
  ) {
    return failed("client_invalid", "client_invalid");
  }
  const choice = chooseClientRegistration(as.value, {
    publicOrigin: config.publicOrigin,
    ...(catalogue?.clientId
      ? { clientId: catalogue.clientId, ...(catalogue.clientSecret ? { clientSecret: catalogue.clientSecret } : {}) }
      : ownClientId
        ? { clientId: ownClientId, ...(ownSecret ? { clientSecret: ownSecret } : {}) }
        : {}),
  });
  let client: UpstreamClient;
  if (choice.kind === "preregistered") {
    client = { clientId: choice.clientId, ...(choice.clientSecret ? { clientSecret: choice.clientSecret } : {}) };
  } else if (choice.kind === "cimd") {
    client = { clientId: choice.clientId, authMethod: "none" };
  } else {
    const reused = await session.upstreamRegisteredClient(server.name, as.value.issuer);
    if (reused) client = reused;
    else {
      const registered = await registerClient(as.value, { redirectUri: mcpCallbackUrl(config.publicOrigin) }, options);
      if (!registered.ok) {
        log.warn("upstream.registration_failed", { server: server.name, reason: registered.error.code });
        return failed("registration_failed", registered.error.code);
      }
      client = registered.value;
    }
  }
  const scope = challenge?.scope ?? resource.value.scopesSupported?.join(" ");
  const transaction: McpConnectTransaction = {
    server: server.name,
    serverUrl: server.url,
    resource: resource.value.resource,
    ...(scope ? { scope } : {}),
    authorizationServer: {
      issuer: as.value.issuer,
      authorizationEndpoint: as.value.authorizationEndpoint,
      tokenEndpoint: as.value.tokenEndpoint,
      ...(as.value.revocationEndpoint ? { revocationEndpoint: as.value.revocationEndpoint } : {}),
      ...(as.value.tokenEndpointAuthMethodsSupported
        ? { tokenEndpointAuthMethodsSupported: as.value.tokenEndpointAuthMethodsSupported }
        : {}),
      authorizationResponseIssParameterSupported: as.value.authorizationResponseIssParameterSupported,
    },
    client,
    registration: choice.kind,
  };
  const endpoint = parseEndpoint(as.value.authorizationEndpoint, options);
  if (!endpoint.ok) return failed("sign_in_unusable", endpoint.error.code);
  const started = await beginConnect(config, context.kv, context.userId, `mcp:${server.name}`, {
    mcp: transaction,
    ...(own.returnTo ? { returnTo: own.returnTo } : {}),
  });
  const url = authorizationUrl(
    as.value,
    {
      clientId: client.clientId,
      redirectUri: mcpCallbackUrl(config.publicOrigin),
      state: started.state,
      codeChallenge: started.challenge,
      resource: resource.value.resource,
      ...(scope ? { scope } : {}),
    },
    options,
  );
  if (!url.ok) return failed("sign_in_unusable", url.error.code);
  return { kind: "authorize", url: url.value, cookie: started.cookie };
}

/** Finish an OAuth connection at the callback: claim the state, exchange the code, store the tokens. */
export async function finishOAuth(context: ConnectContext, request: Request): Promise<FinishResult> {
  const { config, session, userId } = context;
  const finished = await finishConnect(config, context.kv, request, userId, (hash) => session.claimConnectState(hash));
  if (!finished.ok || !finished.value.mcp) {
    const reason: ErrorCode<"transaction"> = finished.ok ? "transaction_invalid" : finished.error;
    log.warn("upstream.callback_rejected", { reason });
    return { ok: false, failure: "link_invalid", code: reason };
  }
  const tx = finished.value.mcp;
  const server = await session.upstreamServer(tx.server);
  if (!server || server.url !== tx.serverUrl) return { ok: false, failure: "server_changed", code: "server_changed" };
  const as = tx.authorizationServer;
  const verified = verifyAuthorizationResponse(as, new URL(request.url).searchParams);
  if (!verified.ok) {
    log.warn("upstream.callback_rejected", { server: tx.server, reason: verified.error.code });
    return { ok: false, failure: "not_granted", code: verified.error.code };
  }
  const tokens = await exchangeCode(
    as,
    {
      client: tx.client,
      code: verified.value.authorizationCode,
      codeVerifier: finished.value.verifier,
      redirectUri: mcpCallbackUrl(config.publicOrigin),
      resource: tx.resource,
    },
    { allowLoopback: config.upstreamLoopback, now: Date.now() },
  );
  if (!tokens.ok) {
    log.warn("upstream.exchange_failed", { server: tx.server, reason: tokens.error.code });
    return { ok: false, failure: "exchange_failed", code: tokens.error.code };
  }
  const binding: OAuthBinding = {
    ...as,
    resource: tx.resource,
    ...(tx.scope ? { scope: tx.scope } : {}),
    clientId: tx.client.clientId,
    ...(tx.client.authMethod ? { authMethod: tx.client.authMethod } : {}),
    registration: tx.registration,
    hasClientSecret: false,
  };
  // A catalogue client's secret stays in configuration; any other secret goes to the vault.
  const keepSecret =
    tx.registration !== "preregistered" || server.source === "user" ? tx.client.clientSecret : undefined;
  await session.connectUpstreamOAuth(tx.server, tokens.value, binding, keepSecret);
  log.info("upstream.connected", { userId, server: tx.server });
  return { ok: true, server: tx.server, ...(finished.value.returnTo ? { returnTo: finished.value.returnTo } : {}) };
}
