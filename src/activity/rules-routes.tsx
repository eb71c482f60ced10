/**
 * /activity POST routes for standing rules and quick grant actions: add a rule, remove one,
 * "+15 min" on a live grant, and "Revoke everything". Each needs a signed-in person, our Origin
 * (web/security.ts, for every POST) and the page's CSRF token, all checked before anything is
 * read or changed. Everything happens in the person's own Durable Object, so another person's
 * rule or grant id looks exactly like one that does not exist.
 */
import { Hono } from "hono/tiny";
import type { Config } from "../config";
import { hourChoices } from "../grants/standing-rules";
import type { AccessLevel } from "../grants/types";
import { log } from "../lib/log";
import type { ExtendResult } from "../session/owner-actions";
import type { CreateRuleResult } from "../session/standing-rule-store";
import { sessionFor, type UserSession } from "../session/user-session";
import type { WebContext, WebEnv } from "../web/context";
import { refuseForeignForm, requireUser } from "../web/guards";
import { MessagePage } from "../web/layout";
import type { RuleChoices } from "./rules-section";

/** The scope of the /activity page's CSRF token (as in routes.tsx). */
export const ACTIVITY_CSRF = "activity";

/** The add form's "what" choices: an allow rule from this page can only read. */
const RULE_CHOICES: Record<string, { effect: "allow" | "never"; level: AccessLevel }> = {
  "allow-read": { effect: "allow", level: "read" },
  "never-write": { effect: "never", level: "write" },
  "never-read": { effect: "never", level: "read" },
};

const RULE_REFUSALS: Record<Extract<CreateRuleResult, { ok: false }>["code"], [number, string]> = {
  too_many_rules: [409, "You already have as many standing rules as allowed. Remove one first."],
  hours_invalid: [400, "Choose one of the listed durations."],
  write_rule_needs_approval: [400, "Allowing writes without asking can only be set when you approve a write request."],
  level_invalid: [400, "Choose what the rule allows or refuses."],
  effect_invalid: [400, "Choose what the rule allows or refuses."],
  unknown_connection: [400, "That app is not connected."],
  unknown_target: [400, "That is not a provider or server of yours."],
};

const EXTEND_REFUSALS: Record<Extract<ExtendResult, { ok: false }>["code"], [number, string]> = {
  not_found: [404, "There is no such access in your account."],
  not_live: [409, "This access has already ended."],
  not_extendable: [409, "A one-call approval cannot be extended; approve a new request instead."],
  at_limit: [409, "This access already runs as long as allowed from now."],
};

function refusal(c: WebContext, title: string, code: string, [status, message]: [number, string]) {
  return c.html(<MessagePage title={title} message={message} code={code} />, status as 400);
}

/** What the rules card offers: the person's providers and upstream servers, and the hours. */
export async function ruleChoices(config: Config, session: DurableObjectStub<UserSession>): Promise<RuleChoices> {
  const servers = await session.upstreamServers();
  return {
    targets: [
      ...config.registry.all().map((provider) => ({ id: provider.id, name: provider.name })),
      ...servers.map((server) => ({ id: server.name, name: `${server.title} (MCP server)` })),
    ],
    hours: hourChoices(config.ruleMaxHours),
  };
}

export const ruleRoutes = new Hono<WebEnv>();

ruleRoutes.post("/activity/rules", async (c) => {
  const user = await requireUser(c);
  if (user instanceof Response) return user;
  const form = await c.req.formData();
  const refused = await refuseForeignForm(c, user, form, ACTIVITY_CSRF);
  if (refused) return refused;
  const choice = RULE_CHOICES[String(form.get("rule") ?? "")];
  if (!choice) return refusal(c, "Rule not added", "level_invalid", RULE_REFUSALS.level_invalid);
  const connection = String(form.get("connection") ?? "all");
  const created = await sessionFor(c.env.SESSION, user.userId).createRule({
    connectionId: connection === "all" ? null : connection,
    target: String(form.get("target") ?? ""),
    level: choice.level,
    effect: choice.effect,
    source: "activity",
    grantId: null,
    hours: Number(form.get("hours")),
  });
  if (!created.ok) return refusal(c, "Rule not added", created.code, RULE_REFUSALS[created.code]);
  log.info("activity.rule_created", { userId: user.userId, ruleId: created.rule.id });
  return c.redirect("/activity#standing-rules", 303);
});

ruleRoutes.post("/activity/rules/:id/remove", async (c) => {
  const user = await requireUser(c);
  if (user instanceof Response) return user;
  const refused = await refuseForeignForm(c, user, await c.req.formData(), ACTIVITY_CSRF);
  if (refused) return refused;
  const removed = await sessionFor(c.env.SESSION, user.userId).removeRule(c.req.param("id"));
  if (!removed) return refusal(c, "Not found", "not_found", [404, "There is no such live rule in your account."]);
  return c.redirect("/activity#standing-rules", 303);
});

ruleRoutes.post("/activity/grants/:id/extend", async (c) => {
  const user = await requireUser(c);
  if (user instanceof Response) return user;
  const refused = await refuseForeignForm(c, user, await c.req.formData(), ACTIVITY_CSRF);
  if (refused) return refused;
  const extended = await sessionFor(c.env.SESSION, user.userId).extendByOwner(c.req.param("id"));
  if (!extended.ok) return refusal(c, "Not extended", extended.code, EXTEND_REFUSALS[extended.code]);
  return c.redirect("/activity", 303);
});

ruleRoutes.post("/activity/revoke-everything", async (c) => {
  const user = await requireUser(c);
  if (user instanceof Response) return user;
  const refused = await refuseForeignForm(c, user, await c.req.formData(), ACTIVITY_CSRF);
  if (refused) return refused;
  const ended = await sessionFor(c.env.SESSION, user.userId).revokeEverything();
  log.info("activity.revoked_everything", { userId: user.userId, ...ended });
  return c.redirect("/activity", 303);
});
