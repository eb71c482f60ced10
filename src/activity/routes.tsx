/**
 * /activity routes for the signed-in person: view, revoke a grant, disconnect an app (its
 * OAuth grant is revoked too), export, delete everything. Ownership is checked in the person's
 * own Durable Object BEFORE any side effect; another user's id looks exactly like a missing one.
 */
import { Hono } from "hono/tiny";
import { apiKeyRoutes, forgetApiKeys } from "../apikeys/routes";
import { csrfToken } from "../approvals/link";
import { endSignIn } from "../identity/signin-cookie";
import { log } from "../lib/log";
import { sessionFor } from "../session/user-session";
import type { WebBindings, WebEnv } from "../web/context";
import { refuseForeignForm, requireUser } from "../web/guards";
import { MessagePage } from "../web/layout";
import { SCRIPT_PAGE_CSP } from "../web/security";
import { ActivityPage } from "./page";
import { ACTIVITY_CSRF, ruleChoices, ruleRoutes } from "./rules-routes";

/** Revoke the OAuth grants (MCP client tokens) behind one connection, or all of them. */
async function revokeOAuthGrants(env: WebBindings, userId: string, connectionId?: string): Promise<number> {
  let cursor: string | undefined;
  let revoked = 0;
  do {
    const page = await env.OAUTH_PROVIDER.listUserGrants(userId, cursor ? { cursor } : {});
    for (const grant of page.items) {
      const metadata = grant.metadata as { connectionId?: string } | undefined;
      if (connectionId === undefined || metadata?.connectionId === connectionId) {
        await env.OAUTH_PROVIDER.revokeGrant(grant.id, userId);
        revoked++;
      }
    }
    cursor = page.cursor;
  } while (cursor);
  return revoked;
}

export const activityRoutes = new Hono<WebEnv>();
activityRoutes.route("/", ruleRoutes);
activityRoutes.route("/", apiKeyRoutes);

activityRoutes.get("/activity", async (c) => {
  const user = await requireUser(c);
  if (user instanceof Response) return user;
  const session = sessionFor(c.env.SESSION, user.userId);
  const [activity, notify, apiKeys] = await Promise.all([session.activity(), session.notifyView(), session.apiKeys()]);
  const csrf = await csrfToken(c.get("config"), user.userId, ACTIVITY_CSRF);
  const config = c.get("config");
  const names = (id: string) => config.registry.byId(id)?.name ?? id;
  const rules = await ruleChoices(config, session);
  c.header("Content-Security-Policy", SCRIPT_PAGE_CSP);
  return c.html(
    <ActivityPage
      user={user}
      activity={activity}
      notify={notify}
      csrf={csrf}
      now={Date.now()}
      names={names}
      rules={rules}
      apiKeys={apiKeys}
    />,
  );
});

activityRoutes.get("/activity/export.json", async (c) => {
  const user = await requireUser(c);
  if (user instanceof Response) return user;
  const session = sessionFor(c.env.SESSION, user.userId);
  const [data, notify] = await Promise.all([session.exportAll(), session.notifyView()]);
  c.header("Content-Disposition", 'attachment; filename="countersign-activity.json"');
  return c.json({
    exported_at: new Date().toISOString(),
    user: { id: user.userId, email: user.email ?? null },
    connections: data.connections,
    grants: data.grants,
    rules: data.rules,
    // Devices by name and times, the webhook by its origin: endpoints, keys and a webhook's path
    // are credentials, and an export file travels.
    notifications: {
      devices: notify.devices,
      webhook: notify.webhook ? { origin: new URL(notify.webhook.url).origin, added_at: notify.webhook.addedAt } : null,
    },
    audit: data.audit,
  });
});

activityRoutes.post("/activity/grants/:id/revoke", async (c) => {
  const user = await requireUser(c);
  if (user instanceof Response) return user;
  const refused = await refuseForeignForm(c, user, await c.req.formData(), ACTIVITY_CSRF);
  if (refused) return refused;
  const grant = await sessionFor(c.env.SESSION, user.userId).revokeByOwner(c.req.param("id"));
  if (!grant)
    return c.html(
      <MessagePage title="Not found" message="There is no such request in your account." code="not_found" />,
      404,
    );
  return c.redirect("/activity", 303);
});

activityRoutes.post("/activity/connections/:id/revoke", async (c) => {
  const user = await requireUser(c);
  if (user instanceof Response) return user;
  const refused = await refuseForeignForm(c, user, await c.req.formData(), ACTIVITY_CSRF);
  if (refused) return refused;
  const connectionId = c.req.param("id");
  const connection = await sessionFor(c.env.SESSION, user.userId).revokeConnection(connectionId);
  if (!connection)
    return c.html(
      <MessagePage title="Not found" message="There is no such app in your account." code="not_found" />,
      404,
    );
  const tokens = await revokeOAuthGrants(c.env, user.userId, connectionId);
  log.info("activity.connection_revoked", { userId: user.userId, connectionId, tokens });
  return c.redirect("/activity", 303);
});

activityRoutes.post("/activity/delete", async (c) => {
  const user = await requireUser(c);
  if (user instanceof Response) return user;
  const form = await c.req.formData();
  const refused = await refuseForeignForm(c, user, form, ACTIVITY_CSRF);
  if (refused) return refused;
  if (form.get("confirm") !== "yes") {
    return c.html(<MessagePage title="Not deleted" message="Tick the box to confirm." code="confirm_required" />, 400);
  }
  const tokens = await revokeOAuthGrants(c.env, user.userId);
  await forgetApiKeys(c.env, sessionFor(c.env.SESSION, user.userId));
  await sessionFor(c.env.SESSION, user.userId).purge();
  log.info("activity.account_deleted", { userId: user.userId, tokens });
  c.header("Set-Cookie", endSignIn());
  return c.html(<MessagePage title="Deleted" message="Every app is disconnected and your data here is erased." />);
});
