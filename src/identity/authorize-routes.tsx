/**
 * The OAuth authorization endpoint for MCP clients. Order matters (confused deputy, MCP security
 * best practices): validate the request, show OUR consent page naming the client, and only after
 * the person allows it, sign them in upstream. The approved request is recovered from server-side
 * storage (`approveConsent`, `finishUpstream`), never from the form.
 */
import { AuthorizationError, type AuthRequest, CimdFetchError } from "@cloudflare/workers-oauth-provider";
import { Hono } from "hono/tiny";
import { randomToken } from "../lib/crypto";
import { log } from "../lib/log";
import { grantableScopes } from "../oauth/scopes";
import { sessionFor } from "../session/user-session";
import type { WebContext, WebEnv } from "../web/context";
import { MessagePage } from "../web/layout";
import { CSP } from "../web/security";
import { ConsentPage } from "./consent-page";
import type { AuthProps } from "./props";
import { readSignIn } from "./signin-cookie";
import type { SignedInUser } from "./user";

interface UpstreamData {
  remember: boolean;
}

function renderError(c: WebContext, error: unknown): Response | Promise<Response> {
  if (error instanceof AuthorizationError && error.redirectTo) {
    return c.redirect(error.redirectTo, 302);
  }
  if (error instanceof AuthorizationError || error instanceof CimdFetchError) {
    const code = error instanceof AuthorizationError ? error.code : "client_metadata_unavailable";
    const message =
      error instanceof AuthorizationError ? error.description : "This app's metadata document could not be verified.";
    log.warn("authorize.rejected", { code });
    return c.html(<MessagePage title="This connection request is not valid" message={message} code={code} />, 400);
  }
  throw error;
}

/** Issue the code: record the connection in the user's Durable Object, then redirect. */
async function complete(
  c: WebContext,
  request: AuthRequest,
  user: SignedInUser,
  remember: boolean,
  headers: Headers,
): Promise<Response> {
  const config = c.get("config");
  const oauth = c.env.OAUTH_PROVIDER;
  const client = await oauth.lookupClient(request.clientId);
  const clientName = client?.clientName ?? request.clientId;
  const connectionId = `c_${randomToken(16)}`;
  const session = sessionFor(c.env.SESSION, user.userId);
  if (remember) {
    await session.rememberConsent(
      { clientId: request.clientId, redirectUri: request.redirectUri, resource: config.resource },
      request.scope,
    );
  }
  await session.recordConnection({
    connectionId,
    clientId: request.clientId,
    clientName,
    redirectUri: request.redirectUri,
    scopes: request.scope,
  });
  const props: AuthProps = { ...user, clientId: request.clientId, clientName, connectionId, authorizedAt: Date.now() };
  const { redirectTo } = await oauth.completeAuthorization({
    request,
    userId: user.userId,
    metadata: { connectionId },
    scope: request.scope,
    props,
  });
  log.info("authorize.completed", { userId: user.userId, clientId: request.clientId, connectionId });
  headers.set("Location", redirectTo);
  return new Response(null, { status: 302, headers });
}

export const authorizeRoutes = new Hono<WebEnv>();

authorizeRoutes.get("/authorize", async (c) => {
  const config = c.get("config");
  const oauth = c.env.OAUTH_PROVIDER;
  try {
    const authRequest = await oauth.parseAuthRequest(c.req.raw);
    // Stored by beginConsent below: only scopes we grant ever reach the page or a token.
    authRequest.scope = grantableScopes(authRequest.scope);
    const user = await readSignIn(config, c.req.raw, Date.now());
    if (user) {
      const remembered = await sessionFor(c.env.SESSION, user.userId).consentCovers(
        { clientId: authRequest.clientId, redirectUri: authRequest.redirectUri, resource: config.resource },
        authRequest.scope,
      );
      if (remembered) return await complete(c, authRequest, user, false, new Headers());
    }
    const details = await oauth.describeConsent(authRequest);
    const consent = await oauth.beginConsent(authRequest);
    const page = <ConsentPage details={details} handle={consent.handle} user={user} />;
    consent.headers.set("Content-Type", "text/html; charset=utf-8");
    consent.headers.set("Content-Security-Policy", CSP);
    return new Response(`<!doctype html>${page}`, { headers: consent.headers });
  } catch (error) {
    return renderError(c, error);
  }
});

authorizeRoutes.post("/authorize", async (c) => {
  const config = c.get("config");
  const oauth = c.env.OAUTH_PROVIDER;
  try {
    const form = await c.req.formData();
    const handle = String(form.get("handle") ?? "");
    if (form.get("decision") !== "approve") {
      const denied = await oauth.denyConsent(c.req.raw, handle);
      return new Response(null, { status: 302, headers: denied.headers });
    }
    // The person can only narrow what the client asked for.
    const ticked = new Set(form.getAll("scope").map(String));
    const approved = await oauth.approveConsent(c.req.raw, handle);
    approved.request.scope = approved.request.scope.filter((scope) => ticked.has(scope));
    const remember = form.get("remember") === "yes";
    const user = await readSignIn(config, c.req.raw, Date.now());
    if (user) return await complete(c, approved.request, user, remember, approved.headers);
    const data: UpstreamData = { remember };
    const { state, headers } = await oauth.beginUpstream(approved.request, { data, headers: approved.headers });
    const resume = `/authorize/resume?${new URLSearchParams({ state })}`;
    headers.set("Location", `/signin?${new URLSearchParams({ return_to: resume })}`);
    return new Response(null, { status: 302, headers });
  } catch (error) {
    return renderError(c, error);
  }
});

authorizeRoutes.get("/authorize/resume", async (c) => {
  const config = c.get("config");
  try {
    const user = await readSignIn(config, c.req.raw, Date.now());
    if (!user) {
      const back = `/authorize/resume?${new URLSearchParams({ state: c.req.query("state") ?? "" })}`;
      return c.redirect(`/signin?${new URLSearchParams({ return_to: back })}`, 302);
    }
    const resumed = await c.env.OAUTH_PROVIDER.finishUpstream<UpstreamData>(c.req.raw);
    return await complete(c, resumed.request, user, resumed.data.remember === true, resumed.headers);
  } catch (error) {
    return renderError(c, error);
  }
});
