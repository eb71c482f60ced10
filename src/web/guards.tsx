/**
 * Guards for pages a signed-in person uses: who is signed in (or where to send them to sign in),
 * and whether a posted form carries the CSRF token of its page (an HMAC of the user and the
 * page's scope, see approvals/link.ts). Both answer with a page, never with details.
 */
import { csrfToken } from "../approvals/link";
import { readSignIn } from "../identity/signin-cookie";
import type { SignedInUser } from "../identity/user";
import { timingSafeEqual } from "../lib/crypto";
import type { WebContext } from "./context";
import { MessagePage } from "./layout";

/** The signed-in person; otherwise a redirect to sign in (GET) or a 403 page (POST). */
export async function requireUser(c: WebContext): Promise<SignedInUser | Response> {
  const user = await readSignIn(c.get("config"), c.req.raw, Date.now());
  if (user) return user;
  if (c.req.method === "GET") {
    const back = `${c.req.path}${new URL(c.req.url).search}`;
    return c.redirect(`/signin?${new URLSearchParams({ return_to: back })}`, 302);
  }
  return c.html(
    <MessagePage title="Sign in first" message="You are signed out. Sign in again." code="sign_in_required" />,
    403,
  );
}

/** null when the form's `csrf` field matches this user and page scope; else a 403 page. */
export async function refuseForeignForm(
  c: WebContext,
  user: SignedInUser,
  form: FormData,
  scope: string,
): Promise<Response | null> {
  const sent = String(form.get("csrf") ?? "");
  if (sent && timingSafeEqual(sent, await csrfToken(c.get("config"), user.userId, scope))) return null;
  return c.html(
    <MessagePage title="Not allowed" message="This form did not come from your own page." code="csrf_invalid" />,
    403,
  );
}

/**
 * A POST form of the signed-in person's own page: signed in, then the form's CSRF field for
 * `scope`. The person and the form, or the response to send instead (sign in, or 403).
 */
export async function signedInForm(
  c: WebContext,
  scope: string,
): Promise<{ user: SignedInUser; form: FormData } | Response> {
  const user = await requireUser(c);
  if (user instanceof Response) return user;
  const form = await c.req.formData();
  return (await refuseForeignForm(c, user, form, scope)) ?? { user, form };
}
