// Personal API keys against wrangler dev: a signed-in person makes a key on /activity by HTTP
// (shown once), an MCP SDK v2 client lists and calls tools with it as a bearer header and as
// `x-api-key`, a request made with the key is approved on the approval page and its demo-provider
// call runs, a revoked key gets 401 invalid_api_key, and the key never appears in the dev
// server's log.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as v2 from "@modelcontextprotocol/client";
import { decideByFetch, signedInBrowser, structured } from "./lib/approval.mjs";
import { parseForms } from "./lib/browser-flow.mjs";
import { REPO_ROOT, startFixture } from "./lib/fixture.mjs";
import { assertNoHorizontalOverflow } from "./lib/phone-page.mjs";
import { fetchWithTimeout } from "./lib/util.mjs";

const STEP = { timeout: 60_000 };
const HOOK = { timeout: 90_000 };
const KEY_SHAPE = /cs_key_[0-9a-f]{16}_[0-9a-f]{64}/;

/** An SDK v2 client connected to /mcp with `headers` on every request. */
async function keyClient(server, headers) {
  const client = new v2.Client(
    { name: "countersign-e2e-key", version: "1.0.0" },
    { versionNegotiation: { mode: "auto" } },
  );
  await client.connect(new v2.StreamableHTTPClientTransport(new URL(server.resource), { requestInit: { headers } }));
  return client;
}

const EMAIL = "headless@example.com";

describe("personal API keys, against wrangler dev", { timeout: 240_000 }, () => {
  /** @type {import("./lib/fixture.mjs").Fixture} */
  let fixture;
  /** @type {import("./lib/fixture.mjs").DevServer} */
  let server;
  /** @type {import("./lib/browser-flow.mjs").BrowserSession} */
  let browser;
  let key = "";
  let csrf = "";
  /** The key made in Chromium (checked against the log too). */
  let phoneKey = "";

  before(async () => {
    fixture = await startFixture({ label: "api-keys", chromium: true });
    server = fixture.server;
    browser = await signedInBrowser(server.origin, EMAIL);
  }, HOOK);

  after(async () => {
    await fixture?.stop();
  });

  test("a key made on /activity is shown once", STEP, async () => {
    const page = await (await browser.get("/activity")).text();
    const form = parseForms(page).find((f) => f.action === "/activity/api-keys");
    assert.ok(form, "the activity page offers the API key form");
    csrf = form.inputs.find((input) => input.name === "csrf")?.value ?? "";
    const created = await browser.post(
      "/activity/api-keys",
      new URLSearchParams({ csrf, name: "nightly CI", days: "30" }),
    );
    const html = await created.text();
    assert.equal(created.status, 200, html.slice(0, 300));
    key = KEY_SHAPE.exec(html)?.[0] ?? "";
    assert.ok(key, "the key is on the page that follows");
    const again = await (await browser.get("/activity")).text();
    assert.ok(again.includes(key.slice(0, 23)), "the list shows the key's id");
    assert.ok(!again.includes(key), "the key itself is never shown again");
  });

  test("on a phone, Create key shows the key once and the list shows it without its secret", STEP, async () => {
    const { context, page, dialogs, pageErrors } = await fixture.openPhone();
    try {
      await page.goto(`${server.origin}/activity`);
      assert.equal(new URL(page.url()).pathname, "/signin", "signed out, /activity asks to sign in");
      await page.getByLabel("Email").fill(EMAIL);
      await Promise.all([
        page.waitForURL((url) => url.pathname === "/activity"),
        page.getByRole("button", { name: "Sign in" }).click(),
      ]);
      const section = page.locator("#api-keys");
      await section.getByLabel("Client name").fill("phone-made key");
      await Promise.all([
        page.waitForResponse((res) => res.request().method() === "POST"),
        section.getByRole("button", { name: "Create key" }).click(),
      ]);
      await page.waitForLoadState("domcontentloaded");
      assert.equal(await page.locator("h1").textContent(), "API key created");
      const shown = ((await page.locator("#api-key-value").textContent()) ?? "").trim();
      phoneKey = shown;
      assert.match(shown, new RegExp(`^${KEY_SHAPE.source}$`));
      await assertNoHorizontalOverflow(page);
      await fixture.screenshot(page, "api-key-created");

      await page.goto(`${server.origin}/activity#api-keys`);
      const listed = (await page.locator("#api-keys").textContent()) ?? "";
      assert.ok(listed.includes("phone-made key"));
      assert.ok(listed.includes(shown.slice(0, 23)), "the list names the key's id");
      assert.ok(!listed.includes(shown.slice(-64)), "the secret is never shown again");
      await assertNoHorizontalOverflow(page);
      await page.locator("#api-keys").scrollIntoViewIfNeeded();
      await page
        .locator("#api-keys")
        .screenshot({ path: join(REPO_ROOT, "test-results/screenshots/api-keys-section.png") });
      assert.deepEqual(dialogs, []);
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });

  for (const [label, headers] of [
    ["a bearer header", () => ({ Authorization: `Bearer ${key}` })],
    ["x-api-key", () => ({ "x-api-key": key })],
  ]) {
    test(`an SDK v2 client lists and calls tools with ${label}`, STEP, async () => {
      const client = await keyClient(server, headers());
      try {
        const { tools } = await client.listTools();
        assert.ok(tools.some((tool) => tool.name === "request_elevated_access"));
        const who = structured(await client.callTool({ name: "whoami", arguments: {} }), "whoami");
        assert.equal(who.user.email, EMAIL);
        assert.equal(who.client.name, "nightly CI");
        assert.match(who.client.connection_id, /^key_[0-9a-f]{16}$/);
      } finally {
        await client.close();
      }
    });
  }

  test("a request made with the key is approved on the approval page, and the call runs", STEP, async () => {
    // The dev-mode demo provider, connected by the person with its pre-filled key.
    const connections = await (await browser.get("/connections")).text();
    const demo = parseForms(connections).find((f) => f.action === "/connections/demo/api-key");
    assert.ok(demo, "the demo provider offers its key form");
    const saved = await browser.post(
      demo.action,
      new URLSearchParams(demo.inputs.filter((input) => input.name).map((input) => [input.name, input.value ?? ""])),
    );
    await saved.arrayBuffer();
    assert.equal(saved.status, 303, "the demo provider is connected");

    const client = await keyClient(server, { "x-api-key": key });
    try {
      const asked = structured(
        await client.callTool({
          name: "request_elevated_access",
          arguments: { kind: "broad", level: "read", providers: ["demo"], reason: "nightly report" },
        }),
        "request_elevated_access",
      );
      const decided = await decideByFetch(browser, asked.approval_url, { decision: "approve" });
      assert.equal(decided.status, 200, decided.html.slice(0, 300));
      const status = structured(
        await client.callTool({ name: "check_access_request", arguments: { request_id: asked.request_id } }),
        "check_access_request",
      );
      assert.equal(status.status, "approved");
      const who = structured(await client.callTool({ name: "whoami", arguments: {} }), "whoami");
      assert.equal(who.authority.grants.length, 1);
      const got = structured(
        await client.callTool({
          name: "call_integration_api",
          arguments: { method: "GET", url: `${server.origin}/demo-api/notes` },
        }),
        "GET notes",
      );
      assert.equal(got.status, 200);
      assert.equal(got.grant_id, asked.request_id);
    } finally {
      await client.close();
    }
  });

  test("a revoked key gets 401 invalid_api_key", STEP, async () => {
    const id = key.slice(7, 23);
    const revoked = await browser.post(`/activity/api-keys/${id}/revoke`, new URLSearchParams({ csrf }));
    await revoked.arrayBuffer();
    assert.equal(revoked.status, 303);
    for (const headers of [{ Authorization: `Bearer ${key}` }, { "x-api-key": key }]) {
      const res = await fetchWithTimeout(server.resource, {
        method: "POST",
        headers: { ...headers, "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      });
      assert.equal(res.status, 401);
      assert.match(res.headers.get("WWW-Authenticate") ?? "", /error="invalid_token"/);
      assert.equal((await res.json()).error, "invalid_api_key");
    }
  });

  test("the key never appears in the dev server's log", STEP, async () => {
    assert.ok(key, "a key was made");
    assert.ok(!server.logs().includes(key), "the whole key");
    assert.ok(!server.logs().includes(key.slice(-64)), "its secret");
    assert.ok(phoneKey, "a key was made on the phone");
    assert.ok(!server.logs().includes(phoneKey.slice(-64)), "the phone-made key's secret");
  });
});
