// The approval page a person decides on, in headless Chromium, at phone size and on a wide
// screen. A v2 MCP client asks for one call to the demo notes API. On a 390x844 phone the page
// opens with who asks (the client's own name beside where its tokens go) and a plain summary
// ("Create a note in Demo notes", writes, usable once), and shows no QR code. On a 1280x900
// screen it offers "Decide on your phone": the inline SVG is drawn into a canvas in Chromium, its
// pixels decoded with jsQR in node, and the result must equal the approval link exactly; the
// decoded link, opened on the phone, is the same page. After Approve the page says the person can
// return to the assistant, and check_access_request names the call with its body digest.
// Screenshots go to test-results/screenshots/.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import jsQR from "jsqr";
import { structured } from "./lib/approval.mjs";
import { startFixture } from "./lib/fixture.mjs";
import { assertNoHorizontalOverflow, openLinkAndSignIn, submitWith } from "./lib/phone-page.mjs";
import { connectV2Client } from "./lib/sdk-connect.mjs";

const EMAIL = "grace@example.com";
const CLIENT_NAME = "Claude";
const BODY = JSON.stringify({ title: "Handoff", text: "decided on a phone" });
const WIDE = { viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 };
const STEP = { timeout: 90_000 };

/** Draw the page's QR SVG into a canvas at `scale`, and return its RGBA pixels. */
async function qrPixels(page, scale = 4) {
  return page.locator("svg.qr").evaluate(async (svg, factor) => {
    const box = svg.viewBox.baseVal;
    const side = Math.round(box.width * factor);
    const source = new XMLSerializer().serializeToString(svg);
    const image = new Image(side, side);
    image.src = `data:image/svg+xml;base64,${btoa(source)}`;
    await image.decode();
    const canvas = document.createElement("canvas");
    canvas.width = side;
    canvas.height = side;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0, side, side);
    return { side, data: Array.from(context.getImageData(0, 0, side, side).data) };
  }, scale);
}

describe("the approval page on a phone and on a wide screen", { timeout: 300_000 }, () => {
  /** @type {import("./lib/fixture.mjs").Fixture} */
  let fixture;
  /** @type {Awaited<ReturnType<typeof connectV2Client>>} */
  let mcp;
  /** @type {{ request_id: string, approval_url: string }} */
  let asked;
  /** The link the wide screen's QR code decoded to. @type {string | undefined} */
  let scanned;

  before(
    async () => {
      fixture = await startFixture({ label: "approval-handoff", chromium: true });
      mcp = await connectV2Client(fixture.server, { email: EMAIL, clientName: CLIENT_NAME });
      asked = structured(
        await mcp.call("request_elevated_access", {
          kind: "call",
          method: "POST",
          url: `${fixture.server.origin}/demo-api/notes`,
          body: BODY,
          reason: "Save the hand-off note",
        }),
        "request_elevated_access",
      );
    },
    { timeout: 180_000 },
  );

  after(async () => {
    await mcp?.client.close().catch(() => {});
    await fixture?.stop();
  });

  test("on a wide screen the QR code decodes to exactly the approval link", STEP, async () => {
    const context = await fixture.browser.newContext(WIDE);
    try {
      const page = await context.newPage();
      await openLinkAndSignIn(page, asked.approval_url, EMAIL);
      assert.ok(await page.locator(".handoff").isVisible(), "the hand-off is shown on a wide screen");
      assert.ok(await page.getByText("Decide on your phone").isVisible());
      const { side, data } = await qrPixels(page);
      const decoded = jsQR(Uint8ClampedArray.from(data), side, side);
      assert.ok(decoded, "jsQR found a QR code in the drawn SVG");
      assert.equal(decoded.data, asked.approval_url);
      scanned = decoded.data;
      await fixture.screenshot(page, "approval-handoff-wide");
    } finally {
      await context.close();
    }
  });

  test("on a phone: who asks, the plain summary, no QR code; Approve says return to the assistant", STEP, async () => {
    assert.ok(scanned, "the wide-screen test decoded the QR code");
    const { context, page, dialogs, pageErrors } = await fixture.openPhone();
    try {
      // The phone opens the link it scanned, and signs in as the same person.
      await openLinkAndSignIn(page, scanned, EMAIL);
      assert.equal(await page.locator(".handoff").isVisible(), false, "no QR code on a phone");
      const who = (await page.locator("dl.client").textContent()) ?? "";
      assert.ok(who.includes(CLIENT_NAME), who);
      assert.ok(who.includes("the name it gave itself"), who);
      assert.ok(who.includes("localhost (an app on this computer)"), `the loopback redirect is named: ${who}`);
      const summary = (await page.locator("dl.summary:not(.client)").textContent()) ?? "";
      for (const words of [
        "Demo notes",
        "Create a note in Demo notes",
        "Yes: this call writes.",
        "Usable once, within 5 min of your approval.",
      ]) {
        assert.ok(summary.includes(words), `the summary says ${JSON.stringify(words)}: ${summary}`);
      }
      const digest = createHash("sha256").update(BODY).digest("hex").slice(0, 16);
      assert.ok(((await page.locator(".card").textContent()) ?? "").includes(digest), "the body digest is shown");
      await assertNoHorizontalOverflow(page);
      await fixture.screenshot(page, "approval-summary-phone");

      await submitWith(page, "Approve");
      assert.equal(await page.locator("h1").textContent(), "Approved");
      assert.ok(await page.getByText("You can return to your assistant now.").isVisible());
      await assertNoHorizontalOverflow(page);
      await fixture.screenshot(page, "approval-return-phone");

      const view = structured(
        await mcp.call("check_access_request", { request_id: asked.request_id }),
        "check_access_request",
      );
      assert.equal(view.status, "approved");
      assert.deepEqual(view.call, {
        method: "POST",
        url: `${fixture.server.origin}/demo-api/notes`,
        body_sha256: digest,
        body_bytes: Buffer.byteLength(BODY),
        header_names: [],
      });
      assert.deepEqual(dialogs, []);
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });
});
