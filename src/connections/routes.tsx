/**
 * /connections routes: connect a provider by OAuth (PKCE, state bound to this browser and to
 * the signed-in person), paste an API key, or disconnect (token revoked at the provider where
 * it supports that, vault record deleted, grants for it ended) once the person confirmed it on
 * a second POST with `confirm=yes`. Every POST carries a CSRF token.
 * A connect or key form sent from an approval page carries `return_to`, checked before anything
 * happens (approval-return.tsx); the browser then lands back on that approval page.
 */
import { Hono } from "hono/tiny";
import { csrfToken } from "../approvals/link";
import { DEMO_PROVIDER_ID, demoApiKey } from "../demo/demo-provider";
import { log } from "../lib/log";
import { hasControlCharacters } from "../lib/text";
import { providerApp } from "../providers/apps";
import { authorizeUrl, exchangeCode } from "../providers/oauth-client";
import { sessionFor } from "../session/user-session";
import { ConfirmPage, isConfirmed } from "../web/confirm";
import type { WebContext, WebEnv } from "../web/context";
import { refuseForeignForm, requireUser } from "../web/guards";
import { MessagePage } from "../web/layout";
import { refusalPage } from "../web/refusal";
import { approvalReturnOf } from "./approval-return";
import { CSRF_SCOPE } from "./csrf";
import { ConnectionsPage, type ProviderRow } from "./page";
import { beginConnect, clearConnectCookie, finishConnect } from "./transaction";

const MAX_KEY_LENGTH = 4096;

const callbackUrl = (c: WebContext) => `${c.get("config").publicOrigin}/connections/callback`;

function unknownProvider(c: WebContext) {
  return c.html(
    <MessagePage title="Unknown provider" message="There is no such provider here." code="unknown_provider" />,
    404,
  );
}

function notConnected(c: WebContext) {
  return c.html(<MessagePage title="Not connected" message="That provider is not connected." code="not_found" />, 404);
}

export const connectionRoutes = new Hono<WebEnv>();

connectionRoutes.get("/connections", async (c) => {
  const user = await requireUser(c);
  if (user instanceof Response) return user;
  const config = c.get("config");
  const session = sessionFor(c.env.SESSION, user.userId);
  const [links, servers] = await Promise.all([session.providerLinks(), session.upstreamServers()]);
  const demoKey = config.devMode ? await demoApiKey(config) : undefined;
  const rows: ProviderRow[] = config.registry.all().map((provider) => ({
    provider,
    link: links.find((link) => link.providerId === provider.id),
    configured: provider.auth.kind === "api_key" || providerApp(c.env, provider.id) !== null,
    ...(provider.id === DEMO_PROVIDER_ID && demoKey ? { demoKey } : {}),
  }));
  const csrf = await csrfToken(config, user.userId, CSRF_SCOPE);
  const connected = config.registry.byId(c.req.query("connected") ?? "");
  const notice = connected ? `${connected.name} is connected.` : undefined;
  const serverRows = servers.map((server) => ({
    server,
    accepted:
      server.source === "catalogue"
        ? (config.mcpServers.find((entry) => entry.name === server.name)?.readOnlyTools ?? [])
        : server.readTools,
  }));
  return c.html(
    <ConnectionsPage
      rows={rows}
      servers={serverRows}
      csrf={csrf}
      focus={c.req.query("provider") ?? c.req.query("server")}
      notice={notice}
    />,
  );
});

connectionRoutes.post("/connections/:id/connect", async (c) => {
  const user = await requireUser(c);
  if (user instanceof Response) return user;
  const form = await c.req.formData();
  const refused = await refuseForeignForm(c, user, form, CSRF_SCOPE);
  if (refused) return refused;
  const config = c.get("config");
  const provider = config.registry.byId(c.req.param("id"));
  if (!provider) return unknownProvider(c);
  const app = providerApp(c.env, provider.id);
  if (provider.auth.kind !== "oauth2" || !app) {
    return c.html(
      <MessagePage
        title="Not available"
        message="This provider cannot be connected with OAuth here."
        code="not_configured"
      />,
      400,
    );
  }
  const back = await approvalReturnOf(c, sessionFor(c.env.SESSION, user.userId), form);
  if (back instanceof Response) return back;
  const started = await beginConnect(config, c.env.OAUTH_KV, user.userId, provider.id, back);
  c.header("Set-Cookie", started.cookie);
  return c.redirect(authorizeUrl(provider.auth, app, callbackUrl(c), started.state, started.challenge), 302);
});

connectionRoutes.get("/connections/callback", async (c) => {
  // Signed out: keep the binding cookie so the callback can finish after signing in.
  const user = await requireUser(c);
  if (user instanceof Response) return user;
  c.header("Set-Cookie", clearConnectCookie(), { append: true });
  const config = c.get("config");
  const finished = await finishConnect(config, c.env.OAUTH_KV, c.req.raw, user.userId, (hash) =>
    sessionFor(c.env.SESSION, user.userId).claimConnectState(hash),
  );
  if (!finished.ok) {
    return refusalPage(c, 400, "connections.callback_rejected", {
      title: "Connection failed",
      message: "This connection link is not valid any more. Start again.",
      code: finished.error,
    });
  }
  const provider = config.registry.byId(finished.value.providerId);
  const app = provider ? providerApp(c.env, provider.id) : null;
  const code = c.req.query("code");
  if (provider?.auth.kind !== "oauth2" || !app || !code || c.req.query("error")) {
    return c.html(
      <MessagePage title="Not connected" message="The provider did not grant access." code="provider_denied" />,
      400,
    );
  }
  const tokens = await exchangeCode(provider.auth, app, code, finished.value.verifier, callbackUrl(c), Date.now());
  if (!tokens.ok) {
    return refusalPage(
      c,
      502,
      "connections.exchange_failed",
      { title: "Not connected", message: "The provider refused the connection. Try again.", code: tokens.error.code },
      { provider: provider.id },
    );
  }
  await sessionFor(c.env.SESSION, user.userId).connectProvider(provider.id, tokens.value);
  log.info("connections.connected", { userId: user.userId, provider: provider.id });
  return c.redirect(finished.value.returnTo ?? `/connections?connected=${encodeURIComponent(provider.id)}`, 303);
});

connectionRoutes.post("/connections/:id/api-key", async (c) => {
  const user = await requireUser(c);
  if (user instanceof Response) return user;
  const form = await c.req.formData();
  const refused = await refuseForeignForm(c, user, form, CSRF_SCOPE);
  if (refused) return refused;
  const provider = c.get("config").registry.byId(c.req.param("id"));
  if (!provider) return unknownProvider(c);
  const key = String(form.get("api_key") ?? "").trim();
  if (provider.auth.kind !== "api_key" || !key || key.length > MAX_KEY_LENGTH || hasControlCharacters(key)) {
    return c.html(
      <MessagePage
        title="Key not saved"
        message="Paste the API key exactly as the provider shows it."
        code="invalid_key"
      />,
      400,
    );
  }
  const session = sessionFor(c.env.SESSION, user.userId);
  const back = await approvalReturnOf(c, session, form);
  if (back instanceof Response) return back;
  const perAccount = (provider.hostSuffixes ?? []).length > 0;
  const accountHost = String(form.get("account_host") ?? "")
    .trim()
    .toLowerCase();
  const linked = await session.connectProvider(
    provider.id,
    { kind: "api_key", accessToken: key, obtainedAt: Date.now() },
    perAccount ? accountHost : undefined,
  );
  if (!linked) {
    return c.html(
      <MessagePage
        title="Key not saved"
        message={`Enter your account host, e.g. xy12345.us-east-1${provider.hostSuffixes?.[0] ?? ""}`}
        code="account_host_invalid"
      />,
      400,
    );
  }
  return c.redirect(back.returnTo ?? `/connections?connected=${encodeURIComponent(provider.id)}`, 303);
});

connectionRoutes.post("/connections/:id/disconnect", async (c) => {
  const user = await requireUser(c);
  if (user instanceof Response) return user;
  const form = await c.req.formData();
  const refused = await refuseForeignForm(c, user, form, CSRF_SCOPE);
  if (refused) return refused;
  const session = sessionFor(c.env.SESSION, user.userId);
  if (isConfirmed(form)) {
    // The object acts only on a link of this person's own (null when there is none).
    const result = await session.disconnectProvider(c.req.param("id"));
    if (!result) return notConnected(c);
    return c.redirect("/connections", 303);
  }
  // Only a link found in this person's own object is asked about (a provider left out of the
  // configuration can still be disconnected, under its id).
  const link = (await session.providerLinks()).find((candidate) => candidate.providerId === c.req.param("id"));
  if (!link) return notConnected(c);
  const id = encodeURIComponent(link.providerId);
  const name = c.get("config").registry.byId(link.providerId)?.name ?? link.providerId;
  // Nothing is done yet: the page says what Disconnect does and posts again with confirm=yes.
  return c.html(
    <ConfirmPage
      title={`Disconnect ${name}?`}
      consequences={[
        `Countersign revokes its token at ${name} where ${name} supports that, and deletes it.`,
        `Every grant and pending request for ${name} ends; your assistant cannot use it until you connect it again.`,
      ]}
      action={`/connections/${id}/disconnect`}
      csrf={String(form.get("csrf"))}
      confirm="Yes, disconnect"
      cancel={`/connections?provider=${id}#provider-${id}`}
    />,
  );
});
