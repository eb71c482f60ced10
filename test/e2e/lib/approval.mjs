// Helpers for the approval tests and the benchmark: a fetch-based owner who signs in with the dev
// sign-in and decides an approval link (reads the form's hidden t/csrf, ticked providers, level
// and duration, then POSTs with our Origin), and readers for tool results and tool errors.
import assert from "node:assert/strict";
import { BrowserSession, decodeEntities, parseForms } from "./browser-flow.mjs";

/**
 * A cookie-jar browser signed in (dev sign-in) as `email`.
 * @param {string} origin
 * @param {string} email
 */
export async function signedInBrowser(origin, email) {
  const browser = new BrowserSession(origin);
  const res = await browser.post("/signin/dev", new URLSearchParams({ email, return_to: "/activity" }));
  await res.arrayBuffer();
  if (res.status !== 302) throw new Error(`dev sign-in: HTTP ${res.status} (${browser.describe()})`);
  if (browser.jar.names().length === 0) throw new Error("dev sign-in set no cookie");
  return browser;
}

/**
 * @typedef {object} ApprovalForm
 * @property {string} action     the form's POST path (/approve/<id>)
 * @property {string} t          the hidden link token
 * @property {string} csrf       the hidden CSRF token
 * @property {string[]} providers the provider checkboxes that are ticked
 * @property {string[]} offeredProviders every provider checkbox
 * @property {string[]} levels   the level radios offered
 * @property {string | undefined} level the level radio that is ticked
 * @property {string | undefined} duration the selected duration option (seconds)
 * @property {string[]} durations every duration option
 * @property {string[]} buttons  "name=value" of each submit button
 */

/**
 * The decision form of an approval page as served.
 * @param {string} html
 * @returns {ApprovalForm}
 */
export function parseApprovalForm(html) {
  const form = parseForms(html).find((f) => f.action.startsWith("/approve/"));
  if (form?.method !== "post") throw new Error(`no POST /approve form in: ${html.slice(0, 300)}`);
  const named = (name) => form.inputs.filter((input) => input.name === name);
  const select = /<select\b[^>]*name="duration"[^>]*>([\s\S]*?)<\/select>/i.exec(html)?.[1] ?? "";
  const options = [...select.matchAll(/<option\b([^>]*)>/gi)].map((match) => ({
    value: decodeEntities(/value="([^"]*)"/.exec(match[1])?.[1] ?? ""),
    selected: /\bselected\b/i.test(match[1]),
  }));
  return {
    action: form.action,
    t: named("t")[0]?.value ?? "",
    csrf: named("csrf")[0]?.value ?? "",
    providers: named("providers")
      .filter((input) => "checked" in input)
      .map((input) => input.value),
    offeredProviders: named("providers").map((input) => input.value),
    levels: named("level").map((input) => input.value),
    level: named("level").find((input) => "checked" in input)?.value,
    duration: options.find((option) => option.selected)?.value,
    durations: options.map((option) => option.value),
    buttons: form.buttons.map((button) => `${button.name}=${button.value}`),
  };
}

/**
 * The POST body that presses `decision` on a parsed form, with optional changes.
 * @param {ApprovalForm} form
 * @param {{ decision: "approve" | "deny", providers?: string[], level?: string, duration?: string, note?: string }} choice
 */
export function decisionBody(form, { decision, providers, level, duration, note }) {
  const body = new URLSearchParams({ t: form.t, csrf: form.csrf });
  for (const provider of providers ?? form.providers) body.append("providers", provider);
  const chosenLevel = level ?? form.level;
  if (chosenLevel) body.set("level", chosenLevel);
  const chosenDuration = duration ?? form.duration;
  if (chosenDuration) body.set("duration", chosenDuration);
  body.set("note", note ?? "");
  body.set("decision", decision);
  return body;
}

/**
 * Open an approval link as the signed-in owner and read its form (asserting a 200 page).
 * @param {BrowserSession} browser
 * @param {string} approvalUrl
 */
export async function openApproval(browser, approvalUrl) {
  const res = await browser.get(approvalUrl);
  const html = await res.text();
  assert.equal(res.status, 200, `approval page: HTTP ${res.status} (${browser.describe()}): ${html.slice(0, 300)}`);
  return { html, form: parseApprovalForm(html) };
}

/**
 * Open the link, then approve or deny it; returns the POST's status and outcome page.
 * @param {BrowserSession} browser
 * @param {string} approvalUrl
 * @param {{ decision: "approve" | "deny", providers?: string[], level?: string, duration?: string, note?: string }} choice
 */
export async function decideByFetch(browser, approvalUrl, choice) {
  const { form } = await openApproval(browser, approvalUrl);
  const res = await browser.post(form.action, decisionBody(form, choice));
  return { status: res.status, html: await res.text(), form };
}

/** The <title> of a page. */
export const pageTitle = (html) => decodeEntities(/<title>([^<]*)<\/title>/i.exec(html)?.[1] ?? "").trim();

/**
 * structuredContent of a successful tool result (fails the test on a tool error).
 * @param {any} result
 * @param {string} what
 */
export function structured(result, what) {
  assert.notEqual(result.isError, true, `${what} failed: ${JSON.stringify(result.content)}`);
  assert.ok(result.structuredContent, `${what} returned structuredContent`);
  return result.structuredContent;
}

/**
 * The `{ error: { code, message } }` body of a tool error.
 * @param {any} result
 */
export function toolErrorBody(result) {
  assert.equal(result.isError, true, `expected a tool error, got ${JSON.stringify(result).slice(0, 300)}`);
  const text = result.content?.find((block) => block.type === "text")?.text ?? "";
  try {
    return JSON.parse(text);
  } catch {
    return { error: { code: "(not json)", message: text } };
  }
}
