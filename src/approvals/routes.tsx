/**
 * /approve/<id>?t=<token>: the person's decision. GET only renders (link previews and mail
 * scanners change nothing); POST decides, and needs our Origin, the CSRF token, the link token
 * and a signed-in owner. The request is looked up only in the signed-in user's own Durable
 * Object, so anyone else sees exactly what a non-existent request looks like. Ticking "also allow
 * this for N hours" makes standing allow rules from the approved grant, in the same RPC.
 */
import { Hono } from "hono/tiny";
import { hourChoices } from "../grants/standing-rules";
import type { AccessLevel } from "../grants/types";
import { readSignIn } from "../identity/signin-cookie";
import { timingSafeEqual } from "../lib/crypto";
import { log } from "../lib/log";
import type { Decision } from "../session/grant-book";
import { sessionFor } from "../session/user-session";
import type { WebContext, WebEnv } from "../web/context";
import { MessagePage } from "../web/layout";
import { pageFacts, providerNames } from "./facts";
import { csrfToken, linkTokenHash } from "./link";
import { ApprovalPage, OutcomePage } from "./page";

const NOT_FOUND_TITLE = "Request not found";
const NOT_FOUND_MESSAGE = "This approval link is not valid for your account. Ask the assistant for a new one.";

/** What the standing-rule box added, in words for the outcome page; undefined when unticked. */
function ruleNote(rules: { ok: boolean; code?: string }[], hours: number): string | undefined {
  if (rules.length === 0) return undefined;
  if (rules.every((rule) => rule.ok)) return `Also allowed without asking for ${hours} h. Remove it on Activity.`;
  return rules.some((rule) => !rule.ok && rule.code === "too_many_rules")
    ? "No standing rule was added: you already have as many as allowed. Remove one on Activity."
    : "No standing rule was added for some of these accounts.";
}

function notFound(c: WebContext) {
  return c.html(<MessagePage title={NOT_FOUND_TITLE} message={NOT_FOUND_MESSAGE} code="not_found" />, 404);
}

function signInRedirect(c: WebContext, id: string, token: string) {
  const back = `/approve/${encodeURIComponent(id)}?${new URLSearchParams({ t: token })}`;
  return c.redirect(`/signin?${new URLSearchParams({ return_to: back })}`, 302);
}

export const approvalRoutes = new Hono<WebEnv>();

approvalRoutes.get("/approve/:id", async (c) => {
  const config = c.get("config");
  const id = c.req.param("id");
  const token = c.req.query("t") ?? "";
  const user = await readSignIn(config, c.req.raw, Date.now());
  if (!user) return signInRedirect(c, id, token);
  if (!token) return notFound(c);
  const session = sessionFor(c.env.SESSION, user.userId);
  const grant = await session.viewRequest(id, await linkTokenHash(token));
  if (!grant) return notFound(c);
  const now = Date.now();
  if (grant.status !== "pending") {
    const { names } = await providerNames(config, session);
    return c.html(<OutcomePage grant={grant} now={now} names={names} />);
  }
  const [facts, csrf] = await Promise.all([
    pageFacts(config, session, grant, { userId: user.userId, env: c.env }),
    csrfToken(config, user.userId, id),
  ]);
  return c.html(
    <ApprovalPage
      {...facts}
      grant={grant}
      token={token}
      csrf={csrf}
      policy={config.grantPolicy}
      now={now}
      ruleHours={hourChoices(config.ruleMaxHours)}
    />,
  );
});

approvalRoutes.post("/approve/:id", async (c) => {
  const config = c.get("config");
  const id = c.req.param("id");
  const user = await readSignIn(config, c.req.raw, Date.now());
  if (!user) {
    return c.html(
      <MessagePage title="Sign in first" message="Open the approval link again to sign in." code="sign_in_required" />,
      403,
    );
  }
  const { success } = await c.env.APPROVAL_LIMITER.limit({ key: user.userId });
  if (!success) {
    c.header("Retry-After", "60");
    return c.html(
      <MessagePage
        title="Slow down"
        message="Too many decisions in a minute. Wait a minute and try again."
        code="rate_limited"
      />,
      429,
    );
  }
  const form = await c.req.formData();
  const csrf = String(form.get("csrf") ?? "");
  if (!csrf || !timingSafeEqual(csrf, await csrfToken(config, user.userId, id))) {
    log.warn("approval.csrf_rejected", { userId: user.userId });
    return c.html(
      <MessagePage title="Not allowed" message="This form did not come from your approval page." code="csrf_invalid" />,
      403,
    );
  }
  const tokenHash = await linkTokenHash(String(form.get("t") ?? ""));
  const session = sessionFor(c.env.SESSION, user.userId);
  const grant = await session.viewRequest(id, tokenHash);
  if (!grant) return notFound(c);
  const noteText = String(form.get("note") ?? "")
    .trim()
    .slice(0, 1000);
  const note = noteText === "" ? null : noteText;
  const decision = form.get("decision");
  if (decision !== "approve" && decision !== "deny") {
    return c.html(
      <MessagePage title="Choose Approve or Deny" message="No decision was sent." code="invalid_decision" />,
      400,
    );
  }
  const duration = Number(form.get("duration") ?? grant.requestedDurationSeconds);
  const levelField = form.get("level") ?? grant.requestedLevel;
  if (levelField !== "read" && levelField !== "write") {
    return c.html(
      <MessagePage title="Choose read or write" message='unexpected "level" value' code="invalid_level" />,
      400,
    );
  }
  const level: AccessLevel = levelField;
  const ruleHours = hourChoices(config.ruleMaxHours);
  const standing = decision === "approve" && form.get("standing") === "yes";
  const hours = Number(form.get("standing_hours") ?? ruleHours.preselected);
  if (standing && !ruleHours.choices.includes(hours)) {
    return c.html(
      <MessagePage title="Choose how long" message='unexpected "standing_hours" value' code="invalid_hours" />,
      400,
    );
  }
  const chosen: Decision =
    decision === "deny"
      ? { kind: "deny", note }
      : {
          kind: "approve",
          input: {
            providers: grant.kind === "call" ? grant.requestedProviders : form.getAll("providers").map(String),
            level: grant.kind === "call" ? grant.requestedLevel : level,
            durationSeconds: grant.kind === "call" ? grant.requestedDurationSeconds : duration,
            note,
          },
        };
  const decided = standing
    ? await session.decideWithRule(id, tokenHash, chosen, hours)
    : { result: await session.decide(id, tokenHash, chosen), rules: [] };
  const result = decided.result;
  const now = Date.now();
  if (!result.ok && result.code === "not_found") return notFound(c);
  if (!result.ok && result.code === "invalid") {
    // Still pending: show the form again with what was wrong.
    const token = String(form.get("t") ?? "");
    const facts = await pageFacts(config, session, result.grant, { userId: user.userId, env: c.env });
    return c.html(
      <ApprovalPage
        {...facts}
        grant={result.grant}
        token={token}
        csrf={csrf}
        policy={config.grantPolicy}
        now={now}
        ruleHours={ruleHours}
        error={result.message}
      />,
      400,
    );
  }
  const { names } = await providerNames(config, session);
  if (result.ok) {
    log.info("approval.decided", { userId: user.userId, grantId: id, status: result.grant.status });
    return c.html(
      <OutcomePage grant={result.grant} now={now} names={names} ruleNote={ruleNote(decided.rules, hours)} />,
    );
  }
  return c.html(<OutcomePage grant={result.grant} now={now} names={names} message={result.message} />, 409);
});
