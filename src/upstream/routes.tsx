/**
 * Upstream MCP servers on /connections: add one by URL, connect it (OAuth 2.1 with discovery,
 * client registration and PKCE, or a pasted API key), accept reads, refresh, disconnect, remove;
 * plus the client metadata document upstream authorization servers fetch to identify us (CIMD).
 *
 * Invariants: every POST carries the page's CSRF token and acts only on a server found in the
 * signed-in person's own Durable Object; the OAuth state is bound to this browser and this
 * person and burned before the code exchange; every upstream hop (probe, metadata, registration,
 * authorization, token) is vetted by the endpoint gate and never followed through a redirect;
 * secrets go to the vault and never back to a page.
 */
import { Hono } from "hono";
import {
  beginConnect,
  clearConnectCookie,
  finishConnect,
  type McpConnectTransaction,
} from "../connections/transaction";
import { log } from "../lib/log";
import { hasControlCharacters } from "../lib/text";
import { sessionFor } from "../session/user-session";
import type { WebContext, WebEnv } from "../web/context";
import { refuseForeignForm, requireUser } from "../web/guards";
import { MessagePage } from "../web/layout";
import { discoverAuthorizationServer, discoverProtectedResource } from "./client/discovery";
import { parseEndpoint } from "./client/endpoint";
import { authorizationUrl, exchangeCode, verifyAuthorizationResponse } from "./client/oauth";
import { probeServer } from "./client/probe";
import {
  CLIENT_METADATA_PATH,
  chooseClientRegistration,
  clientMetadataDocument,
  MCP_CALLBACK_PATH,
  mcpCallbackUrl,
  registerClient,
  type UpstreamClient,
} from "./client/registration";
import type { OAuthBinding, ServerView as UpstreamServer } from "./store";

/** Shared with the provider half of /connections: one page, one CSRF scope. */
export const CSRF_SCOPE = "connections";
const MAX_SECRET_LENGTH = 4096;
const HEADER_NAME = /^[A-Za-z0-9-]{1,64}$/;
const FORBIDDEN_KEY_HEADERS = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "te",
  "upgrade",
  "cookie",
  "mcp-session-id",
  "mcp-protocol-version",
  "content-type",
  "accept",
]);

const ADD_MESSAGES: Record<string, string> = {
  name_invalid: "Use 1-24 lower-case letters, digits and single hyphens, starting with a letter.",
  name_reserved: "That name is reserved. Pick another.",
  name_taken: "You already have a server with that name.",
  url_invalid: "The URL must be https, with a public host, and no userinfo, fragment or unusual characters.",
  too_many_servers: "You have reached the limit of 20 servers.",
};

const serverPage = (name: string) =>
  `/connections?server=${encodeURIComponent(name)}#server-${encodeURIComponent(name)}`;

function fail(c: WebContext, status: 400 | 403 | 404 | 502, title: string, message: string, code: string) {
  return c.html(
    <MessagePage
      title={title}
      message={message}
      code={code}
      back={{ href: "/connections#mcp-servers", label: "Back to connections" }}
    />,
    status,
  );
}

export const mcpServerRoutes = new Hono<WebEnv>();

// RFC 7591 metadata of the client we are to upstream authorization servers (MCP CIMD).
mcpServerRoutes.get(CLIENT_METADATA_PATH, (c) => {
  c.header("Cache-Control", "public, max-age=3600");
  return c.json(clientMetadataDocument(c.get("config").publicOrigin));
});

/** The signed-in person and their checked form, or the page that refuses them. */
async function formOf(c: WebContext) {
  const user = await requireUser(c);
  if (user instanceof Response) return user;
  const form = await c.req.formData();
  const refused = await refuseForeignForm(c, user, form, CSRF_SCOPE);
  if (refused) return refused;
  return { user, form, session: sessionFor(c.env.SESSION, user.userId) };
}

/** The named server of this person, or a 404 page. */
async function ownServer(c: WebContext, userId: string): Promise<UpstreamServer | Response> {
  const server = await sessionFor(c.env.SESSION, userId).upstreamServer(userId, c.req.param("name") ?? "");
  return server ?? fail(c, 404, "Unknown server", "You have no MCP server by that name.", "not_found");
}

mcpServerRoutes.post("/connections/mcp/add", async (c) => {
  const checked = await formOf(c);
  if (checked instanceof Response) return checked;
  const name = String(checked.form.get("name") ?? "").trim();
  const url = String(checked.form.get("url") ?? "").trim();
  const added = await checked.session.addUpstreamServer(checked.user.userId, name, url, "human");
  if (!added.ok)
    return fail(c, 400, "Server not added", ADD_MESSAGES[added.code] ?? "Check the name and URL.", added.code);
  return c.redirect(serverPage(added.server.name), 303);
});

mcpServerRoutes.post("/connections/mcp/:name/connect", async (c) => {
  const checked = await formOf(c);
  if (checked instanceof Response) return checked;
  const { user, form, session } = checked;
  let server = await ownServer(c, user.userId);
  if (server instanceof Response) return server;
  if (server.auth === "unknown" || server.auth === "none" || server.status === "error") {
    server = (await session.detectUpstreamServer(user.userId, server.name)) ?? server;
  }
  if (server.auth !== "oauth") return c.redirect(serverPage(server.name), 303);
  const config = c.get("config");
  const options = { allowLoopback: config.upstreamLoopback };
  const probe = await probeServer(server.url, options);
  if (!probe.ok) {
    log.warn("upstream.probe_failed", { server: server.name, reason: probe.error.code });
    return fail(c, 502, "Cannot connect", "The server did not answer usably.", probe.error.code);
  }
  const challenge = probe.value.auth === "oauth" ? probe.value.challenge : null;
  const resource = await discoverProtectedResource(server.url, challenge, options);
  if (!resource.ok) {
    log.warn("upstream.discovery_failed", { server: server.name, reason: resource.error.code });
    return fail(c, 502, "Cannot connect", "The server's sign-in details could not be used.", resource.error.code);
  }
  const issuer = resource.value.authorizationServers[0];
  const as = issuer ? await discoverAuthorizationServer(issuer, options) : null;
  if (!as?.ok) {
    const code = as ? as.error.code : "metadata_invalid";
    log.warn("upstream.discovery_failed", { server: server.name, reason: code });
    return fail(c, 502, "Cannot connect", "The server's authorization server could not be used.", code);
  }
  const catalogue = config.mcpServers.find((entry) => entry.name === server.name && server.source === "catalogue");
  // A person brings their own client only for a server they added; the catalogue's is the operator's.
  const ownClientId = server.source === "user" ? String(form.get("client_id") ?? "").trim() : "";
  const ownSecret = server.source === "user" ? String(form.get("client_secret") ?? "").trim() : "";
  if (
    ownClientId.length > 512 ||
    ownSecret.length > MAX_SECRET_LENGTH ||
    hasControlCharacters(ownClientId + ownSecret)
  ) {
    return fail(c, 400, "Cannot connect", "Paste the client ID and secret exactly as issued.", "client_invalid");
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
    const reused = await session.upstreamRegisteredClient(user.userId, server.name, as.value.issuer);
    if (reused) client = reused;
    else {
      const registered = await registerClient(as.value, { redirectUri: mcpCallbackUrl(config.publicOrigin) }, options);
      if (!registered.ok) {
        log.warn("upstream.registration_failed", { server: server.name, reason: registered.error.code });
        return fail(c, 502, "Cannot connect", "The server did not let Countersign register.", registered.error.code);
      }
      client = registered.value;
    }
  }
  const registration: McpConnectTransaction["registration"] = choice.kind;
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
    registration,
  };
  // Vet the authorization endpoint before a transaction exists, so a refusal leaves nothing behind.
  const endpoint = parseEndpoint(as.value.authorizationEndpoint, options);
  if (!endpoint.ok) {
    return fail(c, 502, "Cannot connect", "The server's sign-in address is not usable.", endpoint.error.code);
  }
  const started = await beginConnect(config, c.env.OAUTH_KV, user.userId, `mcp:${server.name}`, transaction);
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
  if (!url.ok) return fail(c, 502, "Cannot connect", "The server's sign-in address is not usable.", url.error.code);
  c.header("Set-Cookie", started.cookie);
  return c.redirect(url.value, 302);
});

mcpServerRoutes.get(MCP_CALLBACK_PATH, async (c) => {
  // Signed out: keep the binding cookie so the callback can finish after signing in.
  const user = await requireUser(c);
  if (user instanceof Response) return user;
  c.header("Set-Cookie", clearConnectCookie(), { append: true });
  const config = c.get("config");
  const finished = await finishConnect(config, c.env.OAUTH_KV, c.req.raw, user.userId, (hash) =>
    sessionFor(c.env.SESSION, user.userId).claimConnectState(hash),
  );
  if (!finished.ok || !finished.value.mcp) {
    const reason = finished.ok ? "transaction_invalid" : finished.error;
    log.warn("upstream.callback_rejected", { reason });
    return fail(c, 400, "Connection failed", "This connection link is not valid any more. Start again.", reason);
  }
  const tx = finished.value.mcp;
  const session = sessionFor(c.env.SESSION, user.userId);
  const server = await session.upstreamServer(user.userId, tx.server);
  if (!server || server.url !== tx.serverUrl) {
    return fail(
      c,
      400,
      "Connection failed",
      "The server changed while you were signing in. Start again.",
      "server_changed",
    );
  }
  const as = tx.authorizationServer;
  const verified = verifyAuthorizationResponse(as, new URL(c.req.url).searchParams);
  if (!verified.ok) {
    log.warn("upstream.callback_rejected", { server: tx.server, reason: verified.error.code });
    return fail(c, 400, "Not connected", "The server did not grant access.", verified.error.code);
  }
  const options = { allowLoopback: config.upstreamLoopback };
  const tokens = await exchangeCode(
    as,
    {
      client: tx.client,
      code: verified.value.authorizationCode,
      codeVerifier: finished.value.verifier,
      redirectUri: mcpCallbackUrl(config.publicOrigin),
      resource: tx.resource,
    },
    { ...options, now: Date.now() },
  );
  if (!tokens.ok) {
    log.warn("upstream.exchange_failed", { server: tx.server, reason: tokens.error.code });
    return fail(c, 502, "Not connected", "The server refused the connection. Try again.", tokens.error.code);
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
  await session.connectUpstreamOAuth(user.userId, tx.server, tokens.value, binding, keepSecret);
  log.info("upstream.connected", { userId: user.userId, server: tx.server });
  return c.redirect(serverPage(tx.server), 303);
});

mcpServerRoutes.post("/connections/mcp/:name/api-key", async (c) => {
  const checked = await formOf(c);
  if (checked instanceof Response) return checked;
  const server = await ownServer(c, checked.user.userId);
  if (server instanceof Response) return server;
  const key = String(checked.form.get("api_key") ?? "").trim();
  const header = String(checked.form.get("header") ?? "Authorization").trim() || "Authorization";
  const lower = header.toLowerCase();
  const headerOk =
    HEADER_NAME.test(header) &&
    !FORBIDDEN_KEY_HEADERS.has(lower) &&
    !lower.startsWith("proxy-") &&
    !lower.startsWith("cf-");
  if (!key || key.length > MAX_SECRET_LENGTH || hasControlCharacters(key) || !headerOk) {
    return fail(
      c,
      400,
      "Key not saved",
      "Paste the API key exactly as the server shows it, and a plain header name.",
      "invalid_key",
    );
  }
  await checked.session.connectUpstreamApiKey(checked.user.userId, server.name, key, header);
  return c.redirect(serverPage(server.name), 303);
});

mcpServerRoutes.post("/connections/mcp/:name/reads", async (c) => {
  const checked = await formOf(c);
  if (checked instanceof Response) return checked;
  const server = await ownServer(c, checked.user.userId);
  if (server instanceof Response) return server;
  const tools = checked.form.getAll("tools").map(String).slice(0, 500);
  const saved = await checked.session.setUpstreamReadTools(checked.user.userId, server.name, tools);
  if (!saved)
    return fail(
      c,
      400,
      "Not saved",
      "Reads of a server from the catalogue are set by the operator.",
      "catalogue_server",
    );
  return c.redirect(serverPage(server.name), 303);
});

mcpServerRoutes.post("/connections/mcp/:name/refresh", async (c) => {
  const checked = await formOf(c);
  if (checked instanceof Response) return checked;
  const server = await ownServer(c, checked.user.userId);
  if (server instanceof Response) return server;
  await checked.session.refreshUpstreamTools(checked.user.userId, server.name);
  return c.redirect(serverPage(server.name), 303);
});

for (const action of ["disconnect", "remove"] as const) {
  mcpServerRoutes.post(`/connections/mcp/:name/${action}`, async (c) => {
    const checked = await formOf(c);
    if (checked instanceof Response) return checked;
    // Ownership first: only a server found in this person's own object is revoked and purged.
    const server = await ownServer(c, checked.user.userId);
    if (server instanceof Response) return server;
    const result = await checked.session.disconnectUpstream(checked.user.userId, server.name, action === "remove");
    if (!result)
      return fail(
        c,
        400,
        "Not removed",
        "Servers from the catalogue can be disconnected, not removed.",
        "catalogue_server",
      );
    return c.redirect(action === "remove" ? "/connections#mcp-servers" : serverPage(server.name), 303);
  });
}
