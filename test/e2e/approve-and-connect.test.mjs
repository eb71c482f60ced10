// Approve and connect in one flow, in headless Chromium at phone size against a real wrangler
// dev: a v2 MCP client asks for read access to the built-in demo provider, which the person has
// not connected; the person opens the approval link, sees that the demo is not connected, saves
// its key right there and lands back on the same approval page with the request still pending
// and the notice gone; they approve, and the assistant's call then reads the seeded notes.
// Screenshots go to test-results/screenshots/approve-connect-*.png.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { structured, toolErrorBody } from "./lib/approval.mjs";
import { startFixture } from "./lib/fixture.mjs";
import { assertNoHorizontalOverflow, openLinkAndSignIn, submitWith } from "./lib/phone-page.mjs";
import { connectV2Client } from "./lib/sdk-connect.mjs";

const EMAIL = "connie.connect@example.com";
const CLIENT_NAME = "E2E approve-and-connect client";
const DEMO_NAME = "Demo notes (built in)";
const SEEDED = ["n1", "n2"];

describe("approve and connect on a phone", { timeout: 240_000 }, () => {
  /** @type {import("./lib/fixture.mjs").Fixture} */
  let fixture;
  /** @type {import("./lib/fixture.mjs").DevServer} */
  let server;
  /** @type {Awaited<ReturnType<typeof connectV2Client>>} */
  let mcp;

  before(
    async () => {
      fixture = await startFixture({ label: "approve-and-connect", chromium: true });
      server = fixture.server;
      mcp = await connectV2Client(server, { email: EMAIL, clientName: CLIENT_NAME });
    },
    { timeout: 180_000 },
  );

  after(async () => {
    await mcp?.client.close().catch(() => {});
    await fixture?.stop();
  });

  test("the page offers the demo's key, comes back pending, and the approved call reads the notes", async () => {
    const notesUrl = `${server.origin}/demo-api/notes`;
    const before = toolErrorBody(await mcp.call("call_integration_api", { method: "GET", url: notesUrl }));
    assert.equal(before.error.code, "not_connected", "the demo starts unconnected");

    const asked = structured(
      await mcp.call("request_elevated_access", {
        kind: "broad",
        level: "read",
        providers: ["demo"],
        reason: "Read my demo notes",
      }),
      "request_elevated_access",
    );
    const link = new URL(asked.approval_url);
    const status = async () =>
      structured(await mcp.call("check_access_request", { request_id: asked.request_id }), "check_access_request")
        .status;

    const { context, page, dialogs, pageErrors } = await fixture.openPhone();
    try {
      const opened = await openLinkAndSignIn(page, asked.approval_url, EMAIL);
      assert.equal(opened.status(), 200);
      const warning = page.locator("[data-connect-warning]");
      assert.ok(await warning.isVisible(), "the page says the demo is not connected");
      assert.ok(((await warning.textContent()) ?? "").includes(DEMO_NAME));
      const offer = page.locator("#connect-demo");
      assert.ok(((await offer.locator("strong").textContent()) ?? "").includes(DEMO_NAME));
      const key = offer.getByLabel("API key");
      assert.match(await key.inputValue(), /^[\w-]{20,}$/, "the demo key is pre-filled, as on /connections");
      assert.equal(await key.getAttribute("type"), "password");
      await assertNoHorizontalOverflow(page);
      await fixture.screenshot(page, "approve-connect-notice");

      await page.locator("a[href='#connect']").click();
      const saved = await submitWith(page, "Save key", 303);
      assert.equal(new URL(saved.url()).pathname, "/connections/demo/api-key");
      const back = new URL(page.url());
      assert.equal(back.pathname, link.pathname, "back on the same approval page");
      assert.equal(back.search, link.search, "with the same link token");
      assert.ok(((await page.locator("h1").textContent()) ?? "").includes(CLIENT_NAME), "still the decision form");
      assert.equal(await page.locator("[data-connect-warning]").count(), 0, "the notice is gone");
      assert.equal(await page.locator("#connect").count(), 0, "no connect form is left");
      assert.equal(await page.getByLabel(DEMO_NAME, { exact: true }).isChecked(), true);
      assert.equal(await status(), "pending", "connecting decided nothing");
      await assertNoHorizontalOverflow(page);
      await fixture.screenshot(page, "approve-connect-back");

      await submitWith(page, "Approve");
      assert.equal(await page.locator("h1").textContent(), "Approved");
      assert.ok(((await page.locator(".card").textContent()) ?? "").includes(`read access to ${DEMO_NAME}`));
      await fixture.screenshot(page, "approve-connect-approved");
      assert.deepEqual(dialogs, []);
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }

    const got = structured(await mcp.call("call_integration_api", { method: "GET", url: notesUrl }), "GET notes");
    assert.equal(got.status, 200);
    assert.equal(got.provider, "demo");
    assert.equal(got.grant_id, asked.request_id);
    for (const id of SEEDED)
      assert.ok(
        got.body.notes.some((note) => note.id === id),
        `seeded note ${id}`,
      );
    const list = structured(await mcp.call("list_integrations"), "list_integrations");
    const demo = list.integrations.find((item) => item.id === "demo");
    assert.equal(demo?.status, "connected");
    assert.equal(demo?.allowed, "read");
  });
});
