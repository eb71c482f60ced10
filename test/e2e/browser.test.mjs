// A real headless Chromium on a phone-sized screen walks the authorization pages: the consent
// page for a client with a hostile name (shown as text, never run), Allow, dev sign-in, and the
// redirect back to a loopback client; then the Cancel path. Screenshots go to test-results/.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startCallbackServer } from "./lib/callback-server.mjs";
import { launchChromium } from "./lib/chromium.mjs";
import { rawWhoami } from "./lib/mcp-raw.mjs";
import { authorizationUrl, pkcePair, registerClient, tokenEndpoint } from "./lib/oauth.mjs";
import { openPhonePage } from "./lib/phone-page.mjs";
import { REPO_ROOT, startDevServer } from "./lib/server.mjs";

const HOSTILE_NAME = "<img src=x onerror=alert(1)> Evil Client";
const EMAIL = "lin@example.com";
const SCREENSHOTS = join(REPO_ROOT, "test-results/screenshots");
const STEP = { timeout: 60_000 };

describe("authorization pages in headless Chromium (phone)", { timeout: 240_000 }, () => {
  /** @type {import("./lib/server.mjs").DevServer} */
  let server;
  /** @type {import("./lib/callback-server.mjs").CallbackServer} */
  let callbacks;
  /** @type {import("playwright-core").Browser} */
  let browser;
  /** @type {{ client_id: string }} */
  let client;

  before(
    async () => {
      await mkdir(SCREENSHOTS, { recursive: true });
      // Start all three at once; whatever did start is assigned, so after() can stop it.
      const started = await Promise.allSettled([
        startDevServer({ label: "browser" }).then((s) => {
          server = s;
        }),
        startCallbackServer().then((c) => {
          callbacks = c;
        }),
        launchChromium().then((b) => {
          browser = b;
        }),
      ]);
      const failed = started.find((result) => result.status === "rejected");
      if (failed) throw failed.reason;
      client = await registerClient(server.origin, { clientName: HOSTILE_NAME, redirectUri: callbacks.redirectUri });
    },
    { timeout: 180_000 },
  );

  after(async () => {
    await browser?.close().catch(() => {});
    await callbacks?.close();
    await server?.stop();
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

  /** @param {import("playwright-core").Page} page */
  async function assertNoHorizontalOverflow(page) {
    const { scrollWidth, innerWidth } = await page.evaluate(() => ({
      scrollWidth: document.scrollingElement?.scrollWidth ?? 0,
      innerWidth: window.innerWidth,
    }));
    assert.ok(scrollWidth > 0);
    assert.ok(scrollWidth <= innerWidth, `page is ${scrollWidth}px wide on a ${innerWidth}px screen`);
  }

  test("Allow, then dev sign-in, brings the browser back to the client with a working code", STEP, async () => {
    const { context, page, dialogs, pageErrors } = await openPhonePage(browser);
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
      await page.screenshot({ path: join(SCREENSHOTS, "consent.png"), fullPage: true });

      await submitConsent(page, "Allow");
      await page.waitForURL((u) => u.pathname === "/signin");
      await assertNoHorizontalOverflow(page);
      await page.screenshot({ path: join(SCREENSHOTS, "signin.png"), fullPage: true });

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
    const { context, page, dialogs } = await openPhonePage(browser);
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
