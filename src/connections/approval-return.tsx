/**
 * Coming back to an approval page after connecting an account from it. A connect form posted
 * from the approval page carries `return_to`; before anything is stored or anyone is asked, it
 * must be exactly an approval link path (lib/return-to.ts) of a request that is the signed-in
 * person's own (looked up in their own Durable Object with its link token, so another person's
 * request looks like none) and still pending. Only the path rebuilt from the checked id and
 * token goes on: sealed in the connect transaction for OAuth, or straight to the redirect for a
 * pasted key. Never log the path: it holds the link token.
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { linkTokenHash } from "../approvals/link";
import type { ErrorCode } from "../lib/errors";
import { err, ok, type Result } from "../lib/result";
import { parseApprovalReturn } from "../lib/return-to";
import type { sessionFor } from "../session/user-session";
import type { WebContext } from "../web/context";
import { refusalPage } from "../web/refusal";

export type ApprovalReturnFailure = ErrorCode<"approvalReturn">;

/** The approval page `raw` names, if it is the signed-in person's own pending request. */
async function checkApprovalReturn(
  session: ReturnType<typeof sessionFor>,
  raw: unknown,
): Promise<Result<string, ApprovalReturnFailure>> {
  const parsed = parseApprovalReturn(raw);
  if (!parsed.ok) return parsed;
  const grant = await session.viewRequest(parsed.value.requestId, await linkTokenHash(parsed.value.token));
  if (!grant) return err("not_found");
  if (grant.status !== "pending") return err("not_pending");
  return ok(parsed.value.path);
}

const REFUSALS: Record<ApprovalReturnFailure, [ContentfulStatusCode, string]> = {
  return_to_invalid: [400, "This form can only return to an approval page. Nothing was connected."],
  not_found: [404, "That approval request is not yours or does not exist. Nothing was connected."],
  not_pending: [409, "That request was already decided or expired. Nothing was connected."],
};

/**
 * A connect form's `return_to`: `{}` when the form has none (the form came from /connections),
 * `{ returnTo }` when it names the person's own pending approval, else the page refusing it.
 */
export async function approvalReturnOf(
  c: WebContext,
  session: ReturnType<typeof sessionFor>,
  form: FormData,
): Promise<{ returnTo?: string } | Response> {
  const raw = form.get("return_to");
  if (raw === null) return {};
  const checked = await checkApprovalReturn(session, raw);
  if (checked.ok) return { returnTo: checked.value };
  const [status, message] = REFUSALS[checked.error];
  return refusalPage(c, status, "connections.return_refused", {
    title: "Not connected",
    message,
    code: checked.error,
    back: { href: "/connections", label: "Go to connections" },
  });
}
