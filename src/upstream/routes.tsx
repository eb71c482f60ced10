/**
 * Upstream MCP servers on /connections: add one by URL, connect it (OAuth in connect.ts, or a
 * pasted API key), accept reads, refresh, disconnect, remove; plus the client metadata document
 * upstream authorization servers fetch to identify us (CIMD). Each route parses, calls one
 * function of the feature and renders.
 *
 * Invariants: every POST carries the page's CSRF token and acts only on a server found in the
 * signed-in person's own Durable Object; an API key goes only in a header that no agent may set
 * and that does not route or frame the request; secrets go to the vault and never back to a page.
 */
import { Hono } from "hono/tiny";
import { clearConnectCookie } from "../connections/transaction";
import { isReservedHeader } from "../grants/canonical";
import { hasControlCharacters } from "../lib/text";
import { sessionFor } from "../session/user-session";
import type { WebContext, WebEnv } from "../web/context";
import { refuseForeignForm, requireUser } from "../web/guards";
import { MessagePage } from "../web/layout";
import { CLIENT_METADATA_PATH, clientMetadataDocument, MCP_CALLBACK_PATH } from "./client/registration";
import { type FinishFailure, finishOAuth, type StartFailure, startOAuth } from "./connect";

/** Shared with the provider half of /connections: one page, one CSRF scope. */
export const CSRF_SCOPE = "connections";
const MAX_SECRET_LENGTH = 4096;
const HEADER_NAME = /^[A-Za-z0-9-]{1,64}$/;
/**
 * Headers an API key may not go in: those canonical.ts reserves from agents (routing, framing,
 * cookies, the proxy and path-override families) except the ones that exist to carry a key, plus
 * the MCP transport's own headers.
 */
const KEY_CARRIERS = new Set(["authorization", "x-api-key", "api-key", "x-auth-token"]);
const TRANSPORT_HEADERS = new Set(["mcp-session-id", "mcp-protocol-version", "content-type", "accept"]);

function keyHeaderAllowed(header: string): boolean {
  const lower = header.toLowerCase();
  return (
    HEADER_NAME.test(header) && (!isReservedHeader(lower) || KEY_CARRIERS.has(lower)) && !TRANSPORT_HEADERS.has(lower)
  );
}

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

/** The checked form and the named server, found in this person's own object; or the refusing page. */
async function serverForm(c: WebContext) {
  const checked = await formOf(c);
  if (checked instanceof Response) return checked;
  const server = await checked.session.upstreamServer(c.req.param("name") ?? "");
  if (!server) return fail(c, 404, "Unknown server", "You have no MCP server by that name.", "not_found");
  return { ...checked, server };
}

mcpServerRoutes.post("/connections/mcp/add", async (c) => {
  const checked = await formOf(c);
  if (checked instanceof Response) return checked;
  const name = String(checked.form.get("name") ?? "").trim();
  const url = String(checked.form.get("url") ?? "").trim();
  const added = await checked.session.addUpstreamServer(name, url, "human");
  if (!added.ok)
    return fail(c, 400, "Server not added", ADD_MESSAGES[added.code] ?? "Check the name and URL.", added.code);
  return c.redirect(serverPage(added.server.name), 303);
});

/** Each connect failure as the page shows it: status, title and wording, in one exhaustive table. */
const CONNECT_FAILURES: Record<StartFailure | FinishFailure, [400 | 502, string, string]> = {
  probe_failed: [502, "Cannot connect", "The server did not answer usably."],
  resource_unusable: [502, "Cannot connect", "The server's sign-in details could not be used."],
  authorization_server_unusable: [502, "Cannot connect", "The server's authorization server could not be used."],
  client_invalid: [400, "Cannot connect", "Paste the client ID and secret exactly as issued."],
  registration_failed: [502, "Cannot connect", "The server did not let Countersign register."],
  sign_in_unusable: [502, "Cannot connect", "The server's sign-in address is not usable."],
  link_invalid: [400, "Connection failed", "This connection link is not valid any more. Start again."],
  server_changed: [400, "Connection failed", "The server changed while you were signing in. Start again."],
  not_granted: [400, "Not connected", "The server did not grant access."],
  exchange_failed: [502, "Not connected", "The server refused the connection. Try again."],
};

function connectFailed(c: WebContext, failure: StartFailure | FinishFailure, code: string) {
  const [status, title, message] = CONNECT_FAILURES[failure];
  return fail(c, status, title, message, code);
}

mcpServerRoutes.post("/connections/mcp/:name/connect", async (c) => {
  const checked = await serverForm(c);
  if (checked instanceof Response) return checked;
  const { user, form, session, server } = checked;
  const context = { config: c.get("config"), kv: c.env.OAUTH_KV, userId: user.userId, session };
  const started = await startOAuth(context, server, {
    clientId: String(form.get("client_id") ?? "").trim(),
    clientSecret: String(form.get("client_secret") ?? "").trim(),
  });
  if (started.kind === "failed") return connectFailed(c, started.failure, started.code);
  if (started.kind === "not_oauth") return c.redirect(serverPage(started.server), 303);
  c.header("Set-Cookie", started.cookie);
  return c.redirect(started.url, 302);
});

mcpServerRoutes.get(MCP_CALLBACK_PATH, async (c) => {
  // Signed out: keep the binding cookie so the callback can finish after signing in.
  const user = await requireUser(c);
  if (user instanceof Response) return user;
  c.header("Set-Cookie", clearConnectCookie(), { append: true });
  const session = sessionFor(c.env.SESSION, user.userId);
  const context = { config: c.get("config"), kv: c.env.OAUTH_KV, userId: user.userId, session };
  const finished = await finishOAuth(context, c.req.raw);
  if (!finished.ok) return connectFailed(c, finished.failure, finished.code);
  return c.redirect(serverPage(finished.server), 303);
});

mcpServerRoutes.post("/connections/mcp/:name/api-key", async (c) => {
  const checked = await serverForm(c);
  if (checked instanceof Response) return checked;
  const { server } = checked;
  const key = String(checked.form.get("api_key") ?? "").trim();
  const header = String(checked.form.get("header") ?? "Authorization").trim() || "Authorization";
  if (!key || key.length > MAX_SECRET_LENGTH || hasControlCharacters(key) || !keyHeaderAllowed(header)) {
    return fail(
      c,
      400,
      "Key not saved",
      "Paste the API key exactly as the server shows it, and a plain header name.",
      "invalid_key",
    );
  }
  await checked.session.connectUpstreamApiKey(server.name, key, header);
  return c.redirect(serverPage(server.name), 303);
});

mcpServerRoutes.post("/connections/mcp/:name/reads", async (c) => {
  const checked = await serverForm(c);
  if (checked instanceof Response) return checked;
  const { server } = checked;
  const tools = checked.form.getAll("tools").map(String).slice(0, 500);
  const saved = await checked.session.setUpstreamReadTools(server.name, tools);
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
  const checked = await serverForm(c);
  if (checked instanceof Response) return checked;
  const { server } = checked;
  await checked.session.refreshUpstreamTools(server.name);
  return c.redirect(serverPage(server.name), 303);
});

for (const action of ["disconnect", "remove"] as const) {
  mcpServerRoutes.post(`/connections/mcp/:name/${action}`, async (c) => {
    // Ownership first: only a server found in this person's own object is revoked and purged.
    const checked = await serverForm(c);
    if (checked instanceof Response) return checked;
    const { server } = checked;
    const result = await checked.session.disconnectUpstream(server.name, action === "remove");
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
