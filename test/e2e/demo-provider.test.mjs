// The built-in demo provider end to end (dev mode, no CUSTOM_PROVIDERS): the person opens
// /connections on a phone in headless Chromium, signs in, sees the demo key pre-filled and saves
// it; a v2 MCP client asks for read access to "demo", the person approves, and the client reads
// the seeded notes from <origin>/demo-api/notes through call_integration_api; a write goes
// through a one-call approval and works exactly once; /activity shows the calls.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { decideByFetch, signedInBrowser, structured, toolErrorBody } from "./lib/approval.mjs";
import { startFixture } from "./lib/fixture.mjs";
import { pageWidth } from "./lib/phone-page.mjs";
import { connectV2Client } from "./lib/sdk-connect.mjs";

const EMAIL = "dora.demo@example.com";
const CLIENT_NAME = "E2E demo provider client";
const STEP = { timeout: 60_000 };
const SEEDED = [
  { id: "n1", title: "Welcome" },
  { id: "n2", title: "Groceries" },
];

describe("the built-in demo provider", { timeout: 240_000 }, () => {
  /** @type {import("./lib/fixture.mjs").Fixture} */
  let fixture;
  /** @type {import("./lib/fixture.mjs").DevServer} */
  let server;
  /** @type {Awaited<ReturnType<typeof connectV2Client>>} */
  let mcp;
  /** @type {import("./lib/browser-flow.mjs").BrowserSession} */
  let owner;
  /** The demo key as /connections showed it. */
  let demoKey = "";
  /** @type {string[]} */
  const outputs = [];

  const call = async (name, args = {}) => {
    const result = await mcp.call(name, args);
    outputs.push(JSON.stringify(result));
    return result;
  };
  const notesUrl = () => `${server.origin}/demo-api/notes`;

  before(
    async () => {
      fixture = await startFixture({ label: "demo-provider", chromium: true });
      server = fixture.server;
      mcp = await connectV2Client(server, { email: EMAIL, clientName: CLIENT_NAME });
      owner = await signedInBrowser(server.origin, EMAIL);
    },
    { timeout: 180_000 },
  );

  after(async () => {
    await mcp?.client.close().catch(() => {});
    await fixture?.stop();
  });

  test("on /connections the demo shows its key, pre-filled; Save key connects it", STEP, async () => {
    const { context, page, dialogs, pageErrors } = await fixture.openPhone();
    try {
      await page.goto(`${server.origin}/connections`);
      assert.equal(new URL(page.url()).pathname, "/signin", "signed out, /connections asks to sign in");
      await page.getByLabel("Email").fill(EMAIL);
      await Promise.all([
        page.waitForURL((url) => url.pathname === "/connections"),
        page.getByRole("button", { name: "Sign in" }).click(),
      ]);
      assert.equal(await page.locator("h1").textContent(), "Connections");

      const row = page.locator("#provider-demo");
      assert.ok(((await row.locator("strong").textContent()) ?? "").includes("Demo"), "the demo provider is listed");
      assert.equal((await row.locator("span.muted").first().textContent())?.trim(), "not connected");
      demoKey = ((await row.locator("p .mono").textContent()) ?? "").trim();
      assert.match(demoKey, /^[\w-]{20,}$/, "the demo key is shown");
      assert.equal(await row.locator("input[name=api_key]").inputValue(), demoKey, "the key field is pre-filled");
      assert.equal(await row.locator("input[name=api_key]").getAttribute("type"), "password");

      await fixture.screenshot(page, "connections");

      const [answer] = await Promise.all([
        page.waitForResponse((res) => res.request().method() === "POST"),
        row.getByRole("button", { name: "Save key" }).click(),
      ]);
      await page.waitForLoadState("domcontentloaded");
      assert.equal(answer.status(), 303, "Save key redirects back");
      assert.equal(new URL(page.url()).pathname, "/connections");
      assert.equal(new URL(page.url()).searchParams.get("connected"), "demo");
      assert.ok(await page.getByText("Demo notes (built in) is connected.").isVisible());
      assert.equal((await row.locator("span.muted").first().textContent())?.trim(), "connected");
      assert.ok(await row.getByRole("button", { name: "Disconnect" }).isVisible());
      const width = await pageWidth(page);
      if (width.scrollWidth > width.innerWidth) {
        console.log(`# note: /connections is ${width.scrollWidth}px wide on a ${width.innerWidth}px screen`);
      }
      await fixture.screenshot(page, "connections-saved");
      assert.deepEqual(dialogs, []);
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
    const list = structured(await call("list_integrations"), "list_integrations");
    const demo = list.integrations.find((item) => item.id === "demo");
    assert.equal(demo?.status, "connected");
    assert.equal(demo?.allowed, "none");
  });

  test("read access to demo, approved: GET /demo-api/notes returns the seeded notes", STEP, async () => {
    assert.ok(demoKey, "the previous test connected the demo");
    const denied = toolErrorBody(await call("call_integration_api", { method: "GET", url: notesUrl() }));
    assert.equal(denied.error.code, "access_required");
    assert.deepEqual(denied.error.request_elevated_access.providers, ["demo"]);

    const asked = structured(
      await call("request_elevated_access", {
        kind: "broad",
        level: "read",
        providers: ["demo"],
        reason: "Read my demo notes",
      }),
      "request_elevated_access",
    );
    const decided = await decideByFetch(owner, asked.approval_url, { decision: "approve" });
    assert.equal(decided.status, 200, decided.html.slice(0, 300));

    const got = structured(await call("call_integration_api", { method: "GET", url: notesUrl() }), "GET notes");
    assert.equal(got.status, 200);
    assert.equal(got.provider, "demo");
    assert.equal(got.access, "read");
    assert.equal(got.grant_id, asked.request_id);
    for (const seeded of SEEDED) {
      assert.ok(
        got.body.notes.some((note) => note.id === seeded.id && note.title === seeded.title),
        `the seeded note ${seeded.id} is there: ${JSON.stringify(got.body)}`,
      );
    }
    const search = structured(
      await call("call_integration_api", {
        method: "POST",
        url: `${server.origin}/demo-api/search`,
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ query: "milk" }),
      }),
      "POST search",
    );
    assert.equal(search.access, "read", "the demo search is a declared read");
    assert.deepEqual(
      search.body.notes.map((note) => note.id),
      ["n2"],
    );
    const list = structured(await call("list_integrations"), "list_integrations");
    assert.equal(list.integrations.find((item) => item.id === "demo")?.allowed, "read");
  });

  test("a note is written through a one-call approval, exactly once", STEP, async () => {
    const write = {
      method: "POST",
      url: notesUrl(),
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ title: "From the e2e test", text: "Written once, through a call approval." }),
    };
    const refused = toolErrorBody(await call("call_integration_api", write));
    assert.equal(refused.error.code, "access_required");
    assert.equal(refused.error.reason, "read_only");
    const ask = refused.error.request_elevated_access;
    assert.equal(ask.kind, "call");

    const asked = structured(
      await call("request_elevated_access", { ...ask, reason: "Save a note for you" }),
      "request_elevated_access kind=call",
    );
    const decided = await decideByFetch(owner, asked.approval_url, { decision: "approve" });
    assert.equal(decided.status, 200, decided.html.slice(0, 300));

    const done = structured(await call("call_integration_api", { ...write, request_id: asked.request_id }), "POST");
    assert.equal(done.status, 201);
    assert.equal(done.access, "write");
    assert.equal(done.body.title, "From the e2e test");
    const again = toolErrorBody(await call("call_integration_api", { ...write, request_id: asked.request_id }));
    assert.equal(again.error.code, "expired");

    const got = structured(await call("call_integration_api", { method: "GET", url: notesUrl() }), "GET notes");
    const mine = got.body.notes.filter((note) => note.title === "From the e2e test");
    assert.equal(mine.length, 1, "the note was created exactly once");
    assert.equal(mine[0].id, done.body.id);
  });

  test("/activity shows the calls; the demo key is in no tool answer", STEP, async () => {
    const res = await owner.get("/activity");
    const html = await res.text();
    assert.equal(res.status, 200);
    for (const event of ["provider connected", "call allowed", "call completed", "call denied", "consumed"]) {
      assert.ok(html.includes(event), `/activity shows "${event}"`);
    }
    assert.ok(html.includes("/demo-api/notes"), "the call's URL is shown");
    const exported = await (await owner.get("/activity/export.json")).json();
    const completed = exported.audit.filter((entry) => entry.event === "call_completed");
    assert.ok(completed.length >= 4, `${completed.length} completed calls`);
    assert.ok(completed.some((entry) => entry.detail.status === 201));
    assert.ok(outputs.length >= 8);
    for (const output of outputs) assert.ok(!output.includes(demoKey), "no tool answer contains the demo key");
  });
});
