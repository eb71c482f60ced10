// What the Chromium tests do on a phone page (opened by fixture.mjs's openPhone): the dev
// sign-in an approval link leads to, a POST-and-check for form buttons, and the
// no-horizontal-overflow check. Assertions only; no browser or server lifecycle here.
import assert from "node:assert/strict";

/**
 * Open an approval link signed out: it must send us to the dev sign-in page, which after
 * "Sign in" as `email` must bring us back to the link. Returns the final navigation's response.
 * @param {import("playwright-core").Page} page
 * @param {string} approvalUrl
 * @param {string} email
 */
export async function openLinkAndSignIn(page, approvalUrl, email) {
  const link = new URL(approvalUrl);
  await page.goto(approvalUrl);
  const signIn = new URL(page.url());
  assert.equal(signIn.pathname, "/signin", `signed out, the link leads to sign-in (at ${page.url()})`);
  assert.equal(signIn.searchParams.get("return_to"), `${link.pathname}${link.search}`, "return_to is the link");
  await page.getByLabel("Email").fill(email);
  const [back] = await Promise.all([
    page.waitForResponse((res) => res.request().method() === "GET" && new URL(res.url()).pathname === link.pathname),
    page.getByRole("button", { name: "Sign in" }).click(),
  ]);
  await page.waitForLoadState("domcontentloaded");
  assert.equal(new URL(page.url()).pathname, link.pathname, "sign-in returned to the approval link");
  return back;
}

/**
 * Click a submit button and return the POST's response, failing on anything but `status`.
 * @param {import("playwright-core").Page} page
 * @param {string} name    the button's accessible name
 * @param {number} [status]
 */
export async function submitWith(page, name, status = 200) {
  const [answer] = await Promise.all([
    page.waitForResponse((res) => res.request().method() === "POST"),
    page.getByRole("button", { name, exact: true }).click(),
  ]);
  await page.waitForLoadState("domcontentloaded");
  if (answer.status() !== status) {
    const body = await answer.text().catch(() => "");
    assert.fail(`pressing ${name} answered ${answer.status()}, expected ${status}: ${body.slice(0, 300)}`);
  }
  return answer;
}

/** Page width vs screen width. @param {import("playwright-core").Page} page */
export function pageWidth(page) {
  return page.evaluate(() => ({
    scrollWidth: document.scrollingElement?.scrollWidth ?? 0,
    innerWidth: window.innerWidth,
  }));
}

/** @param {import("playwright-core").Page} page */
export async function assertNoHorizontalOverflow(page) {
  const { scrollWidth, innerWidth } = await pageWidth(page);
  assert.ok(scrollWidth > 0);
  assert.ok(scrollWidth <= innerWidth, `page is ${scrollWidth}px wide on a ${innerWidth}px screen`);
}
