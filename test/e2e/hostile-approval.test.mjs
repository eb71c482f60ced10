// What the approval page shows is what is sent, in headless Chromium at 390×844: for each
// hostile one-call request (bidi marks, soft hyphens, tag characters, zero-width and variation
// characters in the reason, the path, the query and the body; a body with duplicate keys and
// numbers JSON cannot hold), the rendered text shows every hidden character as a `[U+XXXX]`
// marker, contains none of them raw, and shows the body exactly as sent. Screenshots go to
// test-results/screenshots/. Uses only lib/server.mjs and lib/phone-page.mjs.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { chromium } from "playwright-core";
import { assertNoHorizontalOverflow, openLinkAndSignIn, openPhonePage } from "./lib/phone-page.mjs";
import { REPO_ROOT, startDevServer } from "./lib/server.mjs";

const EMAIL = "ada@example.com";
const REDIRECT_URI = "http://127.0.0.1:9/callback";
const SCREENSHOTS = join(REPO_ROOT, "test-results/screenshots");
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

function pkce() {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

/** Register a public client, sign in and consent in the phone page, and exchange the code. */
async function accessToken(origin, page) {
  const registered = await fetch(`${origin}/oauth/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      client_name: "E2E hostile client",
      redirect_uris: [REDIRECT_URI],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    }),
  }).then((res) => res.json());
  const { verifier, challenge } = pkce();
  const authorize = new URL("/authorize", origin);
  authorize.search = new URLSearchParams({
    response_type: "code",
    client_id: registered.client_id,
    redirect_uri: REDIRECT_URI,
    scope: "mcp offline_access",
    state: "s1",
    code_challenge: challenge,
    code_challenge_method: "S256",
    resource: `${origin}/mcp`,
  }).toString();
  /** @type {(url: string) => void} */
  let gotCode = () => {};
  const redirected = new Promise((resolve) => {
    gotCode = resolve;
  });
  await page.route(`${REDIRECT_URI}**`, (route) => {
    gotCode(route.request().url());
    return route.fulfill({ status: 200, body: "ok" });
  });
  await openLinkAndSignIn(page, authorize.href, EMAIL);
  await page.getByRole("button", { name: "Allow", exact: true }).click();
  const code = new URL(await redirected).searchParams.get("code");
  assert.ok(code, "the consent redirect carries a code");
  const token = await fetch(`${origin}/oauth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: registered.client_id,
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
      resource: `${origin}/mcp`,
    }),
  }).then((res) => res.json());
  assert.ok(token.access_token, "the token endpoint issues an access token");
  return token.access_token;
}

async function callTool(origin, token, name, args) {
  const res = await fetch(`${origin}/mcp`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
      "MCP-Protocol-Version": "2025-06-18",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, arguments: args } }),
  });
  const text = await res.text();
  const data = text.startsWith("{")
    ? text
    : text
        .split(/\r?\n/)
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trim())
        .join("");
  return JSON.parse(data);
}

describe("hostile text on the approval page in headless Chromium", { timeout: 300_000 }, () => {
  /** @type {import("./lib/server.mjs").DevServer} */
  let server;
  /** @type {import("playwright-core").Browser} */
  let browser;
  /** @type {Awaited<ReturnType<typeof openPhonePage>>} */
  let phone;
  let token = "";

  before(
    async () => {
      await mkdir(SCREENSHOTS, { recursive: true });
      // allSettled: a browser that launched must still be closed when the server failed to start.
      const [started, launched] = await Promise.allSettled([
        startDevServer({ label: "hostile-approval" }),
        chromium.launch({
          executablePath: "/usr/bin/chromium",
          headless: true,
          args: ["--no-sandbox", "--disable-gpu"],
        }),
      ]);
      if (launched.status === "fulfilled") browser = launched.value;
      if (started.status === "fulfilled") server = started.value;
      if (started.status === "rejected") throw started.reason;
      if (launched.status === "rejected") throw launched.reason;
      phone = await openPhonePage(browser);
      token = await accessToken(server.origin, phone.page);
    },
    { timeout: 180_000 },
  );

  after(async () => {
    await phone?.context.close().catch(() => {});
    await browser?.close().catch(() => {});
    await server?.stop();
  });

  for (const hostile of CASES) {
    test(`shows every hidden character of ${hostile.name} as a marker`, { timeout: 60_000 }, async () => {
      const asked = await callTool(server.origin, token, "request_elevated_access", {
        kind: "call",
        method: "POST",
        url: hostile.url,
        body: hostile.body,
        reason: hostile.reason,
      });
      const result = asked.result?.structuredContent;
      assert.ok(result?.approval_url, `request_elevated_access answered ${JSON.stringify(asked).slice(0, 300)}`);
      const { page, dialogs, pageErrors } = phone;
      const response = await page.goto(result.approval_url);
      assert.equal(response?.status(), 200);
      // biome-ignore lint/performance/useDomNodeTextContent: the rendered text, as drawn, is what is checked
      const text = await page.evaluate(() => document.body.innerText);
      await page.screenshot({ path: join(SCREENSHOTS, `hostile-approval-${hostile.name}.png`), fullPage: true });
      assert.doesNotMatch(text, HIDDEN, "no hidden character reaches the person raw");
      for (const char of hostile.hidden) assert.ok(text.includes(marker(char)), `${marker(char)} is shown`);
      for (const part of hostile.shows ?? []) assert.ok(text.includes(part), `the body shows ${part} as sent`);
      await assertNoHorizontalOverflow(page);
      assert.deepEqual(dialogs, []);
      assert.deepEqual(pageErrors, []);
    });
  }
});
