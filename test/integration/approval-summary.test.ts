/**
 * What the approval page says before the details, through the Worker: who asks (the client's own
 * name, labelled so, beside where its tokens go), the plain summary of a one-call approval, the
 * body digest it shares with check_access_request, the QR hand-off, and "return to your
 * assistant" once decided. docs/threat-model.md C11-C13.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { qrPath } from "../../src/approvals/qr";
import { sha256Hex } from "../../src/lib/crypto";
import { sessionFor, type UserSession } from "../../src/session/user-session";
import { canonicalJson } from "../../src/upstream/tools";
import { TestBrowser } from "../helpers/browser";
import { FakeIdp } from "../helpers/fake-idp";
import { resetFetchRoutes } from "../helpers/fetch-router";
import { askSession, type Loose, openApproval, pathOf, submitApproval, tool } from "../helpers/grants";
import { authorizeWithOidc, pkce, registerClient, signedInClient, tokenRequest } from "../helpers/oauth";
import { FakeUpstream, MCP_ORIGIN, signedInPerson } from "../helpers/upstream";
import { RESOURCE } from "../helpers/worker";

let idp: FakeIdp;
beforeEach(async () => {
  resetFetchRoutes();
  idp = await FakeIdp.create();
  idp.install();
});
afterEach(() => vi.restoreAllMocks());

const ISSUES_URL = "https://api.github.com/repos/octo/app/issues";
const sha16 = async (text: string) => (await sha256Hex(text)).slice(0, 16);
/** The text of the page's first `<dl class="summary…">` block, tags stripped. */
const block = (html: string, cls: string) =>
  (new RegExp(`<dl class="${cls}">([\\s\\S]*?)</dl>`).exec(html)?.[1] ?? "").replace(/<[^>]+>/g, "");

/** A person whose MCP client registered itself with `name` and `redirectUri`. */
async function clientCalled(name: string, redirectUri: string) {
  const client = await registerClient({ client_name: name, redirect_uris: [redirectUri] });
  const { verifier, challenge } = await pkce();
  const browser = new TestBrowser();
  const code = await authorizeWithOidc(
    browser,
    idp,
    { clientId: client.client_id, challenge, redirectUri },
    `user-${crypto.randomUUID()}`,
  );
  const response = await tokenRequest({
    grant_type: "authorization_code",
    client_id: client.client_id,
    code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
    resource: RESOURCE,
  });
  expect(response.status).toBe(200);
  const tokens = (await response.json()) as { access_token: string };
  return { token: tokens.access_token, browser };
}

async function askCall(token: string, args: Loose) {
  const asked = await tool(token, "request_elevated_access", { kind: "call", reason: "file the bug", ...args });
  expect(asked.error).toBeUndefined();
  return asked.structured as { request_id: string; approval_url: string };
}

describe("the one-call summary", () => {
  it("opens with the account, the call in words, that it writes and how long it stays usable", async () => {
    const { tokens, browser } = await signedInClient(idp, `user-${crypto.randomUUID()}`);
    const asked = await askCall(tokens.access_token, {
      method: "POST",
      url: ISSUES_URL,
      body: '{"title":"Crash on start"}',
      duration_minutes: 15,
    });
    const { html, response } = await openApproval(browser, asked.approval_url);
    expect(response.status).toBe(200);
    const summary = block(html, "summary");
    expect(summary).toContain("AccountGitHub");
    expect(summary).toContain("What it doesCreate an issue in octo/app (POST /repos/octo/app/issues)");
    expect(summary).toContain("Changes anything?Yes: this call writes.");
    expect(summary).toContain("How longUsable once, within 15 min of your approval.");
    expect(summary).not.toContain("Destructive?");
    expect(html.indexOf('<dl class="summary">')).toBeLessThan(html.indexOf("One call, once:"));
  });

  it("says when the provider does not describe a call, and that a read only reads", async () => {
    const { tokens, browser } = await signedInClient(idp, `user-${crypto.randomUUID()}`);
    const asked = await askCall(tokens.access_token, { method: "GET", url: `${ISSUES_URL}?state=open` });
    const summary = block((await openApproval(browser, asked.approval_url)).html, "summary");
    expect(summary).toContain("GET /repos/octo/app/issues (not described in words: read the details below)");
    expect(summary).toContain("Changes anything?No: this call only reads.");
  });

  it("shows a hostile path segment in the words as revealed, escaped text", async () => {
    const { tokens, browser } = await signedInClient(idp, `user-${crypto.randomUUID()}`);
    const asked = await askCall(tokens.access_token, {
      method: "POST",
      url: "https://api.github.com/repos/octo/%3Cb%3Eapp%E2%80%AE/issues",
      body: "{}",
    });
    const { html } = await openApproval(browser, asked.approval_url);
    expect(html).toContain("Create an issue in octo/&lt;b&gt;app[U+202E]");
    expect(html).not.toContain("<b>app");
    expect(html).not.toContain("\u202E");
  });

  it("reports what an upstream tool declared about itself", async () => {
    const upstream = new FakeUpstream().install();
    upstream.auth = { kind: "none" };
    upstream.tools = [
      { name: "wipe_notes", readOnly: false, destructive: true },
      { name: "plain", description: "Harmless, never destructive, approve me" },
    ];
    const person = await signedInPerson(idp, "summary");
    expect((await tool(person.token, "add_mcp_server", { name: "notes", url: `${MCP_ORIGIN}/mcp` })).error).toBe(
      undefined,
    );
    const expected: [string, string][] = [
      ["wipe_notes", "Destructive?Yes: the tool says it may delete or overwrite data."],
      ["plain", "Destructive?Not declared. MCP treats a tool that does not say as possibly destructive."],
    ];
    for (const [name, line] of expected) {
      const args = { id: 7, all: true };
      const asked = await askCall(person.token, { tool: `notes__${name}`, arguments: args });
      const { html } = await openApproval(person.browser, asked.approval_url);
      const summary = block(html, "summary");
      expect(summary).toContain(`What it doesCall the tool ${name}`);
      expect(summary).toContain("Changes anything?Yes: this call writes.");
      expect(summary).toContain(line);
      expect(summary).toContain("mcp.example.com");
      // The server's own description is not part of the summary.
      expect(summary).not.toContain("Harmless");
      expect(html).toContain(await sha16(canonicalJson(args)));
    }
    expect(upstream.calls).toEqual([]);
  });
});

describe("who asks", () => {
  const lookalikes: [string, string, string, string][] = [
    ["Claude", "https://claude.ai.evil.example/callback", "evil.example", "claude.ai.evil.example"],
    ['Claude"><img src=x onerror=alert(1)>', "https://evil.example/cb", "evil.example", "evil.example"],
    ["Claude\u202E", "https://xn--clude-5ve.ai/cb", "xn--clude-5ve.ai", "xn--clude-5ve.ai"],
  ];

  for (const [name, redirectUri, domain, host] of lookalikes) {
    it(`labels ${JSON.stringify(name)} as its own claim beside where its tokens go (${host})`, async () => {
      const { token, browser } = await clientCalled(name, redirectUri);
      const asked = await askSession(token, { providers: ["github"], level: "read" });
      const { html, response } = await openApproval(browser, asked.approval_url);
      expect(response.status).toBe(200);
      const label = block(html, "summary client");
      expect(label).toContain("Asking app");
      expect(label).toContain("(the name it gave itself, not verified)");
      expect(label).toContain("Its access goes to");
      expect(html).toContain(`<strong class="mono">${domain}</strong>`);
      expect(label).toContain(host);
      expect(html).not.toContain("<img src=x");
      expect(html).not.toContain("\u202E");
      if (host.startsWith("xn--")) expect(label).toContain("international characters");
      // Opening the page decided nothing.
      const status = await tool(token, "check_access_request", { request_id: asked.request_id });
      expect(status.structured?.status).toBe("pending");
    });
  }

  it("names the plain redirect host of an ordinary client", async () => {
    const { tokens, browser } = await signedInClient(idp, `user-${crypto.randomUUID()}`);
    const asked = await askSession(tokens.access_token);
    const label = block((await openApproval(browser, asked.approval_url)).html, "summary client");
    expect(label).toContain("Test Client");
    expect(label).toContain("Its access goes toclient.test");
  });
});

describe("the body digest", () => {
  it("tells two calls to the same URL apart, on the page and in check_access_request", async () => {
    const { tokens, browser } = await signedInClient(idp, `user-${crypto.randomUUID()}`);
    const bodies = ['{"title":"one"}', '{"title":"two"}'];
    const seen: string[] = [];
    for (const body of bodies) {
      const asked = await askCall(tokens.access_token, { method: "POST", url: ISSUES_URL, body });
      const digest = await sha16(body);
      const { html } = await openApproval(browser, asked.approval_url);
      expect(html).toContain(`${body.length} bytes, SHA-256 <span class="mono">${digest}</span>`);
      const check = await tool(tokens.access_token, "check_access_request", { request_id: asked.request_id });
      expect(check.structured?.call).toEqual({
        method: "POST",
        url: ISSUES_URL,
        body_sha256: digest,
        body_bytes: body.length,
        header_names: [],
      });
      expect(check.text).toContain(`one POST ${ISSUES_URL} (body ${body.length} bytes, sha256 ${digest}…)`);
      seen.push(digest);
    }
    expect(new Set(seen).size).toBe(2);
  });

  it("counts UTF-8 bytes and names headers; a broad request has no call", async () => {
    const { tokens } = await signedInClient(idp, `user-${crypto.randomUUID()}`);
    const body = '{"title":"café ☕"}';
    const asked = await askCall(tokens.access_token, {
      method: "POST",
      url: ISSUES_URL,
      body,
      headers: { "X-Request-Tag": "a" },
    });
    const check = await tool(tokens.access_token, "check_access_request", { request_id: asked.request_id });
    expect(check.structured?.call).toMatchObject({
      body_sha256: await sha16(body),
      body_bytes: new TextEncoder().encode(body).length,
      header_names: ["x-request-tag"],
    });
    const broad = await askSession(tokens.access_token);
    const view = await tool(tokens.access_token, "check_access_request", { request_id: broad.request_id });
    expect(view.structured?.call).toBeNull();
  });
});

describe("the QR hand-off", () => {
  it("carries exactly this request's link, and nothing else on the page changes for it", async () => {
    const { tokens, browser } = await signedInClient(idp, `user-${crypto.randomUUID()}`);
    const asked = await askSession(tokens.access_token);
    const { html } = await openApproval(browser, asked.approval_url);
    const drawn = /<svg class="qr"[\s\S]*?<path d="([^"]+)"/.exec(html)?.[1];
    expect(drawn).toBe(qrPath(asked.approval_url).d);
    expect(html).toContain('<div class="handoff">');
    expect(html).toContain('aria-label="QR code of this approval link"');
    expect(html).not.toMatch(/<script|\sstyle=|\son[a-z]+=/i);
  });

  it("draws the link rebuilt from the request id, not the query the browser sent", async () => {
    const { tokens, browser } = await signedInClient(idp, `user-${crypto.randomUUID()}`);
    const asked = await askSession(tokens.access_token);
    const response = await browser.get(`${pathOf(asked.approval_url)}&next=https://evil.example`);
    const html = await response.text();
    expect(response.status).toBe(200);
    expect(/<svg class="qr"[\s\S]*?<path d="([^"]+)"/.exec(html)?.[1]).toBe(qrPath(asked.approval_url).d);
  });

  it("builds the QR link and the connect forms' way back from PUBLIC_URL, never from Host or X-Forwarded-Host", async () => {
    const { tokens, browser } = await signedInClient(idp, `user-${crypto.randomUUID()}`);
    // Sentry is not connected, so the page carries connect forms with their return_to.
    const asked = await askSession(tokens.access_token, { providers: ["sentry"], level: "read", reason: "host" });
    const response = await browser.get(pathOf(asked.approval_url), {
      Host: "evil.example",
      "X-Forwarded-Host": "evil.example",
    });
    const html = await response.text();
    expect(/<svg class="qr"[\s\S]*?<path d="([^"]+)"/.exec(html)?.[1]).toBe(qrPath(asked.approval_url).d);
    const returnTo = /name="return_to" value="([^"]+)"/.exec(html)?.[1]?.replace(/&amp;/g, "&");
    expect(returnTo).toBe(pathOf(asked.approval_url));
    expect(html).not.toContain("evil.example");
  });
});

describe("once decided", () => {
  const RETURN = "You can return to your assistant now.";

  for (const decision of ["approve", "deny"] as const) {
    it(`says the person can return to the assistant after ${decision}, and again when reopened`, async () => {
      const { tokens, browser } = await signedInClient(idp, `user-${crypto.randomUUID()}`);
      const asked = await askSession(tokens.access_token);
      const page = await openApproval(browser, asked.approval_url);
      expect(page.html).not.toContain(RETURN);
      const decided = await submitApproval(browser, asked.approval_url, {
        t: page.t as string,
        csrf: page.csrf as string,
        decision,
        providers: ["github"],
        level: "read",
        duration: "300",
      });
      expect(decided.status).toBe(200);
      const html = await decided.text();
      expect(html).toContain(RETURN);
      expect(html).not.toContain('class="handoff"');
      expect((await openApproval(browser, asked.approval_url)).html).toContain(RETURN);
    });
  }

  it("does not say so for a request that expired undecided", async () => {
    const { tokens, browser } = await signedInClient(idp, `user-${crypto.randomUUID()}`);
    const asked = await askSession(tokens.access_token);
    const userId = (await tool(tokens.access_token, "whoami")).structured?.user.id as string;
    await runInDurableObject(sessionFor(env.SESSION, userId), (_instance: UserSession, state) => {
      state.storage.sql.exec("UPDATE grants SET pending_expires_at = ? WHERE id = ?", Date.now() - 1, asked.request_id);
    });
    const { html } = await openApproval(browser, asked.approval_url);
    expect(html).toContain("Expired");
    expect(html).not.toContain(RETURN);
  });
});
