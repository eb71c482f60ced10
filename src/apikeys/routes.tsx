/**
 * /activity POST routes for personal API keys: create one (shown once) and revoke one. Each form
 * is checked like every /activity form (signed in, our Origin, the page's CSRF token) before
 * anything is read. The key is made here and only its SHA-256 goes to the person's Durable
 * Object; the KV index `cs:apikey:<id>` -> user id is written only after the object accepted the
 * key, and deleted only after the person's own object found and revoked it, so another person's
 * key id looks exactly like a missing one and its index is never touched.
 */
import { Hono } from "hono/tiny";
import { ACTIVITY_CSRF } from "../activity/rules-routes";
import { sha256Hex } from "../lib/crypto";
import { apiKeyIndexKey } from "../lib/storage-keys";
import { sessionFor, type UserSession } from "../session/user-session";
import type { WebContext, WebEnv } from "../web/context";
import { signedInForm } from "../web/guards";
import { MessagePage } from "../web/layout";
import { type ApiKeyError, generateApiKey, isApiKeyId, parseKeyDays, parseKeyName } from "./key";
import { ApiKeyCreatedPage } from "./section";

export const apiKeyRoutes = new Hono<WebEnv>();

const back = { href: "/activity#api-keys", label: "Back to activity" };

function refused(c: WebContext, error: ApiKeyError, status: 400 | 404 | 409 = 400) {
  return c.html(<MessagePage title="Not saved" message={error.message} code={error.code} back={back} />, status);
}

apiKeyRoutes.post("/activity/api-keys", async (c) => {
  const checked = await signedInForm(c, ACTIVITY_CSRF);
  if (checked instanceof Response) return checked;
  const { user, form } = checked;
  const name = parseKeyName(form.get("name"));
  if (!name.ok) return refused(c, name.error);
  const days = parseKeyDays(form.get("days"));
  if (!days.ok) return refused(c, days.error);
  const { id, key } = generateApiKey();
  const created = await sessionFor(c.env.SESSION, user.userId).createApiKey({
    id,
    name: name.value,
    hash: await sha256Hex(key),
    days: days.value,
    issuer: user.issuer,
    subject: user.subject,
    email: user.email ?? null,
  });
  if (!created.ok) return refused(c, created.error, created.error.code === "too_many_keys" ? 409 : 400);
  // The index lives exactly as long as the key: an expired key is not even found.
  const ttl = Math.max(60, Math.ceil((created.value.expiresAt - Date.now()) / 1000));
  await c.env.OAUTH_KV.put(apiKeyIndexKey(id), user.userId, { expirationTtl: ttl });
  return c.html(<ApiKeyCreatedPage apiKey={created.value} value={key} />);
});

apiKeyRoutes.post("/activity/api-keys/:id/revoke", async (c) => {
  const checked = await signedInForm(c, ACTIVITY_CSRF);
  if (checked instanceof Response) return checked;
  const id = c.req.param("id");
  const revoked = isApiKeyId(id) && (await sessionFor(c.env.SESSION, checked.user.userId).revokeApiKey(id));
  if (!revoked) return refused(c, { code: "not_found", message: "There is no such API key in your account." }, 404);
  await c.env.OAUTH_KV.delete(apiKeyIndexKey(id));
  return c.redirect("/activity#api-keys", 303);
});

/** Before the person's data is erased: drop the KV index of each of their keys. */
export async function forgetApiKeys(env: Env, session: DurableObjectStub<UserSession>): Promise<void> {
  for (const key of await session.apiKeys()) await env.OAUTH_KV.delete(apiKeyIndexKey(key.id));
}
