// The phone as the approver, in headless Chromium at 390x844 against a real `wrangler dev`: the
// installable app (manifest, icons, the service worker on /activity and /approve/ that caches
// only the shell, the offline page), "Notify me on this phone" subscribing with Countersign's
// VAPID key, a new request arriving at a fake push service that checks the VAPID JWT and
// decrypts the message, the link in it opening the approval page, a 410 ending the
// subscription, and the signed webhook. No real push service is reachable here, so the test
// stands in for the browser's `pushManager.subscribe` with a subscription the fake service made.
// Screenshots go to test-results/screenshots/.
import assert from "node:assert/strict";
import { createECDH, createHmac } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { structured } from "./lib/approval.mjs";
import { startFakePushService } from "./lib/fake-push-service.mjs";
import { startFixture } from "./lib/fixture.mjs";
import { assertNoHorizontalOverflow, openLinkAndSignIn, submitWith } from "./lib/phone-page.mjs";
import { connectV2Client } from "./lib/sdk-connect.mjs";

const EMAIL = "ada@example.com";
const CLIENT_NAME = "E2E phone client";
// A dev-only VAPID key (the private scalar), as `npm run dev` sets one.
const VAPID_PRIVATE_KEY = "iY91tbgO-HYChqQZjhFInjKSMIlA8NHVdtKJQY5PryU";
const SHELL = ["/assets/app.css", "/assets/icon-192.png", "/assets/icon.svg", "/offline"];
const STEP = { timeout: 90_000 };

/** Width and height from a PNG's IHDR. @param {Uint8Array} bytes */
const pngSize = (bytes) => {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  return [view.getUint32(16), view.getUint32(20)];
};

describe("the phone as the approver", { timeout: 400_000 }, () => {
  /** @type {import("./lib/fixture.mjs").Fixture} */
  let fixture;
  /** @type {import("./lib/fixture.mjs").DevServer} */
  let server;
  /** @type {Awaited<ReturnType<typeof connectV2Client>>} */
  let mcp;
  /** @type {Awaited<ReturnType<typeof startFakePushService>>} */
  let push;
  /** @type {import("./lib/fixture.mjs").PhonePage} */
  let phone;
  /** @type {{ id: string, json: Record<string, any> }} */
  let device;

  before(
    async () => {
      push = await startFakePushService();
      fixture = await startFixture({ label: "phone-app", chromium: true, vars: { VAPID_PRIVATE_KEY } });
      server = fixture.server;
      mcp = await connectV2Client(server, { email: EMAIL, clientName: CLIENT_NAME });
      phone = await fixture.openPhone();
      device = await push.subscription();
      // Stand in for the browser's push service: permission granted, and the subscription the
      // fake push service made (its keys stay in the test, as a phone's stay in the phone).
      await phone.context.addInitScript((json) => {
        Notification.requestPermission = async () => "granted";
        PushManager.prototype.subscribe = async (options) => {
          // Kept for the test: the key the page subscribed with, as the push service would see it.
          const key = new Uint8Array(options.applicationServerKey);
          localStorage.setItem("subscribedWith", btoa(String.fromCharCode(...key)));
          return { endpoint: json.endpoint, toJSON: () => json };
        };
      }, device.json);
    },
    { timeout: 180_000 },
  );

  after(async () => {
    await phone?.context.close().catch(() => {});
    await mcp?.client.close().catch(() => {});
    await fixture?.stop();
    await push?.close();
  });

  const ask = async (args) =>
    structured(await mcp.call("request_elevated_access", { kind: "broad", ...args }), "request_elevated_access");

  test("the app is installable: manifest, icons, a service worker on the person's pages only", STEP, async () => {
    const manifest = await (await fetch(`${server.origin}/manifest.webmanifest`)).json();
    assert.equal(manifest.start_url, "/activity");
    assert.equal(manifest.display, "standalone");
    for (const [size, src] of [
      [192, "/assets/icon-192.png"],
      [512, "/assets/icon-512.png"],
    ]) {
      assert.ok(manifest.icons.some((icon) => icon.src === src && icon.sizes === `${size}x${size}`));
      const png = new Uint8Array(await (await fetch(`${server.origin}${src}`)).arrayBuffer());
      assert.deepEqual(pngSize(png), [size, size], `${src} is ${size}x${size}`);
    }
    const { page, pageErrors } = phone;
    const response = await openLinkAndSignIn(page, `${server.origin}/activity`, EMAIL);
    assert.equal(response.status(), 200);
    const scopes = await page.evaluate(async () => {
      await navigator.serviceWorker.ready;
      const registrations = await navigator.serviceWorker.getRegistrations();
      return registrations.map((registration) => new URL(registration.scope).pathname).sort();
    });
    assert.deepEqual(scopes, ["/activity", "/approve/"]);
    // Chromium decodes both icons (8-bit palette PNGs) at the sizes the manifest names.
    const decoded = await page.evaluate(
      (sources) =>
        Promise.all(
          sources.map(async (src) => {
            const image = new Image();
            image.src = src;
            await image.decode();
            return [image.naturalWidth, image.naturalHeight];
          }),
        ),
      ["/assets/icon-192.png", "/assets/icon-512.png"],
    );
    assert.deepEqual(decoded, [
      [192, 192],
      [512, 512],
    ]);
    assert.equal(await page.locator("link[rel=manifest]").getAttribute("href"), "/manifest.webmanifest");
    assert.deepEqual(pageErrors, []);
  });

  test("Notify me on this phone: the device is listed with its name", STEP, async () => {
    const { page, pageErrors } = phone;
    await page.getByLabel("Name this device").fill("Ada's phone");
    const [posted] = await Promise.all([
      page.waitForResponse((res) => res.request().method() === "POST" && res.url().endsWith("/activity/devices")),
      page.getByRole("button", { name: "Notify me on this phone" }).click(),
    ]);
    assert.equal(posted.status(), 303);
    await page.waitForURL(/\/activity/);
    await page.waitForLoadState("domcontentloaded");
    // The page subscribed with Countersign's VAPID public key, derived here independently.
    const ecdh = createECDH("prime256v1");
    ecdh.setPrivateKey(Buffer.from(VAPID_PRIVATE_KEY, "base64url"));
    const subscribedWith = await page.evaluate(() => localStorage.getItem("subscribedWith"));
    assert.equal(subscribedWith, ecdh.getPublicKey().toString("base64"));
    const devices = page.locator("#notify li");
    assert.equal(await devices.count(), 1);
    assert.match(await devices.first().textContent(), /Ada's phone[\s\S]*last delivery never/);
    await assertNoHorizontalOverflow(page);
    await fixture.screenshot(page, "phone-app-activity-notify");
    assert.deepEqual(pageErrors, []);
  });

  test("a new request is pushed, VAPID-signed and encrypted, and its link opens the approval page", STEP, async () => {
    const asked = await ask({ level: "read", providers: ["github"], duration_minutes: 15, reason: "Sort my inbox" });
    await push.until(() => push.pushed.length === 1, 30_000, "the push of the new request");
    assert.deepEqual(push.refused, []);
    const [{ id, message, headers }] = push.pushed;
    assert.equal(id, device.id);
    assert.equal(headers.urgency, "high");
    assert.equal(message.request_id, asked.request_id);
    assert.equal(message.url, asked.approval_url);
    assert.equal(message.client, CLIENT_NAME);
    assert.equal(message.asks, "read access to github");
    assert.equal(message.for, "15 min");
    assert.match(message.title, /asks for access/);
    // Tapping the notification opens its link; the decision is made on the page.
    const { page } = phone;
    const opened = await page.goto(message.url);
    assert.equal(opened?.status(), 200);
    assert.equal(new URL(page.url()).pathname, `/approve/${asked.request_id}`);
    await fixture.screenshot(page, "phone-app-approval-from-push");
    await submitWith(page, "Approve");
    const check = structured(await mcp.call("check_access_request", { request_id: asked.request_id }), "check");
    assert.equal(check.status, "approved");
    await page.goto(`${server.origin}/activity`);
    assert.match(await page.locator("#notify li").first().textContent(), /\(delivered\)/);
  });

  test("offline, the person's pages show 'No connection'; only the shell is cached", STEP, async () => {
    const { page, context } = phone;
    const cached = await page.evaluate(async () => {
      const names = await caches.keys();
      const paths = [];
      for (const name of names) {
        for (const request of await (await caches.open(name)).keys()) paths.push(new URL(request.url).pathname);
      }
      return paths.sort();
    });
    assert.deepEqual(cached, SHELL);
    await context.setOffline(true);
    try {
      await page.goto(`${server.origin}/activity`);
      assert.equal(await page.locator("h1").textContent(), "No connection");
      assert.match(await page.locator("body").textContent(), /offline/);
      await fixture.screenshot(page, "phone-app-offline");
    } finally {
      await context.setOffline(false);
    }
  });

  test("a 410 from the push service ends the subscription", STEP, async () => {
    push.answerPushWith(410);
    await ask({ level: "read", providers: ["linear"], reason: "Plan the sprint" });
    await push.until(() => push.pushed.length === 2, 30_000, "the push answered 410");
    const { page } = phone;
    const deadline = Date.now() + 15_000;
    for (;;) {
      await page.goto(`${server.origin}/activity`);
      const text = await page.locator("#notify").textContent();
      if (text.includes("No devices get notifications yet.")) break;
      assert.ok(Date.now() < deadline, "the device is still listed after the 410");
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await ask({ level: "read", providers: ["sentry"], reason: "Triage errors" });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    assert.equal(push.pushed.length, 2, "nothing is pushed to an ended subscription");
  });

  test("the webhook gets each new request with a valid signature", STEP, async () => {
    const { page, pageErrors } = phone;
    await page.goto(`${server.origin}/activity`);
    await page.getByLabel("Webhook URL").fill(`${push.origin}/hook`);
    await submitWith(page, "Set webhook");
    const secret = (await page.locator("#webhook-secret").textContent()).trim();
    assert.match(secret, /^whsec_[A-Za-z0-9_-]{43}$/);
    await assertNoHorizontalOverflow(page);
    await fixture.screenshot(page, "phone-app-webhook-set");
    const asked = await ask({ level: "write", providers: ["github"], reason: "Label the new issues" });
    await push.until(() => push.hooked.length === 1, 30_000, "the webhook delivery");
    const [{ body, headers }] = push.hooked;
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(headers["countersign-signature"])) ?? [];
    assert.ok(t && v1, "a Countersign-Signature header");
    assert.equal(createHmac("sha256", secret).update(`${t}.${body}`).digest("hex"), v1);
    assert.ok(Math.abs(Number(t) - Date.now() / 1000) < 120, "the timestamp is fresh");
    const message = JSON.parse(body);
    assert.equal(message.request_id, asked.request_id);
    assert.equal(message.url, asked.approval_url);
    assert.equal(message.asks, "write access to github");
    await page.goto(`${server.origin}/activity`);
    assert.ok(!(await page.content()).includes(secret), "the secret is shown once, not on /activity");
    // Nothing secret reached the dev server's logs.
    for (const leaked of [secret, VAPID_PRIVATE_KEY, device.json.keys.auth]) {
      assert.ok(!server.logs().includes(leaked), "a secret appeared in the wrangler log");
    }
    assert.deepEqual(pageErrors, []);
  });
});
