// Standing rules, "+15 min" and "Revoke everything" on a phone in headless Chromium, against
// `wrangler dev` with the built-in demo provider: the person approves a read with "Also allow
// this for 8 hours without asking" ticked, and a matching call then passes with no new request;
// /activity lists the rule, adds a never rule that refuses a write, extends a live grant and
// revokes everything. Screenshots (390x844) go to test-results/screenshots/rules-*.png.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { decideByFetch, signedInBrowser, structured, toolErrorBody } from "./lib/approval.mjs";
import { startFixture } from "./lib/fixture.mjs";
import { assertNoHorizontalOverflow, pageWidth, submitWith } from "./lib/phone-page.mjs";
import { connectV2Client } from "./lib/sdk-connect.mjs";

const EMAIL = "rita.rules@example.com";
const CLIENT_NAME = "E2E standing rules client";
const STEP = { timeout: 90_000 };

describe("standing rules on a phone", { timeout: 300_000 }, () => {
  /** @type {import("./lib/fixture.mjs").Fixture} */
  let fixture;
  /** @type {import("./lib/fixture.mjs").DevServer} */
  let server;
  /** @type {Awaited<ReturnType<typeof connectV2Client>>} */
  let mcp;
  /** The person's phone, signed in once and kept for every step. @type {import("./lib/fixture.mjs").PhonePage} */
  let phone;
  /** A fetch-based browser of the same person, for quick approvals. */
  let owner;

  const notesUrl = () => `${server.origin}/demo-api/notes`;
  const readNotes = () => mcp.call("call_integration_api", { method: "GET", url: notesUrl() });
  const writeNote = () =>
    mcp.call("call_integration_api", {
      method: "POST",
      url: notesUrl(),
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ title: "by rule?", text: "must not be written" }),
    });
  const exported = async () => (await owner.get("/activity/export.json")).json();

  /** Report, not assert, a page wider than the phone (as the other browser tests do). */
  async function noteWidth(page, name) {
    const width = await pageWidth(page);
    if (width.scrollWidth > width.innerWidth) {
      console.log(`# note: ${name} is ${width.scrollWidth}px wide on a ${width.innerWidth}px screen`);
    }
  }

  before(
    async () => {
      fixture = await startFixture({ label: "standing-rules", chromium: true });
      server = fixture.server;
      mcp = await connectV2Client(server, { email: EMAIL, clientName: CLIENT_NAME });
      owner = await signedInBrowser(server.origin, EMAIL);
      phone = await fixture.openPhone();
      const { page } = phone;
      await page.goto(`${server.origin}/connections`);
      await page.getByLabel("Email").fill(EMAIL);
      await Promise.all([
        page.waitForURL((url) => url.pathname === "/connections"),
        page.getByRole("button", { name: "Sign in" }).click(),
      ]);
      await Promise.all([
        page.waitForURL((url) => url.searchParams.get("connected") === "demo"),
        page.locator("#provider-demo").getByRole("button", { name: "Save key" }).click(),
      ]);
    },
    { timeout: 180_000 },
  );

  after(async () => {
    await phone?.context.close().catch(() => {});
    await mcp?.client.close().catch(() => {});
    await fixture?.stop();
  });

  test("approve with 'also allow' ticked: a matching call then passes with no new request", STEP, async () => {
    const { page } = phone;
    assert.equal(toolErrorBody(await readNotes()).error.code, "access_required");
    const asked = structured(
      await mcp.call("request_elevated_access", {
        kind: "broad",
        level: "read",
        providers: ["demo"],
        reason: "Read my notes now and later today",
      }),
      "request_elevated_access",
    );
    await page.goto(asked.approval_url);
    assert.equal(new URL(page.url()).pathname, `/approve/${asked.request_id}`);
    const box = page.locator("input[name=standing]");
    assert.equal(await box.isChecked(), false, "the box starts unticked");
    await box.check();
    await page.locator("select[name=standing_hours]").selectOption("8");
    await assertNoHorizontalOverflow(page);
    await fixture.screenshot(page, "rules-approval-also-allow");
    await submitWith(page, "Approve");
    assert.equal(await page.locator("h1").textContent(), "Approved");
    assert.ok(((await page.locator(".card").textContent()) ?? "").includes("Also allowed without asking for 8 h"));
    await fixture.screenshot(page, "rules-approval-outcome");

    // The assistant gives the grant back; the rule still lets reads run, with no new request.
    structured(await mcp.call("revoke_access", { request_id: asked.request_id }), "revoke_access");
    const before = (await exported()).grants.length;
    const got = structured(await readNotes(), "GET notes under the rule");
    assert.equal(got.status, 200);
    assert.match(got.rule_id, /^rule_/);
    assert.equal(got.grant_id, undefined);
    const data = await exported();
    assert.equal(data.grants.length, before, "no new request was made");
    const allowed = data.audit.filter((entry) => entry.event === "call_allowed" && entry.detail.rule === got.rule_id);
    assert.equal(allowed.length, 1, "the call is audited as allowed by the rule");
    // A write is not what the read rule covers.
    assert.equal(toolErrorBody(await writeNote()).error.code, "access_required");
  });

  test("/activity lists the rule; a never rule added there refuses a write, then is removed", STEP, async () => {
    const { page, pageErrors, dialogs } = phone;
    await page.goto(`${server.origin}/activity`);
    const card = page.locator("#standing-rules");
    assert.ok(((await card.textContent()) ?? "").includes("allow read"), "the approval's rule is listed");
    assert.ok(((await card.textContent()) ?? "").includes(CLIENT_NAME), "for this app");
    await card.locator("select[name=target]").selectOption("demo");
    await card.locator("input[name=rule][value=never-write]").check();
    await card.locator("select[name=hours]").selectOption("1");
    await submitWith(page, "Add rule", 303);
    assert.equal(new URL(page.url()).pathname, "/activity");
    const rows = card.locator("li");
    assert.equal(await rows.count(), 2);
    assert.ok(((await card.textContent()) ?? "").includes("never write"));
    await noteWidth(page, "/activity");
    await fixture.screenshot(page, "rules-activity-standing-rules");

    const refused = toolErrorBody(await writeNote());
    assert.equal(refused.error.code, "refused_by_rule");
    const ask = toolErrorBody(
      await mcp.call("request_elevated_access", { kind: "broad", level: "write", providers: ["demo"], reason: "w" }),
    );
    assert.equal(ask.error.code, "refused_by_rule");

    const [removed] = await Promise.all([
      page.waitForResponse((res) => res.request().method() === "POST"),
      card.locator("li", { hasText: "never write" }).getByRole("button", { name: "Remove" }).click(),
    ]);
    await page.waitForLoadState("domcontentloaded");
    assert.equal(removed.status(), 303);
    assert.equal(await card.locator("li").count(), 1, "one rule is left after Remove");
    assert.ok(((await card.textContent()) ?? "").includes("allow read"), "the allow rule stays");
    const ended = (await exported()).rules.find((rule) => rule.effect === "never");
    assert.equal(ended?.endReason, "removed");
    assert.deepEqual(dialogs, []);
    assert.deepEqual(pageErrors, []);
  });

  test("+15 min on a live grant, then Revoke everything ends grants and allow rules", STEP, async () => {
    const { page } = phone;
    const asked = structured(
      await mcp.call("request_elevated_access", {
        kind: "broad",
        level: "read",
        providers: ["demo"],
        reason: "Read for five minutes",
        duration_minutes: 5,
      }),
      "request_elevated_access",
    );
    const decided = await decideByFetch(owner, asked.approval_url, { decision: "approve" });
    assert.equal(decided.status, 200);
    await page.goto(`${server.origin}/activity`);
    const expiresAt = async () =>
      (await exported()).grants.find((grant) => grant.id === asked.request_id)?.expiresAt ?? 0;
    const before = await expiresAt();
    await submitWith(page, "+15 min", 303);
    assert.equal((await expiresAt()) - before, 15 * 60_000, "the grant ends 15 minutes later");
    assert.ok(((await page.locator("body").textContent()) ?? "").match(/(19|20) min( \d+ s)? left/));
    await fixture.screenshot(page, "rules-activity-extended");

    await submitWith(page, "Revoke everything: all access and allow rules", 303);
    const body = (await page.locator("body").textContent()) ?? "";
    assert.ok(body.includes("No assistant holds any access right now."));
    const data = await exported();
    assert.equal(data.grants.find((grant) => grant.id === asked.request_id)?.status, "revoked");
    const liveAllow = data.rules.filter((rule) => rule.effect === "allow" && rule.endedAt === null);
    assert.deepEqual(liveAllow, [], "no allow rule is left");
    await fixture.screenshot(page, "rules-activity-revoked-everything");
    assert.equal(toolErrorBody(await readNotes()).error.code, "access_required");
  });
});
