// The person's and the assistant's side of upstream MCP servers, for the proxy e2e tests: the
// "MCP servers" forms of /connections (add, connect through the upstream's OAuth, accept reads on
// the reads question, remove and its confirmation), an approval in one call, and a recorder that
// keeps every answer /mcp gave.
import assert from "node:assert/strict";
import { decideByFetch, pageTitle, structured } from "./approval.mjs";
import { parseForms } from "./browser-flow.mjs";
import { fetchWithTimeout, sleep } from "./util.mjs";

/** @typedef {import("./browser-flow.mjs").BrowserSession} BrowserSession */

/** `/connections/mcp/<name>/<action>` */
export const serverPath = (/** @type {string} */ name, /** @type {string} */ action) =>
  `/connections/mcp/${encodeURIComponent(name)}/${action}`;

/**
 * GET the page a server form is on and return it plus the form posting to `action` (a path), its
 * csrf. The reads form is on its own page, the reads question (`/connections/mcp/<name>/reads`,
 * whose first form is "Accept the ticked tools"); every other form is on /connections.
 * @param {BrowserSession} browser
 * @param {string} action
 */
export async function mcpForm(browser, action) {
  const at = /^\/connections\/mcp\/[^/]+\/reads$/.test(action) ? action : "/connections";
  const res = await browser.get(at);
  const html = await res.text();
  if (res.status !== 200) throw new Error(`${at}: HTTP ${res.status} (${browser.describe()})`);
  const form = parseForms(html).find((candidate) => candidate.action === action && candidate.method === "post");
  const csrf = form?.inputs.find((input) => input.name === "csrf")?.value ?? "";
  return { html, form, csrf };
}

/**
 * Submit the form posting to `action` with its csrf and `fields`; returns the response, body unread.
 * @param {BrowserSession} browser
 * @param {string} action
 * @param {Record<string, string | string[]>} [fields]
 */
export async function submitMcpForm(browser, action, fields = {}) {
  const { form, csrf } = await mcpForm(browser, action);
  if (!form || !csrf) throw new Error(`/connections has no POST ${action} form with a csrf`);
  const body = new URLSearchParams({ csrf });
  for (const [name, value] of Object.entries(fields)) {
    for (const item of Array.isArray(value) ? value : [value]) body.append(name, item);
  }
  return browser.post(action, body);
}

/**
 * Press Connect for an OAuth server and walk the whole authorization: our 302 to the upstream's
 * /authorize, the upstream's 302 back to our callback (it approves by itself), our 303.
 * @param {BrowserSession} browser
 * @param {string} name
 */
export async function connectOnPage(browser, name) {
  const started = await submitMcpForm(browser, serverPath(name, "connect"));
  await started.arrayBuffer();
  assert.equal(started.status, 302, `connect: HTTP ${started.status} (${browser.describe()})`);
  const authorizeUrl = new URL(started.headers.get("Location") ?? "");
  const setCookies = started.headers.getSetCookie();
  // The upstream is another origin: our cookies are not sent there.
  const upstream = await fetchWithTimeout(authorizeUrl, { redirect: "manual" });
  await upstream.arrayBuffer();
  assert.equal(upstream.status, 302, `upstream /authorize: HTTP ${upstream.status}`);
  const callbackUrl = new URL(upstream.headers.get("Location") ?? "");
  const finished = await browser.get(callbackUrl.href);
  const finishedHtml = await finished.text();
  return { authorizeUrl, setCookies, callbackUrl, finished, finishedHtml };
}

/**
 * Ask for access and approve it as the person; returns the request id.
 * @param {(name: string, args?: object) => Promise<any>} call
 * @param {BrowserSession} owner
 * @param {object} args   request_elevated_access arguments
 */
export async function askAndApprove(call, owner, args) {
  const asked = structured(await call("request_elevated_access", args), "request_elevated_access");
  const decided = await decideByFetch(owner, asked.approval_url, { decision: "approve" });
  assert.equal(decided.status, 200, decided.html.slice(0, 300));
  assert.ok(pageTitle(decided.html).startsWith("Approved"), pageTitle(decided.html));
  const view = structured(await call("check_access_request", { request_id: asked.request_id }), "check");
  assert.equal(view.status, "approved");
  return { requestId: asked.request_id, approvalUrl: asked.approval_url, decided, view };
}

/**
 * An MCP client whose every answer (tool results and tool lists) is kept as JSON text.
 * @param {Awaited<ReturnType<typeof import("./sdk-connect.mjs").connectV2Client>>} mcp
 */
export function recorded(mcp) {
  /** @type {string[]} */
  const outputs = [];
  /** @param {string} name @param {object} [args] */
  const call = async (name, args = {}) => {
    const result = await mcp.call(name, args);
    outputs.push(JSON.stringify(result));
    return result;
  };
  const listTools = async () => {
    const listed = await mcp.client.listTools();
    outputs.push(JSON.stringify(listed));
    return listed.tools;
  };
  return { call, listTools, outputs };
}

/** The text of a result's text blocks, joined. @param {any} result */
export const resultText = (result) =>
  (result.content ?? [])
    .filter((block) => block.type === "text")
    .map((block) => block.text)
    .join("\n");

/**
 * Poll `probe` until it is true, at most `attempts` times `intervalMs` apart; returns its last answer.
 * @param {() => boolean} probe
 */
export async function eventually(probe, attempts = 50, intervalMs = 100) {
  for (let i = 0; i < attempts; i++) {
    if (probe()) return true;
    await sleep(intervalMs);
  }
  return probe();
}
