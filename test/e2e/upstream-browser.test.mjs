// The "MCP servers" section of /connections on a phone, in headless Chromium, against a real
// `wrangler dev` and the OAuth-protected upstream fixture (test/e2e/lib/upstream-mcp.mjs) on
// 127.0.0.1. The person signs in, adds `tracker` by URL, taps Connect (the browser really goes
// to the upstream's /authorize and back) and lands on the reads question, accepts two reads,
// jumps to the server from the top of the page, then removes it after the question Remove asks
// (Cancel first, then "Yes, remove"); hostile names and URLs typed into the form give an error
// page with a code and add nothing. Every page is
// checked for upstream links, tokens, horizontal overflow, console errors and CSP violations.
// Only clicks and typing: no crafted POSTs. Screenshots go to test-results/screenshots/.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startFixture } from "./lib/fixture.mjs";
import { assertNoHorizontalOverflow } from "./lib/phone-page.mjs";
import { startUpstreamMcp } from "./lib/upstream-mcp.mjs";

const EMAIL = "pia.phone@example.com";
const NAME = "tracker";
const TOOL_COUNT = 7;
const READS = ["search_issues", "get_issue"];
/** Tools the fixture annotates readOnlyHint: true, offered in the acceptance form. */
const CLAIMED_READS = ["big_result", "get_issue", "search_issues", "whoami"];
/** What the fixture hands out: `at_`/`rt_`/`code_` + 24 random bytes in base64url. */
const FIXTURE_SECRET = /(?<![\w-])(?:at|rt|code)_[\w-]{32}/;
const STEP = { timeout: 30_000 };
const HOSTILE = [
  { name: "evil", url: "javascript:alert(1)", code: "url_invalid" },
  { name: "metadata", url: "http://169.254.169.254/latest/meta-data/", code: "url_invalid" },
  { name: "<img src=x onerror=alert(1)>", url: "https://mcp.example.com/mcp", code: "name_invalid" },
];

describe("MCP servers on /connections, on a phone in headless Chromium", { timeout: 180_000 }, () => {
  /** @type {import("./lib/upstream-mcp.mjs").UpstreamMcp} */
  let upstream;
  /** @type {import("./lib/fixture.mjs").Fixture} */
  let fixture;
  /** @type {import("./lib/fixture.mjs").DevServer} */
  let server;
  /** @type {import("./lib/fixture.mjs").PhonePage} */
  let phone;
  /** Console errors and CSP violations, as text. @type {string[]} */
  const problems = [];
  /** Every URL the page requested, redirect hops included. @type {string[]} */
  const requested = [];

  before(
    async () => {
      upstream = await startUpstreamMcp();
      fixture = await startFixture({
        label: "upstream-browser",
        vars: { UPSTREAM_DEV_LOOPBACK: "enabled" },
        chromium: true,
      });
      server = fixture.server;
      phone = await fixture.openPhone();
      const { page } = phone;
      page.on("console", (message) => {
        if (message.type() !== "error") return;
        const source = message.location().url;
        // Chromium asks every new origin for /favicon.ico; the app has none. Not a page's fault.
        if (new URL(source || "about:blank").pathname === "/favicon.ico") return;
        problems.push(`console: ${message.text()} (${source || page.url()})`);
      });
      page.on("request", (request) => requested.push(request.url()));
      await page.exposeBinding("__reportCspViolation", (_source, text) => problems.push(`csp: ${text}`));
      await page.addInitScript(() => {
        document.addEventListener("securitypolicyviolation", (event) => {
          // @ts-expect-error the binding exposed above
          window.__reportCspViolation(`${event.violatedDirective} blocked ${event.blockedURI}`);
        });
      });
    },
    { timeout: 120_000 },
  );

  after(async () => {
    await phone?.context.close().catch(() => {});
    await fixture?.stop();
    await upstream?.close();
  });

  const page = () => phone.page;
  const section = () => page().locator("#mcp-servers");
  const row = () => page().locator(`#server-${NAME}`);
  const serverIds = () =>
    section()
      .locator("li[id^='server-']")
      .evaluateAll((items) => items.map((item) => item.id));

  /**
   * What every page must hold to: links and forms only to our origin, no upstream secret, no
   * injected script, no horizontal overflow, and no console error or CSP violation so far.
   */
  async function assertCleanPage(label) {
    const targets = await page().evaluate(() => [
      ...[...document.querySelectorAll("a[href]")].map((a) => /** @type {HTMLAnchorElement} */ (a).href),
      ...[...document.querySelectorAll("form")].map((form) => /** @type {HTMLFormElement} */ (form).action),
    ]);
    for (const target of targets) {
      assert.equal(new URL(target).origin, server.origin, `${label}: ${target} leaves the origin`);
    }
    const html = await page().content();
    assert.doesNotMatch(html, FIXTURE_SECRET, `${label}: the page shows an upstream token or code`);
    assert.ok(!html.includes(`href="${upstream.origin}`), `${label}: no link to the upstream`);
    assert.equal(await page().locator("script").count(), 0, `${label}: no <script> element`);
    await assertNoHorizontalOverflow(page());
    assert.deepEqual(problems, [], `${label}: console errors or CSP violations`);
    assert.deepEqual(phone.pageErrors, [], `${label}: page errors`);
    assert.deepEqual(phone.dialogs, [], `${label}: dialogs`);
  }

  /**
   * Tap a submit button and wait for the page its redirects end on, which must be /connections
   * with `search`. Waits for the new document's load event: the URL may not change (Connect
   * returns to the very URL it left from), so waiting for a URL would race.
   */
  async function tapAndReturn(locator, search) {
    await tapAndLand(locator, "/connections", search);
  }

  /** Tap and wait for the page the redirects end on, which must be `pathname` with `search`. */
  async function tapAndLand(locator, pathname, search = "") {
    await Promise.all([page().waitForEvent("load"), locator.click()]);
    const url = new URL(page().url());
    const where = `${url.pathname}${url.search}: ${await page().locator("h1").textContent()}`;
    assert.equal(url.origin, server.origin, where);
    assert.equal(url.pathname, pathname, where);
    assert.equal(url.search, search, where);
  }

  test("signed in, Add server lists tracker as not connected with a Connect button", STEP, async () => {
    await page().goto(`${server.origin}/connections`);
    assert.equal(new URL(page().url()).pathname, "/signin", "signed out, /connections asks to sign in");
    await page().getByLabel("Email").fill(EMAIL);
    await Promise.all([
      page().waitForURL((url) => url.pathname === "/connections"),
      page().getByRole("button", { name: "Sign in" }).click(),
    ]);
    assert.equal(await page().locator("h1").textContent(), "Connections");
    assert.deepEqual(await serverIds(), [], "no servers yet");

    await section().scrollIntoViewIfNeeded();
    assert.equal(await section().locator("h2").textContent(), "MCP servers");
    await section().getByLabel("Name", { exact: true }).fill(NAME);
    await section().getByLabel("Server URL", { exact: true }).fill(upstream.mcpUrl);
    await assertCleanPage("/connections before adding");
    await tapAndReturn(section().getByRole("button", { name: "Add server" }), `?server=${NAME}`);

    assert.deepEqual(await serverIds(), [`server-${NAME}`]);
    assert.equal((await row().locator("[data-status]").textContent())?.trim(), "not connected");
    assert.equal(await row().locator("p.mono").textContent(), upstream.mcpUrl, "the URL is shown as text");
    assert.ok(await row().getByRole("button", { name: "Connect", exact: true }).isVisible());
    assert.ok(await row().getByRole("button", { name: "Remove", exact: true }).isVisible());
    assert.equal(await row().getByRole("link").count(), 0, "the server URL is not a link");
    const stats = upstream.stats();
    assert.equal(stats.registrations.length, 0, "adding registers nothing upstream");
    assert.equal(stats.authorizations.length, 0);
    await assertCleanPage("/connections after adding");
    await fixture.screenshot(page(), "mcp-servers-added");
  });

  test("Connect goes through the upstream's /authorize and lands on the reads question", STEP, async () => {
    const from = requested.length;
    await tapAndLand(row().getByRole("button", { name: "Connect", exact: true }), `/connections/mcp/${NAME}/reads`);
    const hops = requested.slice(from).map((href) => new URL(href));
    assert.ok(
      hops.some((url) => `${url.origin}${url.pathname}` === `${upstream.origin}/authorize`),
      `the browser went to the upstream's /authorize: ${hops.map((url) => url.pathname).join(" → ")}`,
    );
    assert.ok(
      hops.some((url) => url.origin === server.origin && url.pathname === "/connections/mcp/callback"),
      "and came back through our callback",
    );

    assert.equal(await page().locator("h1").textContent(), `Which ${NAME} tools may run as reads?`);
    const offered = await page()
      .locator("input[type=checkbox][name=tools]")
      .evaluateAll((inputs) => inputs.map((input) => /** @type {HTMLInputElement} */ (input).value));
    assert.deepEqual(offered.toSorted(), CLAIMED_READS, "exactly the tools that claim to read are asked about");
    for (const name of CLAIMED_READS) {
      assert.equal(
        await page().locator(`input[type=checkbox][name=tools][value=${name}]`).isChecked(),
        false,
        `${name} unticked`,
      );
    }
    const text = (await page().locator(".card").textContent()) ?? "";
    assert.match(text, /Not accepted: the tool counts as a write\. Each call asks you first/);
    assert.ok(await page().getByRole("button", { name: "Accept the ticked tools" }).isVisible());
    assert.ok(
      await page()
        .getByRole("button", { name: `Accept all ${CLAIMED_READS.length}` })
        .isVisible(),
    );
    assert.ok(await page().getByRole("button", { name: "Accept none: every call asks" }).isVisible());
    // The fixture's whoami describes itself with a prompt injection and a <script> tag: text only.
    assert.equal(await page().locator("script").count(), 0);
    const stats = upstream.stats();
    assert.equal(stats.registrations.length, 1, "one dynamic client registration");
    assert.equal(stats.authorizations.length, 1);
    assert.equal(stats.authorizations[0].outcome, "code");
    assert.equal(stats.tokenRequests.authorization_code, 1, "one code exchange");
    assert.deepEqual(stats.tokenErrors, []);
    await assertCleanPage("the reads question");
    await fixture.screenshot(page(), "mcp-reads-question");
  });

  test("ticking two reads and Accept goes back to /connections, connected, with them as (read)", STEP, async () => {
    for (const name of READS) await page().locator(`input[type=checkbox][name=tools][value=${name}]`).check();
    await tapAndReturn(page().getByRole("button", { name: "Accept the ticked tools" }), `?server=${NAME}`);

    assert.equal((await row().locator("[data-status]").textContent())?.trim(), "connected");
    assert.equal(await row().getByRole("button", { name: "Connect", exact: true }).count(), 0);
    assert.ok(await row().getByRole("button", { name: "Refresh tools" }).isVisible());
    assert.ok(await row().getByRole("button", { name: "Disconnect" }).isVisible());
    assert.equal(
      (await row().locator("p.muted", { hasText: "say they only read" }).textContent())?.trim(),
      `${CLAIMED_READS.length} tools say they only read; ${READS.length} accepted as reads. Choose reads`,
    );
    const tools = row().locator("details");
    assert.equal(
      (await tools.locator("summary").textContent())?.trim(),
      `${TOOL_COUNT} tools; ${READS.length} accepted as reads`,
    );
    await tools.locator("summary").click();
    const listed = await tools.locator("ul.plain li").allTextContents();
    for (const name of READS) assert.ok(listed.includes(`${name} (read)`), `${name} is a read: ${listed}`);
    assert.ok(listed.includes("whoami (says read-only)"), "a claim not accepted stays a claim");
    assert.ok(listed.includes("create_issue"), "a write is neither");
    await assertCleanPage("/connections after accepting reads");
    await fixture.screenshot(page(), "mcp-servers-reads");

    // "Choose reads" asks again, with the answer given ticked.
    await tapAndLand(row().getByRole("link", { name: "Choose reads" }), `/connections/mcp/${NAME}/reads`);
    for (const name of CLAIMED_READS) {
      const box = page().locator(`input[type=checkbox][name=tools][value=${name}]`);
      assert.equal(await box.isChecked(), READS.includes(name), `${name} is ticked only if accepted`);
    }
    await assertCleanPage("the reads question, asked again");
    await Promise.all([page().waitForURL((url) => url.pathname === "/connections"), page().goBack()]);
  });

  test("the jump link at the top of /connections brings the server into view", STEP, async () => {
    await page().goto(`${server.origin}/connections`);
    const jumps = page().locator("nav.jump a");
    const labels = await jumps.allTextContents();
    assert.match(labels[0] ?? "", /^Accounts \(\d+\)$/);
    assert.deepEqual(labels.slice(1), ["MCP servers (1)", NAME]);
    const box = await page().locator("nav.jump").boundingBox();
    assert.ok(box && box.y + box.height <= 844, `the jump links are on the first screen: ${JSON.stringify(box)}`);
    const before = await row().boundingBox();
    assert.ok(before && before.y > 844, `tracker starts below the first screen: ${JSON.stringify(before)}`);
    await fixture.screenshot(page(), "connections-jump-links");
    await jumps.filter({ hasText: NAME }).click();
    await page().waitForURL((url) => url.hash === `#server-${NAME}`);
    const after = await row().boundingBox();
    assert.ok(after && after.y >= 0 && after.y < 844, `tracker is in view after the jump: ${JSON.stringify(after)}`);
    await assertCleanPage("/connections after the jump");
  });

  test("Remove asks first: Cancel keeps the server and revokes nothing", STEP, async () => {
    const before = upstream.stats().revocations.length;
    await tapAndLand(row().getByRole("button", { name: "Remove", exact: true }), `/connections/mcp/${NAME}/remove`);
    assert.equal(await page().locator("h1").textContent(), `Remove ${NAME}?`);
    const text = (await page().locator(".card").textContent()) ?? "";
    assert.match(text, /tokens are revoked where the server supports that/);
    assert.match(text, new RegExp(`Every grant and pending request naming ${NAME} ends`));
    assert.ok(await page().getByRole("button", { name: "Yes, remove" }).isVisible());
    assert.equal(upstream.stats().revocations.length, before, "asking revokes nothing");
    await assertCleanPage("the Remove question");
    await fixture.screenshot(page(), "mcp-remove-confirm");

    await tapAndReturn(page().getByRole("link", { name: "Cancel" }), `?server=${NAME}`);
    assert.deepEqual(await serverIds(), [`server-${NAME}`], "tracker is still there");
    assert.equal((await row().locator("[data-status]").textContent())?.trim(), "connected");
    assert.equal(upstream.stats().revocations.length, before, "Cancel revokes nothing");
  });

  test("Yes, remove takes the server off the page and revokes upstream", STEP, async () => {
    const before = upstream.stats().revocations.length;
    await tapAndLand(row().getByRole("button", { name: "Remove", exact: true }), `/connections/mcp/${NAME}/remove`);
    await tapAndReturn(page().getByRole("button", { name: "Yes, remove" }), "");
    assert.equal(await row().count(), 0, "tracker is gone");
    assert.deepEqual(await serverIds(), []);
    const revoked = upstream.stats().revocations.slice(before);
    assert.ok(
      revoked.some((entry) => entry.tokenType !== null),
      `a live token was revoked upstream: ${JSON.stringify(revoked)}`,
    );
    await assertCleanPage("/connections after Remove");
  });

  for (const hostile of HOSTILE) {
    test(
      `Add server with name ${JSON.stringify(hostile.name)} and URL ${hostile.url} is refused with ${hostile.code}`,
      STEP,
      async () => {
        await page().goto(`${server.origin}/connections#mcp-servers`);
        const listed = await serverIds();
        const stats = upstream.stats();
        await section().getByLabel("Name", { exact: true }).fill(hostile.name);
        await section().getByLabel("Server URL", { exact: true }).fill(hostile.url);
        const [answer] = await Promise.all([
          page().waitForResponse((res) => res.request().method() === "POST"),
          page().waitForEvent("load"),
          section().getByRole("button", { name: "Add server" }).click(),
        ]);
        assert.equal(answer.status(), 400);
        assert.equal(new URL(page().url()).pathname, "/connections/mcp/add");
        assert.equal(await page().locator("h1").textContent(), "Server not added");
        assert.equal(await page().locator("p.mono").textContent(), hostile.code);
        assert.equal(await page().locator("img").count(), 0, "the name is not rendered as markup");
        // Chromium logs the 400 document itself as a failed resource: expected here, nothing else.
        const expected = problems.filter((text) => /status of 400/.test(text));
        assert.equal(expected.length, problems.length, `only the 400 is logged: ${problems}`);
        problems.length = 0;
        await assertCleanPage(`the ${hostile.code} page`);

        await Promise.all([page().waitForURL((url) => url.pathname === "/connections"), page().goBack()]);
        assert.deepEqual(await serverIds(), listed, "nothing was added");
        assert.equal(upstream.stats().registrations.length, stats.registrations.length);
        await assertCleanPage("/connections after going back");
      },
    );
  }
});
