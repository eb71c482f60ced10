// The person's side of /connections over fetch: read a provider's form from the page as served
// (its hidden csrf, the pre-filled key if any), paste an API key, or press Disconnect and confirm.
import { parseForms } from "./browser-flow.mjs";

/**
 * GET /connections and return the page plus the form posting to `/connections/<id>/<action>`.
 * @param {import("./browser-flow.mjs").BrowserSession} browser
 * @param {string} providerId
 * @param {"api-key" | "disconnect" | "connect"} action
 */
export async function connectionsForm(browser, providerId, action) {
  const res = await browser.get("/connections");
  const html = await res.text();
  if (res.status !== 200) throw new Error(`/connections: HTTP ${res.status} (${browser.describe()})`);
  const path = `/connections/${encodeURIComponent(providerId)}/${action}`;
  const form = parseForms(html).find((candidate) => candidate.action === path);
  const csrf = form?.inputs.find((input) => input.name === "csrf")?.value ?? "";
  const prefilled = form?.inputs.find((input) => input.name === "api_key")?.value ?? "";
  return { html, form, csrf, prefilled, path };
}

/**
 * Paste `apiKey` into a provider's API key form and submit it; returns the POST's response
 * (303 to /connections?connected=<id> on success), body unread.
 * @param {import("./browser-flow.mjs").BrowserSession} browser
 * @param {string} providerId
 * @param {string} apiKey
 */
export async function saveApiKey(browser, providerId, apiKey) {
  const { form, csrf, path } = await connectionsForm(browser, providerId, "api-key");
  if (form?.method !== "post" || !csrf) throw new Error(`no API key form with a csrf for ${providerId}`);
  return browser.post(path, new URLSearchParams({ csrf, api_key: apiKey }));
}

/**
 * Press Disconnect for a provider, then "Yes, disconnect" on the question it asks; returns the
 * confirming POST's response (303 to /connections), body unread.
 * @param {import("./browser-flow.mjs").BrowserSession} browser
 * @param {string} providerId
 */
export async function disconnectProvider(browser, providerId) {
  const { form, csrf, path } = await connectionsForm(browser, providerId, "disconnect");
  if (form?.method !== "post" || !csrf) throw new Error(`no Disconnect form with a csrf for ${providerId}`);
  const asked = await browser.post(path, new URLSearchParams({ csrf }));
  const html = await asked.text();
  if (asked.status !== 200) throw new Error(`Disconnect ${providerId}: HTTP ${asked.status}, not the question`);
  const confirm = parseForms(html).find((candidate) => candidate.action === path && candidate.method === "post");
  const fields = new URLSearchParams((confirm?.inputs ?? []).map((input) => [input.name, input.value ?? ""]));
  if (fields.get("confirm") !== "yes" || !fields.get("csrf")) {
    throw new Error(`Disconnect ${providerId}: the question has no confirming form`);
  }
  return browser.post(path, fields);
}
