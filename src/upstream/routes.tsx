/**
 * Upstream MCP servers on /connections: add one by URL, connect it (OAuth in connect.ts, or a
 * pasted API key), the reads question a connect ends on, refresh, disconnect, remove; plus the
 * client metadata document upstream authorization servers fetch to identify us (CIMD). Each
 * route parses, calls one function of the feature and renders.
 *
 * Invariants: every POST carries the page's CSRF token and acts only on a server found in the
 * signed-in person's own Durable Object; an API key goes only in a header that no agent may set
 * and that does not route or frame the request; secrets go to the vault and never back to a page;
 * a reads choice is stored whole or refused with a code; Disconnect and Remove act only on a
 * second POST with `confirm=yes` (the first one shows what they will do and changes nothing).
 * A connect or key form sent from an approval page carries `return_to`, checked before anything
 * happens (connections/approval-return.tsx); the reads question, when there is one, comes first
 * and carries the checked path on, then the browser lands back on that approval page.
 */
import { Hono } from "hono/tiny";
import { approvalPath, csrfToken, linkToken, linkTokenHash } from "../approvals/link";
import type { Config } from "../config";
import { approvalReturnOf } from "../connections/approval-return";
import { CSRF_SCOPE } from "../connections/csrf";
import { clearConnectCookie } from "../connections/transaction";
import { isReservedHeader } from "../grants/canonical";
import { err, ok, type Result } from "../lib/result";
import { parseApprovalReturn } from "../lib/return-to";
import { hasControlCharacters } from "../lib/text";
import { sessionFor } from "../session/user-session";
import { ConfirmPage, isConfirmed } from "../web/confirm";
import type { WebContext, WebEnv } from "../web/context";
import { refuseForeignForm, requireUser } from "../web/guards";
import { MessagePage } from "../web/layout";
import { CLIENT_METADATA_PATH, clientMetadataDocument, MCP_CALLBACK_PATH } from "./client/registration";
import { type FinishFailure, finishOAuth, type StartFailure, startOAuth } from "./connect";
import { parseReadNames, type ReadChoiceError, readClaims } from "./reads";
import { ReadsPage } from "./reads-page";
import type { ServerView } from "./store";

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
/**
 * The reads question's address. On the way back to an approval page it carries only the
 * request's id (`request`), never its link token: this address lands in the browser's history and
 * in request logs. The path back is rebuilt from the id (`readsReturn`).
 */
function readsPage(name: string, returnTo?: string): string {
  const back = returnTo === undefined ? null : parseApprovalReturn(returnTo);
  const query = back?.ok ? `?request=${back.value.requestId}` : "";
  return `/connections/mcp/${encodeURIComponent(name)}/reads${query}`;
}

/** Whether the person is asked which tools are reads: a server of their own, connected, with tools that say so. */
const asksReads = (server: ServerView) =>
  server.source === "user" && server.status === "connected" && readClaims(server.tools).length > 0;

/**
 * Where a connect ends: the reads question when there is one to ask (skipping it would make every
 * read a write), else the approval page it was started from, else the server on /connections.
 */
const landing = (server: ServerView | null, name: string, returnTo?: string) =>
  server && asksReads(server) ? readsPage(name, returnTo) : (returnTo ?? serverPage(name));

const REQUEST_ID = /^req_[A-Za-z0-9_-]{22}$/;

type ReadsReturnFailure = "return_to_invalid" | "not_found";

/**
 * The reads question's way back to an approval page: absent, or exactly a request id of the
 * signed-in person's own request, from which the approval link is rebuilt (approvals/link.ts).
 * The link carries a token derived from the id, so another person's id is refused as no request
 * at all: the way back never hands anyone a link that is not theirs. Whether the request is still
 * pending does not matter to saving reads: a decided request's link shows its outcome.
 */
async function readsReturn(
  config: Config,
  session: ReturnType<typeof sessionFor>,
  raw: unknown,
): Promise<Result<string | undefined, ReadsReturnFailure>> {
  if (raw === undefined || raw === null) return ok(undefined);
  if (typeof raw !== "string" || !REQUEST_ID.test(raw)) return err("return_to_invalid");
  if (!(await session.viewRequest(raw, await linkTokenHash(await linkToken(config, raw))))) return err("not_found");
  return ok(await approvalPath(config, raw));
}

const RETURN_REFUSALS: Record<ReadsReturnFailure, [400 | 404, string]> = {
  return_to_invalid: [400, "The reads question can only return to an approval page. Nothing was saved."],
  not_found: [404, "That approval request is not yours or does not exist. Nothing was saved."],
};

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
  return c.redirect(landing(added.server, added.server.name), 303);
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
  const back = await approvalReturnOf(c, session, form);
  if (back instanceof Response) return back;
  const context = { config: c.get("config"), kv: c.env.OAUTH_KV, userId: user.userId, session };
  const started = await startOAuth(context, server, {
    clientId: String(form.get("client_id") ?? "").trim(),
    clientSecret: String(form.get("client_secret") ?? "").trim(),
    ...back,
  });
  if (started.kind === "failed") return connectFailed(c, started.failure, started.code);
  if (started.kind === "not_oauth") {
    return c.redirect(landing(await session.upstreamServer(started.server), started.server, back.returnTo), 303);
  }
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
  return c.redirect(landing(await session.upstreamServer(finished.server), finished.server, finished.returnTo), 303);
});

mcpServerRoutes.post("/connections/mcp/:name/api-key", async (c) => {
  const checked = await serverForm(c);
  if (checked instanceof Response) return checked;
  const { server } = checked;
  const back = await approvalReturnOf(c, checked.session, checked.form);
  if (back instanceof Response) return back;
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
  const connected = await checked.session.connectUpstreamApiKey(server.name, key, header);
  return c.redirect(landing(connected, server.name, back.returnTo), 303);
});

/** Each refused reads choice as the page shows it. */
const READS_MESSAGES: Record<ReadChoiceError, string> = {
  tool_name_invalid: "That is not the name of a tool. Choose from the list.",
  tool_duplicated: "A tool was sent twice. Choose from the list again.",
  tool_not_offered: "A tool you sent is not one this server says only reads. Choose from the list again.",
  too_many_tools: "More tools were sent than a server may have.",
  catalogue_server: "Reads of a server from the catalogue are set by the operator.",
};

mcpServerRoutes.get("/connections/mcp/:name/reads", async (c) => {
  const user = await requireUser(c);
  if (user instanceof Response) return user;
  const session = sessionFor(c.env.SESSION, user.userId);
  const server = await session.upstreamServer(c.req.param("name"));
  if (!server) return fail(c, 404, "Unknown server", "You have no MCP server by that name.", "not_found");
  if (server.source !== "user") return fail(c, 400, "Not asked", READS_MESSAGES.catalogue_server, "catalogue_server");
  const requestId = c.req.query("request");
  const back = await readsReturn(c.get("config"), session, requestId);
  if (!back.ok) {
    const [status, message] = RETURN_REFUSALS[back.error];
    return fail(c, status, "Not asked", message, back.error);
  }
  if (!asksReads(server)) return c.redirect(back.value ?? serverPage(server.name), 303);
  const csrf = await csrfToken(c.get("config"), user.userId, CSRF_SCOPE);
  return c.html(
    <ReadsPage
      server={server}
      claims={readClaims(server.tools)}
      accepted={server.readTools}
      csrf={csrf}
      {...(back.value ? { requestId } : {})}
    />,
  );
});

mcpServerRoutes.post("/connections/mcp/:name/reads", async (c) => {
  const checked = await serverForm(c);
  if (checked instanceof Response) return checked;
  const { server } = checked;
  // Shape first, so a hostile form never reaches the Durable Object; membership is checked there.
  const back = await readsReturn(c.get("config"), checked.session, checked.form.get("request"));
  if (!back.ok) {
    const [status, message] = RETURN_REFUSALS[back.error];
    return fail(c, status, "Not saved", message, back.error);
  }
  const names = parseReadNames(checked.form.getAll("tools"));
  if (!names.ok) return fail(c, 400, "Not saved", READS_MESSAGES[names.error], names.error);
  const saved = await checked.session.setUpstreamReadTools(server.name, names.value);
  if (saved.ok) return c.redirect(back.value ?? serverPage(server.name), 303);
  if (saved.code === "not_found")
    return fail(c, 404, "Unknown server", "You have no MCP server by that name.", saved.code);
  return fail(c, 400, "Not saved", READS_MESSAGES[saved.code], saved.code);
});

mcpServerRoutes.post("/connections/mcp/:name/refresh", async (c) => {
  const checked = await serverForm(c);
  if (checked instanceof Response) return checked;
  const { server } = checked;
  await checked.session.refreshUpstreamTools(server.name);
  return c.redirect(serverPage(server.name), 303);
});

/** What Disconnect and Remove do, as the question says it before anything is done. */
function endingQuestion(action: "disconnect" | "remove", server: ServerView) {
  const verb = action === "remove" ? "Remove" : "Disconnect";
  return {
    title: `${verb} ${server.title}?`,
    consequences: [
      `Countersign signs out of ${server.title}: its tokens are revoked where the server supports that, and the stored key or tokens are deleted.`,
      `Every grant and pending request naming ${server.name} ends, and your assistant loses its ${server.name}__ tools.`,
      action === "remove"
        ? "The server leaves your list, with the reads you accepted: to use it again, add and connect it again."
        : "The server stays on your list: connect it again to use it.",
    ],
    confirm: `Yes, ${action}`,
  };
}

for (const action of ["disconnect", "remove"] as const) {
  mcpServerRoutes.post(`/connections/mcp/:name/${action}`, async (c) => {
    // Ownership first: only a server found in this person's own object is revoked and purged.
    const checked = await serverForm(c);
    if (checked instanceof Response) return checked;
    const { server } = checked;
    if (action === "remove" && server.source !== "user")
      return fail(
        c,
        400,
        "Not removed",
        "Servers from the catalogue can be disconnected, not removed.",
        "catalogue_server",
      );
    if (!isConfirmed(checked.form)) {
      // Nothing is done yet; the form's CSRF token was just checked, so the question carries it on.
      return c.html(
        <ConfirmPage
          {...endingQuestion(action, server)}
          action={`/connections/mcp/${encodeURIComponent(server.name)}/${action}`}
          csrf={String(checked.form.get("csrf"))}
          cancel={serverPage(server.name)}
        />,
      );
    }
    const result = await checked.session.disconnectUpstream(server.name, action === "remove");
    if (!result) return fail(c, 404, "Unknown server", "You have no MCP server by that name.", "not_found");
    return c.redirect(action === "remove" ? "/connections#mcp-servers" : serverPage(server.name), 303);
  });
}
