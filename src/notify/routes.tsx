/**
 * The person's notification settings, as POST forms on /activity: add this browser's push
 * subscription, remove a device, set or remove the webhook. Each form is checked like every
 * /activity form (signed in, same origin, the page's CSRF token) before anything is read, and
 * each input is vetted (targets.ts) before the person's Durable Object stores it. A refusal
 * names its stable code and stores nothing.
 */
import { Hono } from "hono/tiny";
import { ACTIVITY_CSRF } from "../activity/rules-routes";
import { sessionFor } from "../session/user-session";
import type { WebContext, WebEnv } from "../web/context";
import { signedInForm } from "../web/guards";
import { MessagePage } from "../web/layout";
import { WebhookSetPage } from "./section";
import type { NotifyError } from "./targets";
import { parseDeviceName, parseSubscription, parseWebhookUrl } from "./targets";

export const notifyRoutes = new Hono<WebEnv>();

const back = { href: "/activity#notify", label: "Back to activity" };

function refused(c: WebContext, error: NotifyError, status: 400 | 404 | 409 = 400) {
  return c.html(<MessagePage title="Not saved" message={error.message} code={error.code} back={back} />, status);
}

notifyRoutes.post("/activity/devices", async (c) => {
  const checked = await signedInForm(c, ACTIVITY_CSRF);
  if (checked instanceof Response) return checked;
  const { user, form } = checked;
  const devMode = c.get("config").devMode;
  const name = parseDeviceName(form.get("name"));
  if (!name.ok) return refused(c, name.error);
  const subscription = parseSubscription(form.get("subscription"), devMode);
  if (!subscription.ok) return refused(c, subscription.error);
  const added = await sessionFor(c.env.SESSION, user.userId).addDevice(name.value, subscription.value);
  if (!added.ok) return refused(c, added.error, added.error.code === "too_many_devices" ? 409 : 400);
  return c.redirect("/activity#notify", 303);
});

notifyRoutes.post("/activity/devices/:id/remove", async (c) => {
  const checked = await signedInForm(c, ACTIVITY_CSRF);
  if (checked instanceof Response) return checked;
  const removed = await sessionFor(c.env.SESSION, checked.user.userId).removeDevice(c.req.param("id"));
  if (!removed) return refused(c, { code: "not_found", message: "There is no such device in your account." }, 404);
  return c.redirect("/activity#notify", 303);
});

notifyRoutes.post("/activity/webhook", async (c) => {
  const checked = await signedInForm(c, ACTIVITY_CSRF);
  if (checked instanceof Response) return checked;
  const url = parseWebhookUrl(checked.form.get("url"), c.get("config").devMode);
  if (!url.ok) return refused(c, url.error);
  const { secret } = await sessionFor(c.env.SESSION, checked.user.userId).setWebhook(url.value);
  return c.html(<WebhookSetPage url={url.value} secret={secret} />);
});

notifyRoutes.post("/activity/webhook/remove", async (c) => {
  const checked = await signedInForm(c, ACTIVITY_CSRF);
  if (checked instanceof Response) return checked;
  const removed = await sessionFor(c.env.SESSION, checked.user.userId).removeWebhook();
  if (!removed) return refused(c, { code: "not_found", message: "There is no webhook to remove." }, 404);
  return c.redirect("/activity#notify", 303);
});
