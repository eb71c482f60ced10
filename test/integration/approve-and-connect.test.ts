/**
 * Approve and connect through the Worker: a broad request naming an account that is not
 * connected warns on its approval page and offers the connect form that fits; connecting from
 * there (provider OAuth, provider key, MCP server OAuth, MCP server key) lands back on the same
 * approval page with the request still pending. `return_to` is refused unless it is exactly the
 * signed-in person's own pending approval link, with its code and nothing stored, asked or sent.
 * docs/threat-model.md: open redirect via return_to; connecting under another person's request.
 */
import { env } from "cloudflare:test";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { inputValue, location } from "../helpers/browser";
import { FakeIdp } from "../helpers/fake-idp";
import { resetFetchRoutes, seen } from "../helpers/fetch-router";
import { askSession, decideOnPage, openApproval, pathOf, tool } from "../helpers/grants";
import { CANARY, connectApiKey, fakeTokenEndpoint } from "../helpers/providers";
import {
  addOnPage,
  connectTransactions,
  connectUpstream,
  FakeUpstream,
  MCP_ORIGIN,
  type Person,
  pageCode,
  serverAction,
  signedInPerson,
  vaultRecord,
} from "../helpers/upstream";

const MCP_URL = `${MCP_ORIGIN}/mcp`;
const API_KEY = "APPROVE-CONNECT-KEY-CANARY-41d7";

let idp: FakeIdp;
let logs: string[];

beforeAll(async () => {
  idp = await FakeIdp.create();
});

beforeEach(() => {
  resetFetchRoutes();
  idp.install();
  logs = [];
  for (const method of ["log", "warn", "error"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => logs.push(args.map(String).join(" ")));
  }
});

afterEach(() => vi.restoreAllMocks());

/** A signed-in person who asked for read access to `providers`; the request's path and token. */
async function asking(providers: string[], person?: Person) {
  const who = person ?? (await signedInPerson(idp, "connect-first"));
  const asked = await askSession(who.token, { providers, level: "read", reason: "connect first" });
  const path = pathOf(asked.approval_url);
  const token = new URL(asked.approval_url).searchParams.get("t") as string;
  const status = async () =>
    (await tool(who.token, "check_access_request", { request_id: asked.request_id })).structured?.status;
  return { person: who, asked, path, token, status };
}

/** The link token must never reach a log line, whatever the route did with it. */
function expectTokenNotLogged(token: string) {
  expect(logs.join("\n")).not.toContain(token);
}

describe("the approval page of a broad request", () => {
  it("warns about each account that is not connected and offers its form, returning to this very page", async () => {
    const { person, asked, path } = await asking(["github", "sentry", "linear", "notion"]);
    const page = await openApproval(person.browser, asked.approval_url);
    expect(page.response.status).toBe(200);
    const html = page.html;
    expect(html).toContain("data-connect-warning");
    expect(html).toMatch(/Not connected yet: GitHub, Linear, Notion, Sentry\./);
    expect(html).toContain('<a href="#connect">Connect it below</a>');
    // Notion has no OAuth app configured in these tests: said so, and no form for it.
    expect(html).toMatch(
      /id="connect-notion"><strong>Notion<\/strong> <span class="muted">not connected<\/span><p class="muted">It cannot be connected on this server/,
    );
    expect(html).not.toContain("/connections/notion/");
    expect(html).toContain('action="/connections/github/connect"');
    expect(html).toContain('action="/connections/linear/connect"');
    expect(html).toContain('action="/connections/sentry/api-key"');
    const returns = [...html.matchAll(/name="return_to" value="([^"]*)"/g)].map((match) => match[1]);
    expect(returns).toEqual([path, path, path]);
    // The decision form comes first: its hidden fields are still the first of their names.
    expect(html.indexOf('id="connect"')).toBeGreaterThan(html.indexOf('name="decision"'));
    expect(page.csrf).not.toBe(person.csrf);
    expect(inputValue(html, "t")).toBe(new URL(asked.approval_url).searchParams.get("t"));
  });

  it("says so when no account it names can be connected here", async () => {
    const { person, asked } = await asking(["notion"]);
    const page = await openApproval(person.browser, asked.approval_url);
    expect(page.html).toContain("Not connected yet: Notion.");
    expect(page.html).toContain("It cannot be connected on this server.");
    expect(page.html).not.toContain('href="#connect"');
    expect(page.html).not.toContain('id="connect"');
    expect(page.html).not.toContain('name="return_to"');
  });

  it("offers nothing for connected accounts, nor on a one-call approval", async () => {
    const person = await signedInPerson(idp, "connected");
    await connectApiKey(person.browser, person.userId, "sentry");
    const broad = await asking(["sentry"], person);
    const page = await openApproval(person.browser, broad.asked.approval_url);
    expect(page.html).not.toContain("data-connect-warning");
    expect(page.html).not.toContain('id="connect"');
    const call = await tool(person.token, "request_elevated_access", {
      kind: "call",
      method: "POST",
      url: "https://api.github.com/repos/a/b/issues",
      body: "{}",
      reason: "one call",
    });
    const callPage = await openApproval(person.browser, call.structured?.approval_url as string);
    expect(callPage.response.status).toBe(200);
    expect(callPage.html).not.toContain('id="connect"');
  });
});

describe("connecting from the approval page", () => {
  it("connects a provider by OAuth with the way back sealed, never sent to the provider, and lands on the same page", async () => {
    fakeTokenEndpoint("https://github.com");
    const { person, asked, path, token, status } = await asking(["github", "linear"]);
    const start = await person.browser.post("/connections/github/connect", { csrf: person.csrf, return_to: path });
    expect(start.status).toBe(302);
    const authorize = location(start);
    expect(authorize.origin).toBe("https://github.com");
    expect(authorize.href).not.toContain(token);
    expect(authorize.href).not.toContain("approve");
    const [stored] = await connectTransactions();
    expect(await env.OAUTH_KV.get(stored as string)).not.toContain(token);
    const state = authorize.searchParams.get("state") as string;
    const callback = await person.browser.get(`/connections/callback?${new URLSearchParams({ code: "c", state })}`);
    expect(callback.status).toBe(303);
    expect(callback.headers.get("Location")).toBe(path);
    expect(await status()).toBe("pending");
    const back = await openApproval(person.browser, asked.approval_url);
    expect(back.response.status).toBe(200);
    expect(back.html).not.toContain('id="connect-github"');
    expect(back.html).toContain('id="connect-linear"');
    expect((await person.session.providerLinks()).map((link) => link.providerId)).toEqual(["github"]);
    expectTokenNotLogged(token);
  });

  it("saves a provider key and lands on the same page, where the request can then be approved", async () => {
    const { person, asked, path, token, status } = await asking(["sentry"]);
    const saved = await person.browser.post("/connections/sentry/api-key", {
      csrf: person.csrf,
      return_to: path,
      api_key: CANARY,
    });
    expect(saved.status).toBe(303);
    expect(saved.headers.get("Location")).toBe(path);
    expect(await status()).toBe("pending");
    const back = await openApproval(person.browser, asked.approval_url);
    expect(back.html).not.toContain('id="connect"');
    const decided = await decideOnPage(person.browser, asked.approval_url, "approve", {
      providers: ["sentry"],
      level: "read",
    });
    expect(decided.status).toBe(200);
    expect(await status()).toBe("approved");
    expectTokenNotLogged(token);
  });

  it("connects an MCP server by OAuth and comes back to the same page, the request still pending", async () => {
    const upstream = new FakeUpstream().install();
    const person = await signedInPerson(idp, "mcp-oauth");
    expect((await addOnPage(person, "notes", MCP_URL)).status).toBe(303);
    const { asked, path, token, status } = await asking(["notes"], person);
    const page = await openApproval(person.browser, asked.approval_url);
    expect(page.html).toContain('action="/connections/mcp/notes/connect"');
    const { authorize, callback } = await connectUpstream(person, upstream, "notes", { return_to: path });
    expect(authorize.href).not.toContain(token);
    // The reads question comes first (skipping it would make every read a write), carrying the way back.
    expect(callback.headers.get("Location")).toBe(readsWithReturn("notes", path));
    expect(await answerReads(person, "notes", path, ["read_notes"])).toBe(path);
    expect((await person.session.upstreamServer("notes"))?.readTools).toEqual(["read_notes"]);
    expect((await person.session.upstreamServer("notes"))?.status).toBe("connected");
    expect(await status()).toBe("pending");
    expect((await openApproval(person.browser, asked.approval_url)).html).not.toContain('id="connect"');
    expectTokenNotLogged(token);
  });

  it("saves an MCP server key and comes back to the same page", async () => {
    const upstream = new FakeUpstream().install();
    upstream.auth = { kind: "key", header: "authorization", value: `Bearer ${API_KEY}` };
    const person = await signedInPerson(idp, "mcp-key");
    await tool(person.token, "add_mcp_server", { name: "keyed", url: MCP_URL });
    const { asked, path, status } = await asking(["keyed"], person);
    expect((await openApproval(person.browser, asked.approval_url)).html).toContain(
      'action="/connections/mcp/keyed/api-key"',
    );
    const saved = await serverAction(person, "keyed", "api-key", { api_key: API_KEY, return_to: path });
    expect(saved.status).toBe(303);
    expect(saved.headers.get("Location")).toBe(readsWithReturn("keyed", path));
    expect(await answerReads(person, "keyed", path, [])).toBe(path);
    expect((await person.session.upstreamServer("keyed"))?.status).toBe("connected");
    expect(await status()).toBe("pending");
  });
});

/** The request id in an approval path. */
const requestIdOf = (path: string) => /\/approve\/(req_[^?]+)\?/.exec(path)?.[1] as string;

/** The reads question's address when a connect started on the approval page at `path`: the id only. */
const readsWithReturn = (name: string, path: string) => `/connections/mcp/${name}/reads?request=${requestIdOf(path)}`;

/** Open the reads question, check it carries the request on, answer with `tools`; where the browser goes next. */
async function answerReads(person: Person, name: string, path: string, tools: string[]) {
  const page = await person.browser.get(readsWithReturn(name, path));
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(inputValue(html, "request")).toBe(requestIdOf(path));
  // The link token rides in no address and no field of the question.
  expect(html).not.toContain(new URL(path, "https://x").searchParams.get("t"));
  const answered = await serverAction(person, name, "reads", { tools, request: requestIdOf(path) });
  expect(answered.status).toBe(303);
  return answered.headers.get("Location");
}

describe("the reads question on the way back", () => {
  const HOSTILE = [
    "//evil.example/approve",
    "https://evil.example/",
    "/approve/req_AAAAAAAAAAAAAAAAAAAAAA?t=x",
    "req_short",
    "req_AAAAAAAAAAAAAAAAAAAAAA/../x",
    "req_AAAAAAAAAAAAAAAAAAAAA%2F",
    "REQ_AAAAAAAAAAAAAAAAAAAAAA",
  ];

  it("refuses a request that is not a request id, on the question and on its answer, saving nothing", async () => {
    new FakeUpstream().install();
    const person = await signedInPerson(idp, "reads-return");
    expect((await addOnPage(person, "notes", MCP_URL)).status).toBe(303);
    const before = (await person.session.upstreamServer("notes"))?.readTools;
    for (const raw of HOSTILE) {
      const page = await person.browser.get(`/connections/mcp/notes/reads?request=${encodeURIComponent(raw)}`);
      expect(page.status, raw).toBe(400);
      expect(pageCode(await page.text()), raw).toBe("return_to_invalid");
      const answered = await serverAction(person, "notes", "reads", { tools: ["read_notes"], request: raw });
      expect(answered.status, raw).toBe(400);
      expect(answered.headers.get("Location"), raw).toBeNull();
      expect(pageCode(await answered.text()), raw).toBe("return_to_invalid");
    }
    expect((await person.session.upstreamServer("notes"))?.readTools).toEqual(before);
  });

  it("refuses another person's request id as not_found and never hands out that person's link", async () => {
    new FakeUpstream().install();
    const other = await asking(["github"], await signedInPerson(idp, "reads-other-owner"));
    const person = await signedInPerson(idp, "reads-other");
    expect((await addOnPage(person, "notes", MCP_URL)).status).toBe(303);
    const before = (await person.session.upstreamServer("notes"))?.readTools;
    const id = requestIdOf(other.path);
    const page = await person.browser.get(`/connections/mcp/notes/reads?request=${id}`);
    expect(page.status).toBe(404);
    const html = await page.text();
    expect(pageCode(html)).toBe("not_found");
    expect(html).not.toContain(other.token);
    const answered = await serverAction(person, "notes", "reads", { tools: ["read_notes"], request: id });
    expect(answered.status).toBe(404);
    expect(answered.headers.get("Location")).toBeNull();
    expect(await answered.text()).not.toContain(other.token);
    expect((await person.session.upstreamServer("notes"))?.readTools).toEqual(before);
    expect(await other.status()).toBe("pending");
  });
});

/** Every connect form that takes `return_to`, posted with `returnTo`. */
const FORMS: [string, (person: Person, returnTo: string) => Promise<Response>][] = [
  ["provider OAuth", (p, r) => p.browser.post("/connections/github/connect", { csrf: p.csrf, return_to: r })],
  [
    "provider key",
    (p, r) => p.browser.post("/connections/sentry/api-key", { csrf: p.csrf, return_to: r, api_key: API_KEY }),
  ],
  ["server OAuth", (p, r) => serverAction(p, "notes", "connect", { return_to: r })],
  ["server key", (p, r) => serverAction(p, "notes", "api-key", { return_to: r, api_key: API_KEY })],
];

/** Post `returnTo` to every form; each is refused with `status` and `code`, and nothing is stored or sent. */
async function expectRefusedEverywhere(person: Person, returnTo: string, status: number, code: string) {
  const sentBefore = seen.length;
  for (const [label, post] of FORMS) {
    const response = await post(person, returnTo);
    expect(response.status, label).toBe(status);
    expect(pageCode(await response.text()), label).toBe(code);
    expect(response.headers.get("Location"), label).toBeNull();
    expect(response.headers.getSetCookie().join(";"), label).not.toContain("cs_connect");
  }
  expect(seen.length, "nothing was sent anywhere").toBe(sentBefore);
  expect(await connectTransactions()).toEqual([]);
  expect(await person.session.providerLinks()).toEqual([]);
  expect(await vaultRecord(person.userId, "sentry")).toBeNull();
  expect(await vaultRecord(person.userId, "mcp_notes")).toBeNull();
  expect((await person.session.upstreamServer("notes"))?.status).toBe("not_connected");
}

/** A person with the MCP server "notes" added (not connected) who asked for access to github and notes. */
async function hostileSetup() {
  new FakeUpstream().install();
  const person = await signedInPerson(idp, "hostile");
  expect((await addOnPage(person, "notes", MCP_URL)).status).toBe(303);
  return { ...(await asking(["github", "notes"], person)), person };
}

describe("return_to refusals", () => {
  const shapes: [string, (path: string, id: string, token: string) => string][] = [
    ["an absolute URL elsewhere", (path) => `https://evil.test${path}`],
    ["our own origin, absolute", (path) => `https://countersign.test${path}`],
    ["a protocol-relative //host", (path) => `//evil.test${path}`],
    ["a backslash for a slash", (path) => path.replace("/approve/", "/approve\\")],
    ["a leading backslash", (path) => `\\${path}`],
    ["an encoded slash", (path) => path.replace("/approve/", "/approve%2F")],
    ["an encoded letter", (path) => path.replace("req_", "%72eq_")],
    ["dot segments", (_path, id, token) => `/connections/../approve/${id}?t=${token}`],
    ["another page", () => "/activity"],
    ["an extra parameter", (path) => `${path}&next=https://evil.test`],
    ["a fragment", (path) => `${path}#connect`],
    ["a trailing newline", (path) => `${path}\n`],
    ["a token one character long", (path) => `${path}A`],
    ["an overlong value", (path) => `${path}${"A".repeat(5000)}`],
    ["a Cyrillic lookalike letter", (path) => path.replace("req_", "r\u0435q_")],
    ["a fullwidth slash", (path) => path.replace("/approve/", "/approve\uFF0F")],
    ["a javascript: URL", (path) => `javascript:alert(1)//${path}`],
    ["an empty value", () => ""],
  ];
  for (const [label, shape] of shapes) {
    it(`refuses ${label} with return_to_invalid and stores nothing`, async () => {
      const { person, asked, path, token, status } = await hostileSetup();
      await expectRefusedEverywhere(person, shape(path, asked.request_id, token), 400, "return_to_invalid");
      expect(await status()).toBe("pending");
    });
  }

  it("refuses another person's pending request with not_found and stores nothing for either", async () => {
    const owner = await asking(["github"]);
    const { person } = await hostileSetup();
    await expectRefusedEverywhere(person, owner.path, 404, "not_found");
    expect(await owner.status()).toBe("pending");
    expect(await owner.person.session.providerLinks()).toEqual([]);
  });

  it("refuses the person's own request with a wrong link token, and an id that does not exist, with not_found", async () => {
    const { person, asked, path, token } = await hostileSetup();
    const wrong = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
    await expectRefusedEverywhere(person, `/approve/${asked.request_id}?t=${wrong}`, 404, "not_found");
    await expectRefusedEverywhere(person, path.replace(asked.request_id, `req_${"A".repeat(22)}`), 404, "not_found");
  });

  it("refuses a request already decided with not_pending", async () => {
    const { person, asked, path, status } = await hostileSetup();
    expect((await decideOnPage(person.browser, asked.approval_url, "deny")).status).toBe(200);
    await expectRefusedEverywhere(person, path, 409, "not_pending");
    expect(await status()).toBe("denied");
  });
});
