/**
 * Sign-in pages: the embedded dev sign-in (only when configured, only on loopback) and the
 * OpenID Connect redirect and callback. Both end by setting the sealed sign-in cookie and
 * returning to a same-origin path. The callback claims its state in the person's Durable Object
 * (src/identity/oidc.ts says why), so parallel replays sign in once.
 */
import { Hono } from "hono/tiny";
import * as z from "zod";
import { log } from "../lib/log";
import { safeReturnTo } from "../lib/return-to";
import { sessionFor } from "../session/user-session";
import type { WebEnv } from "../web/context";
import { SubmitRow } from "../web/forms";
import { Layout, MessagePage } from "../web/layout";
import { refusalPage } from "../web/refusal";
import { clearSignInCookie, finishOidcSignIn, startOidcSignIn } from "./oidc";
import { endSignIn, startSignIn } from "./signin-cookie";
import { makeUser } from "./user";

const EmailSchema = z.string().trim().toLowerCase().pipe(z.email()).pipe(z.string().max(254));

function DevSignInPage({ returnTo, error }: { returnTo: string; error?: string }) {
  return (
    <Layout title="Sign in">
      <div class="card">
        <h1>Sign in</h1>
        <p class="warn">
          Development sign-in: anyone on this machine can sign in as any address. It is never available on a deployed
          server.
        </p>
        <form method="post" action="/signin/dev">
          <input type="hidden" name="return_to" value={returnTo} />
          <p>
            <label for="email">Email</label>
          </p>
          <input id="email" type="email" name="email" autocomplete="email" required />
          {error ? <p class="warn">{error}</p> : null}
          <SubmitRow label="Sign in" />
        </form>
      </div>
    </Layout>
  );
}

export const signInRoutes = new Hono<WebEnv>();

signInRoutes.get("/signin", async (c) => {
  const config = c.get("config");
  const returnTo = safeReturnTo(c.req.query("return_to"), config.publicOrigin);
  if (config.signIn.kind === "dev") return c.html(<DevSignInPage returnTo={returnTo} />);
  const started = await startOidcSignIn(config, config.signIn, c.env.OAUTH_KV, returnTo, Date.now());
  if (!started.ok) {
    return refusalPage(c, 503, "signin.oidc_start_failed", {
      title: "Sign-in is unavailable",
      message: "The identity provider could not be reached. Try again in a minute.",
      code: started.error,
    });
  }
  c.header("Set-Cookie", started.value.cookie);
  return c.redirect(started.value.location, 302);
});

signInRoutes.post("/signin/dev", async (c) => {
  const config = c.get("config");
  if (config.signIn.kind !== "dev") return c.notFound();
  const form = await c.req.parseBody();
  const returnTo = safeReturnTo(typeof form.return_to === "string" ? form.return_to : "", config.publicOrigin);
  const email = EmailSchema.safeParse(form.email);
  if (!email.success) {
    return c.html(<DevSignInPage returnTo={returnTo} error="Enter a valid email address." />, 400);
  }
  const user = await makeUser({ issuer: config.signIn.issuer, subject: email.data, email: email.data });
  c.header("Set-Cookie", await startSignIn(config, user, Date.now()));
  log.info("signin.dev", { userId: user.userId });
  return c.redirect(returnTo, 302);
});

signInRoutes.get("/signin/callback", async (c) => {
  const config = c.get("config");
  if (config.signIn.kind !== "oidc") return c.notFound();
  c.header("Set-Cookie", clearSignInCookie(), { append: true });
  const finished = await finishOidcSignIn(
    config,
    config.signIn,
    c.env.OAUTH_KV,
    c.req.raw,
    Date.now(),
    (userId, hash) => sessionFor(c.env.SESSION, userId).claimConnectState(hash),
  );
  if (!finished.ok) {
    return refusalPage(c, 400, "signin.oidc_rejected", {
      title: "Sign-in failed",
      message: "This sign-in link is not valid any more. Start again from the app.",
      code: finished.error,
    });
  }
  c.header("Set-Cookie", await startSignIn(config, finished.value.user, Date.now()), { append: true });
  log.info("signin.oidc", { userId: finished.value.user.userId });
  return c.redirect(finished.value.returnTo, 302);
});

signInRoutes.post("/signout", (c) => {
  c.header("Set-Cookie", endSignIn());
  return c.html(<MessagePage title="Signed out" message="You are signed out of Countersign on this browser." />);
});
