// The approval link on a phone, in headless Chromium: a v2 MCP client asks for write access to
// GitHub and Linear with a hostile reason and waits (check_access_request, wait_seconds 50); the
// person opens the link signed out, signs in, unticks Linear, leaves a note and approves; the
// waiting call wakes with exactly what was approved. Then Deny, a reopened link, and another
// user who must learn nothing. Screenshots go to test-results/screenshots/.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { structured } from "./lib/approval.mjs";
import { startFixture } from "./lib/fixture.mjs";
import { assertNoHorizontalOverflow, openLinkAndSignIn, pageWidth, submitWith } from "./lib/phone-page.mjs";
import { connectV2Client } from "./lib/sdk-connect.mjs";
import { withTimeout } from "./lib/util.mjs";

const EMAIL = "ada@example.com";
const STRANGER = "mallory@example.com";
const CLIENT_NAME = "E2E approval client";
const HOSTILE_REASON = "<script>alert(1)</script> please";
const NOTE = "only the countersign repo";
const STEP = { timeout: 90_000 };

describe("approving on a phone in headless Chromium", { timeout: 300_000 }, () => {
  /** @type {import("./lib/fixture.mjs").Fixture} */
  let fixture;
  /** @type {import("./lib/fixture.mjs").DevServer} */
  let server;
  /** @type {Awaited<ReturnType<typeof connectV2Client>>} */
  let mcp;
  /** The approved request of the first test. @type {{ request_id: string, approval_url: string } | undefined} */
  let approved;

  before(
    async () => {
      fixture = await startFixture({ label: "approval-browser", chromium: true });
      server = fixture.server;
      mcp = await connectV2Client(server, { email: EMAIL, clientName: CLIENT_NAME });
    },
    { timeout: 180_000 },
  );

  after(async () => {
    await mcp?.client.close().catch(() => {});
    await fixture?.stop();
  });

  /** Ask, then start waiting for the decision without awaiting it. */
  async function askAndWait(args) {
    const asked = structured(await mcp.call("request_elevated_access", args), "request_elevated_access");
    assert.equal(asked.status, "pending");
    const startedAt = Date.now();
    const waiting = mcp
      .call("check_access_request", { request_id: asked.request_id, wait_seconds: 50 })
      .then((result) => ({ result, at: Date.now() }));
    waiting.catch(() => {}); // awaited later; never an unhandled rejection meanwhile
    return { asked, startedAt, waiting };
  }

  /** The waiting check's result, which must have woken on the decision (not at the 50 s limit). */
  async function wokenCheck(waiting, decidedAt) {
    const { result, at } = await withTimeout(waiting, 60_000, "the waiting check_access_request");
    assert.ok(at >= decidedAt, "the check answered after the decision, not before");
    assert.ok(at - decidedAt < 10_000, `the check woke ${at - decidedAt} ms after the decision`);
    return structured(result, "check_access_request");
  }

  test("sign in from the link, untick Linear, note, Approve: the waiting check wakes approved", STEP, async () => {
    const { asked, waiting } = await askAndWait({
      kind: "broad",
      level: "write",
      providers: ["github", "linear"],
      reason: HOSTILE_REASON,
    });
    const { context, page, dialogs, pageErrors } = await fixture.openPhone();
    try {
      const response = await openLinkAndSignIn(page, asked.approval_url, EMAIL);
      assert.equal(response.status(), 200);
      assert.equal(new URL(page.url()).pathname, `/approve/${asked.request_id}`);

      // The hostile reason is text, never markup; the client is named.
      assert.equal(await page.locator("pre.reason").textContent(), HOSTILE_REASON);
      assert.equal(await page.locator("script").count(), 0, "no <script> element was injected");
      assert.ok(((await page.locator("h1").textContent()) ?? "").includes(CLIENT_NAME), "the client is named");
      assert.ok(await page.getByText(CLIENT_NAME).first().isVisible());
      assert.equal(await page.getByLabel("GitHub", { exact: true }).isChecked(), true);
      assert.equal(await page.getByLabel("Linear", { exact: true }).isChecked(), true);
      assert.equal(await page.locator("input[name=level][value=write]").isChecked(), true, "write is pre-chosen");
      await assertNoHorizontalOverflow(page);
      await fixture.screenshot(page, "approval-page");

      await page.getByLabel("Linear", { exact: true }).uncheck();
      await page.getByLabel("Notes for the assistant").fill(NOTE);
      const decidedAt = Date.now();
      await submitWith(page, "Approve");
      assert.equal(await page.locator("h1").textContent(), "Approved");
      const outcome = (await page.locator(".card").textContent()) ?? "";
      assert.ok(outcome.includes("write access to GitHub"), `outcome names what was approved: ${outcome}`);
      assert.ok(!outcome.includes("Linear"), "Linear was not approved");
      assert.ok(outcome.includes(NOTE), "the note is echoed");
      await fixture.screenshot(page, "approval-outcome");

      const view = await wokenCheck(waiting, decidedAt);
      assert.equal(view.request_id, asked.request_id);
      assert.equal(view.status, "approved");
      assert.deepEqual(view.providers, ["github"]);
      assert.equal(view.level, "write");
      assert.equal(view.note, NOTE);
      assert.ok(view.seconds_left > 0 && view.seconds_left <= 300, `seconds_left ${view.seconds_left}`);
      assert.ok(view.instructions.includes(NOTE), "the instructions pass the note on");

      const who = structured(await mcp.call("whoami"), "whoami");
      const grant = who.authority.grants.find((g) => g.request_id === asked.request_id);
      assert.ok(grant, `whoami lists the grant: ${JSON.stringify(who.authority)}`);
      assert.equal(grant.status, "approved");
      assert.deepEqual(grant.providers, ["github"]);
      assert.equal(grant.level, "write");

      // The activity page shows the live grant with its Revoke button, and the export link.
      await page.goto(`${server.origin}/activity`);
      assert.equal(await page.locator("h1").textContent(), "Activity");
      assert.ok(await page.getByRole("button", { name: "Revoke" }).first().isVisible());
      assert.ok(await page.getByRole("button", { name: "Disconnect" }).first().isVisible());
      assert.ok(await page.getByRole("link", { name: "Export everything as JSON" }).isVisible());
      assert.ok((await page.locator("body").textContent())?.includes(HOSTILE_REASON), "the reason is shown as text");
      // No injected script: the only one is the app's own (the service worker and push, /assets/app.js).
      const scripts = await page
        .locator("script")
        .evaluateAll((all) => all.map((script) => script.getAttribute("src")));
      assert.deepEqual(scripts, ["/assets/app.js"]);
      const width = await pageWidth(page);
      if (width.scrollWidth > width.innerWidth) {
        // Reported, not asserted: the brief only pins the approval page.
        console.log(`# note: /activity is ${width.scrollWidth}px wide on a ${width.innerWidth}px screen`);
      }
      await fixture.screenshot(page, "activity");

      assert.deepEqual(dialogs, [], "no dialog was ever opened");
      assert.deepEqual(pageErrors, []);
      approved = asked;
    } finally {
      await context.close();
    }
  });

  test("Deny with a note: the waiting check wakes denied with the note", STEP, async () => {
    const { asked, waiting } = await askAndWait({
      kind: "broad",
      level: "read",
      providers: ["notion"],
      reason: "Read my meeting notes",
    });
    const { context, page, dialogs } = await fixture.openPhone();
    try {
      await openLinkAndSignIn(page, asked.approval_url, EMAIL);
      assert.equal(await page.locator("input[name=level][value=write]").count(), 0, "write is not offered");
      await page.getByLabel("Notes for the assistant").fill("not today");
      const decidedAt = Date.now();
      await submitWith(page, "Deny");
      assert.equal(await page.locator("h1").textContent(), "Denied");
      await fixture.screenshot(page, "approval-denied");

      const view = await wokenCheck(waiting, decidedAt);
      assert.equal(view.status, "denied");
      assert.equal(view.note, "not today");
      assert.equal(view.seconds_left, 0);
      assert.match(view.instructions, /denied/);
      const who = structured(await mcp.call("whoami"), "whoami");
      assert.ok(!who.authority.grants.some((g) => g.request_id === asked.request_id), "a denial grants nothing");
      assert.deepEqual(dialogs, []);
    } finally {
      await context.close();
    }
  });

  test("the link reopened shows the outcome; another user sees only 'Request not found'", STEP, async () => {
    assert.ok(approved, "the first test approved a request");
    const owner = await fixture.openPhone();
    try {
      const response = await openLinkAndSignIn(owner.page, approved.approval_url, EMAIL);
      assert.equal(response.status(), 200);
      assert.equal(await owner.page.locator("h1").textContent(), "Approved");
      assert.equal(await owner.page.getByRole("button", { name: "Approve" }).count(), 0, "no form any more");
    } finally {
      await owner.context.close();
    }

    const stranger = await fixture.openPhone();
    try {
      const response = await openLinkAndSignIn(stranger.page, approved.approval_url, STRANGER);
      assert.equal(response.status(), 404);
      assert.equal(await stranger.page.locator("h1").textContent(), "Request not found");
      const text = (await stranger.page.locator("body").textContent()) ?? "";
      for (const secret of [HOSTILE_REASON, "please", CLIENT_NAME, "GitHub", "Linear", NOTE, EMAIL]) {
        assert.ok(!text.includes(secret), `the stranger's page does not mention ${JSON.stringify(secret)}`);
      }
      assert.equal(await stranger.page.locator("form[action^='/approve/']").count(), 0);
      await fixture.screenshot(stranger.page, "approval-not-found");
      assert.deepEqual(stranger.dialogs, []);
    } finally {
      await stranger.context.close();
    }
  });
});
