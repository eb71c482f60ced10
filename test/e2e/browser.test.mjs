// A real headless Chromium on a phone-sized screen walks the authorization pages: the consent
// page for a client with a hostile name (shown as text, never run), Allow, dev sign-in, and the
// redirect back to a loopback client; then the Cancel path. Screenshots go to test-results/.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { startCallbackServer } from "./lib/callback-server.mjs";
import { startFixture } from "./lib/fixture.mjs";
import { rawWhoami } from "./lib/mcp-raw.mjs";
import { authorizationUrl, pkcePair, registerClient, tokenEndpoint } from "./lib/oauth.mjs";
import { assertNoHorizontalOverflow } from "./lib/phone-page.mjs";

const HOSTILE_NAME = "<img src=x onerror=alert(1)> Evil Client";
const EMAIL = "lin@example.com";
const STEP = { timeout: 60_000 };

describe("authorization pages in headless Chromium (phone)", { timeout: 240_000 }, () => {
  /** @type {import("./lib/fixture.mjs").Fixture} */
  let fixture;
  /** @type {import("./lib/fixture.mjs").DevServer} */
  let server;
  /** @type {import("./lib/callback-server.mjs").CallbackServer} */
  let callbacks;
  /** @type {{ client_id: string }} */
  let client;

  before(
    async () => {
      callbacks = await startCallbackServer();
      fixture = await startFixture({ label: "browser", chromium: true });
      server = fixture.server;
      client = await registerClient(server.origin, { clientName: HOSTILE_NAME, redirectUri: callbacks.redirectUri });
    },
    { timeout: 180_000 },
  );

  after(async () => {
    await fixture?.stop();
    await callbacks?.close();
  });

  function startAuthorization() {
    const { verifier, challenge } = pkcePair();
    const state = randomBytes(16).toString("base64url");
    const url = authorizationUrl(server.origin, {
      clientId: client.client_id,
      redirectUri: callbacks.redirectUri,
      challenge,
      state,
    });
    return { url, state, verifier };
  }

  /**
   * Press a consent button and check the server accepted the form (a redirect), naming the
   * Origin header the browser sent when it did not.
   * @param {import("playwright-core").Page} page
   * @param {"Allow" | "Cancel"} button
   */
  async function submitConsent(page, button) {
    const [answer] = await Promise.all([
      page.waitForResponse((res) => res.request().method() === "POST" && new URL(res.url()).pathname === "/authorize"),
      page.getByRole("button", { name: button }).click(),
    ]);
    if (answer.status() !== 302) {
      const origin = (await answer.request().allHeaders()).origin;
      const body = await answer.text().catch(() => "");
      assert.fail(`POST /authorize answered ${answer.status()} to a browser that sent Origin: ${origin} (${body})`);
    }
  }

  test("Allow, then dev sign-in, brings the browser back to the client with a working code", STEP, async () => {
    const { context, page, dialogs, pageErrors } = await fixture.openPhone();
    try {
      const { url, state, verifier } = startAuthorization();
      const response = await page.goto(url.href);
      assert.equal(response?.status(), 200);

      // The hostile client name is text, not markup.
      const heading = (await page.locator("h1").textContent()) ?? "";
      assert.ok(heading.includes(HOSTILE_NAME), `heading shows the name verbatim: ${heading}`);
      assert.equal(await page.locator("img").count(), 0, "no <img> element was injected");
      assert.ok((await page.title()).includes(HOSTILE_NAME));

      // Where access goes, and what is asked for.
      const destination = (await page.getByText("Access will be sent to").textContent()) ?? "";
      assert.ok(destination.includes(new URL(callbacks.redirectUri).hostname), `redirect host shown: ${destination}`);
      for (const scope of ["mcp", "offline_access"]) {
        const box = page.locator(`input[type=checkbox][name=scope][value=${scope}]`);
        assert.equal(await box.count(), 1, `a checkbox for ${scope}`);
        assert.equal(await box.isChecked(), true, `${scope} is pre-checked`);
      }
      assert.ok(await page.getByRole("button", { name: "Allow" }).isVisible());
      assert.ok(await page.getByRole("button", { name: "Cancel" }).isVisible());
      await assertNoHorizontalOverflow(page);
      await fixture.screenshot(page, "consent");

      await submitConsent(page, "Allow");
      await page.waitForURL((u) => u.pathname === "/signin");
      await assertNoHorizontalOverflow(page);
      await fixture.screenshot(page, "signin");

      await page.getByLabel("Email").fill(EMAIL);
      await page.getByRole("button", { name: "Sign in" }).click();
      const params = await callbacks.waitFor(state);
      await page.waitForURL((u) => u.href.startsWith(callbacks.redirectUri));

      const code = params.get("code");
      assert.ok(code, "the client received a code");
      assert.equal(params.get("state"), state);
      assert.equal(params.get("iss"), server.origin);
      assert.equal(params.get("error"), null);
      assert.deepEqual(dialogs, [], "no dialog was ever opened");
      assert.deepEqual(pageErrors, []);

      // The code is real: it redeems, and the token reaches whoami as this person.
      const exchanged = await tokenEndpoint(server.origin, {
        grant_type: "authorization_code",
        client_id: client.client_id,
        code,
        code_verifier: verifier,
        redirect_uri: callbacks.redirectUri,
        resource: server.resource,
      });
      assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
      const who = await rawWhoami(server.origin, exchanged.body.access_token);
      assert.equal(who.user.email, EMAIL);
      assert.equal(who.client.name, HOSTILE_NAME);
    } finally {
      await context.close();
    }
  });

  test("Cancel sends the browser back with error=access_denied and no code", STEP, async () => {
    const { context, page, dialogs } = await fixture.openPhone();
    try {
      const { url, state } = startAuthorization();
      await page.goto(url.href);
      await submitConsent(page, "Cancel");
      const params = await callbacks.waitFor(state);

      assert.equal(params.get("error"), "access_denied");
      assert.equal(params.get("state"), state);
      assert.equal(params.get("code"), null);
      assert.deepEqual(dialogs, []);
    } finally {
      await context.close();
    }
  });
});
