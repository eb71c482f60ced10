// What the approval page shows is what is sent, in headless Chromium at 390×844: for each
// hostile one-call request (bidi marks, soft hyphens, tag characters, zero-width and variation
// characters in the reason, the path, the query and the body; a body with duplicate keys and
// numbers JSON cannot hold), the rendered text shows every hidden character as a `[U+XXXX]`
// marker, contains none of them raw, and shows the body exactly as sent. Screenshots go to
// test-results/screenshots/. The agent is a raw MCP client signed in by lib/oauth.mjs; the
// phone signs in from the first approval link.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startFixture } from "./lib/fixture.mjs";
import { postToolCall, readJsonRpc } from "./lib/mcp-raw.mjs";
import { signInRawClient } from "./lib/oauth.mjs";
import { assertNoHorizontalOverflow, openLinkAndSignIn } from "./lib/phone-page.mjs";

const EMAIL = "ada@example.com";
const HIDDEN = /[\p{Default_Ignorable_Code_Point}\p{Bidi_Control}]/u;
const marker = (char) => `[U+${char.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}]`;

/** Hostile one-call requests; `hidden` lists the characters whose markers the page must show. */
const CASES = [
  {
    name: "bidi-mark-amount",
    reason: "Move \u061C10 20 EUR",
    url: "https://api.github.com/repos/a/b/issues",
    body: '{"title":"x"}',
    hidden: ["\u061C"],
  },
  {
    name: "soft-hyphen-and-tags",
    reason: "pay\u00ADpal\u{E0041}\u{E0042}\u{E007F} refund",
    url: "https://api.github.com/repos/a/b/issues?label=ok%E2%80%8B",
    body: '{"title":"re\u00ADfund\u{E0020}"}',
    hidden: ["\u00AD", "\u{E0041}", "\u{E0042}", "\u{E007F}", "\u200B", "\u{E0020}"],
  },
  {
    name: "isolates-in-path-and-body",
    reason: "rename \u2067evil\u2069 to good \uFE0F\u3164",
    url: "https://api.github.com/repos/a/b%E2%81%A6x%E2%81%A9/issues",
    body: '{"title":"\u202Eabc\u202C","n":1}',
    hidden: ["\u2067", "\u2069", "\uFE0F", "\u3164", "\u2066", "\u202E", "\u202C"],
  },
  {
    name: "body-as-sent",
    reason: "transfer",
    url: "https://api.github.com/repos/a/b/issues",
    body: '{"amount":1,"amount":1000000,"id":9007199254740993,"big":1e400}',
    hidden: [],
    shows: ['"amount":1,"amount":1000000', "9007199254740993", "1e400"],
  },
];

describe("hostile text on the approval page in headless Chromium", { timeout: 300_000 }, () => {
  /** @type {import("./lib/fixture.mjs").Fixture} */
  let fixture;
  /** @type {import("./lib/fixture.mjs").PhonePage} */
  let phone;
  let token = "";
  let signedIn = false;

  before(
    async () => {
      fixture = await startFixture({ label: "hostile-approval", chromium: true });
      token = (await signInRawClient(fixture.server.origin, { email: EMAIL, clientName: "E2E hostile client" })).tokens
        .access_token;
      phone = await fixture.openPhone();
    },
    { timeout: 180_000 },
  );

  after(async () => {
    await phone?.context.close().catch(() => {});
    await fixture?.stop();
  });

  for (const hostile of CASES) {
    test(`shows every hidden character of ${hostile.name} as a marker`, { timeout: 60_000 }, async () => {
      const res = await postToolCall(fixture.server.origin, {
        accessToken: token,
        tool: "request_elevated_access",
        args: { kind: "call", method: "POST", url: hostile.url, body: hostile.body, reason: hostile.reason },
      });
      assert.equal(res.status, 200);
      const asked = await readJsonRpc(res);
      const result = asked.result?.structuredContent;
      assert.ok(result?.approval_url, `request_elevated_access answered ${JSON.stringify(asked).slice(0, 300)}`);
      const { page, dialogs, pageErrors } = phone;
      const response = signedIn
        ? await page.goto(result.approval_url)
        : await openLinkAndSignIn(page, result.approval_url, EMAIL);
      signedIn = true;
      assert.equal(response?.status(), 200);
      // biome-ignore lint/performance/useDomNodeTextContent: the rendered text, as drawn, is what is checked
      const text = await page.evaluate(() => document.body.innerText);
      await fixture.screenshot(page, `hostile-approval-${hostile.name}`);
      assert.doesNotMatch(text, HIDDEN, "no hidden character reaches the person raw");
      for (const char of hostile.hidden) assert.ok(text.includes(marker(char)), `${marker(char)} is shown`);
      for (const part of hostile.shows ?? []) assert.ok(text.includes(part), `the body shows ${part} as sent`);
      await assertNoHorizontalOverflow(page);
      assert.deepEqual(dialogs, []);
      assert.deepEqual(pageErrors, []);
    });
  }
});
