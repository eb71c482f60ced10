/**
 * The /connections pages a person decides on, through the Worker: the reads question a connect
 * of an MCP server ends on (exactly the tools that say they only read; some, all or none stored
 * exactly; hostile names refused with a code and nothing stored), the confirmation before
 * Disconnect and Remove (nothing revoked, deleted or ended until `confirm=yes`), and the jump
 * links to every MCP server at the top of the page.
 */
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MAX_TOOLS } from "../../src/upstream/client/mcp-client";
import { TestBrowser } from "../helpers/browser";
import { FakeIdp } from "../helpers/fake-idp";
import { resetFetchRoutes } from "../helpers/fetch-router";
import { tool } from "../helpers/grants";
import { connectApiKey, grantAccess } from "../helpers/providers";
import {
  addOnPage,
  connectUpstream,
  FakeUpstream,
  listTools,
  MCP_ORIGIN,
  type Person,
  pageCode,
  serverAction,
  signedInPerson,
  vaultRecord,
} from "../helpers/upstream";

const MCP_URL = `${MCP_ORIGIN}/mcp`;
const API_KEY = "UPSTREAM-API-KEY-CANARY-71c2";
const SENTRY_KEY = "SENTRY-KEY-CANARY-0123456789";

let idp: FakeIdp;

beforeAll(async () => {
  idp = await FakeIdp.create();
});

beforeEach(() => {
  resetFetchRoutes();
  idp.install();
});

/** The tools of the fake server: two that say they only read, one that says it writes, one silent. */
function notesUpstream(auth: FakeUpstream["auth"] = { kind: "oauth" }) {
  const upstream = new FakeUpstream().install();
  upstream.auth = auth;
  upstream.tools = [
    { name: "read_notes", title: "Read notes", description: "Reads your notes", readOnly: true },
    { name: "peek", description: 'Peeks <script>alert("x")</script> at notes', readOnly: true },
    { name: "write_note", description: "Writes a note", readOnly: false },
    { name: "plain", description: "Says nothing" },
  ];
  return upstream;
}

/** Every form of a page: action, its inputs (name, value, type) and its button labels. */
function formsOf(html: string) {
  return [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)].map((match) => ({
    action: /action="([^"]*)"/.exec(match[1] ?? "")?.[1] ?? "",
    inputs: [...(match[2] ?? "").matchAll(/<input\b([^>]*)>/g)].map((input) => ({
      name: /name="([^"]*)"/.exec(input[1] ?? "")?.[1] ?? "",
      value: /value="([^"]*)"/.exec(input[1] ?? "")?.[1] ?? "",
      type: /type="([^"]*)"/.exec(input[1] ?? "")?.[1] ?? "",
    })),
    buttons: [...(match[2] ?? "").matchAll(/<button\b[^>]*>([\s\S]*?)<\/button>/g)].map((button) => button[1]),
  }));
}

const toolsOf = (form: ReturnType<typeof formsOf>[number] | undefined, type: string) =>
  (form?.inputs ?? []).filter((input) => input.name === "tools" && input.type === type).map((input) => input.value);

/** A person with `notes` added and connected over OAuth; returns the callback's answer too. */
async function connectedNotes(label: string) {
  const upstream = notesUpstream();
  const person = await signedInPerson(idp, label);
  expect((await addOnPage(person, "notes", MCP_URL)).status).toBe(303);
  const { callback } = await connectUpstream(person, upstream, "notes");
  return { upstream, person, callback };
}

const readTools = async (person: Person) => (await person.session.upstreamServer("notes"))?.readTools;
const hints = async (person: Person) =>
  Object.fromEntries(
    (await listTools(person.token))
      .filter((entry) => entry.name.startsWith("notes__"))
      .map((entry) => [entry.name, entry.annotations?.readOnlyHint]),
  );

describe("the reads question after connecting an MCP server", () => {
  it("lands an OAuth connect on the reads page, which lists exactly the tools that say they only read", async () => {
    const { person, callback } = await connectedNotes("reads-page");
    expect(callback.headers.get("location")).toBe("/connections/mcp/notes/reads");

    const page = await person.browser.get("/connections/mcp/notes/reads");
    expect(page.status).toBe(200);
    const html = await page.text();
    const forms = formsOf(html).filter((form) => form.action === "/connections/mcp/notes/reads");
    expect(forms).toHaveLength(3);
    const [ticked, all, none] = forms;
    expect(toolsOf(ticked, "checkbox")).toEqual(["read_notes", "peek"]);
    expect(toolsOf(all, "hidden")).toEqual(["read_notes", "peek"]);
    expect(toolsOf(none, "hidden")).toEqual([]);
    for (const form of forms) expect(form.inputs.find((input) => input.name === "csrf")?.value).toBe(person.csrf);
    expect(ticked?.buttons).toEqual(["Accept the ticked tools"]);
    expect(all?.buttons).toEqual(["Accept all 2"]);
    expect(none?.buttons).toEqual(["Accept none: every call asks"]);
    // Plain words for both answers; the server's own text is escaped, never markup.
    expect(html).toContain("Not accepted:</strong> the tool counts as a write. Each call asks you first");
    expect(html).toContain("Its other 2 tools do not say they only read, so they count as writes.");
    expect(html).not.toContain("<script>");
    expect(html).toContain("Peeks &lt;script&gt;");
    expect(html).not.toMatch(/value="(write_note|plain)"/);
    // Nothing is accepted until the person answers: every tool is still a write.
    expect(await readTools(person)).toEqual([]);
    expect(await hints(person)).toEqual({
      notes__read_notes: false,
      notes__peek: false,
      notes__write_note: false,
      notes__plain: false,
    });
  });

  it("lands an API-key connect on the reads page, and /connections shows that none is accepted yet", async () => {
    const upstream = notesUpstream({ kind: "key", header: "authorization", value: `Bearer ${API_KEY}` });
    const person = await signedInPerson(idp, "reads-key");
    const added = await addOnPage(person, "notes", MCP_URL);
    expect(added.headers.get("location")).toBe("/connections?server=notes#server-notes");
    const saved = await serverAction(person, "notes", "api-key", { api_key: API_KEY });
    expect(saved.status).toBe(303);
    expect(saved.headers.get("location")).toBe("/connections/mcp/notes/reads");
    expect(upstream.calls).toEqual([]);

    const connections = await (await person.browser.get("/connections")).text();
    expect(connections).toContain(
      '2 tools say they only read; none accepted as reads, so each of their calls asks you first. <a href="/connections/mcp/notes/reads">Choose reads</a>',
    );
  });

  it("sends a server with no tool that says it reads back to /connections, and its reads page there too", async () => {
    const upstream = new FakeUpstream().install();
    upstream.auth = { kind: "none" };
    upstream.tools = [{ name: "write_note", description: "Writes", readOnly: false }, { name: "plain" }];
    const person = await signedInPerson(idp, "reads-skip");
    const added = await addOnPage(person, "notes", MCP_URL);
    expect((await person.session.upstreamServer("notes"))?.status).toBe("connected");
    expect(added.headers.get("location")).toBe("/connections?server=notes#server-notes");
    const page = await person.browser.get("/connections/mcp/notes/reads");
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toBe("/connections?server=notes#server-notes");
    expect(await (await person.browser.get("/connections")).text()).not.toContain("Choose reads");
  });

  it("lands an open server's add on the reads page when it has tools that say they read", async () => {
    notesUpstream({ kind: "none" });
    const person = await signedInPerson(idp, "reads-open");
    const added = await addOnPage(person, "notes", MCP_URL);
    expect(added.headers.get("location")).toBe("/connections/mcp/notes/reads");
  });

  const choices: [string, string[], string[]][] = [
    ["one ticked tool", ["peek"], ["peek"]],
    ["all of them", ["read_notes", "peek"], ["peek", "read_notes"]],
    ["none", [], []],
  ];
  for (const [label, sent, stored] of choices) {
    it(`stores exactly what was chosen: ${label}`, async () => {
      const { person } = await connectedNotes("reads-choice");
      // An earlier answer, so that "none" provably replaces it.
      expect((await serverAction(person, "notes", "reads", { tools: ["read_notes"] })).status).toBe(303);
      const saved = await serverAction(person, "notes", "reads", { tools: sent });
      expect(saved.status).toBe(303);
      expect(saved.headers.get("location")).toBe("/connections?server=notes#server-notes");
      expect(await readTools(person)).toEqual(stored);
      const listed = await hints(person);
      expect(listed.notes__read_notes).toBe(stored.includes("read_notes"));
      expect(listed.notes__peek).toBe(stored.includes("peek"));
      expect(listed.notes__write_note).toBe(false);
      const page = await (await person.browser.get("/connections/mcp/notes/reads")).text();
      const ticked = [...page.matchAll(/<input type="checkbox" name="tools" value="([^"]+)" checked=""/g)];
      expect(ticked.map((match) => match[1]).sort()).toEqual(stored);
    });
  }

  const hostile: [string, string[], string][] = [
    ["an HTML name", ['<img src=x onerror="alert(1)">'], "tool_name_invalid"],
    ["a name over 64 characters", ["r".repeat(65)], "tool_name_invalid"],
    ["a name of 10 000 characters", ["r".repeat(10_000)], "tool_name_invalid"],
    ["a control character", ["read\u0000notes"], "tool_name_invalid"],
    ["an empty name", [""], "tool_name_invalid"],
    ["a path", ["../peek"], "tool_name_invalid"],
    ["a name twice", ["peek", "peek"], "tool_duplicated"],
    ["a name not on the server", ["delete_everything"], "tool_not_offered"],
    ["a tool that says it writes", ["write_note"], "tool_not_offered"],
    ["a tool that says nothing", ["plain"], "tool_not_offered"],
    ["a good name with a bad one", ["read_notes", "nope"], "tool_not_offered"],
    ["a prototype key", ["__proto__"], "tool_not_offered"],
    ["more names than a server may have", Array.from({ length: MAX_TOOLS + 1 }, (_, i) => `t${i}`), "too_many_tools"],
  ];
  it.each(hostile)("refuses %s with its code and stores nothing", async (_label, sent, code) => {
    const { person } = await connectedNotes("reads-hostile");
    expect((await serverAction(person, "notes", "reads", { tools: ["peek"] })).status).toBe(303);
    const before = await person.session.upstreamServer("notes");
    const refused = await serverAction(person, "notes", "reads", { tools: sent });
    expect(refused.status).toBe(400);
    const html = await refused.text();
    expect(pageCode(html)).toBe(code);
    expect(html).not.toContain("<img");
    expect(await person.session.upstreamServer("notes")).toEqual(before);
    expect(await readTools(person)).toEqual(["peek"]);
    expect((await hints(person)).notes__read_notes).toBe(false);
  });

  it("refuses a form without the page's CSRF token, another person's server and a signed-out browser", async () => {
    const { person } = await connectedNotes("reads-owner");
    const intruder = await signedInPerson(idp, "reads-intruder");
    const bare = await person.browser.post("/connections/mcp/notes/reads", { tools: ["peek"] });
    expect(bare.status).toBe(403);
    expect(pageCode(await bare.text())).toBe("csrf_invalid");
    const foreign = await serverAction(intruder, "notes", "reads", { tools: ["peek"] });
    expect(foreign.status).toBe(404);
    expect(pageCode(await foreign.text())).toBe("not_found");
    const foreignPage = await intruder.browser.get("/connections/mcp/notes/reads");
    expect(foreignPage.status).toBe(404);
    expect(await foreignPage.text()).not.toContain("read_notes");
    const signedOut = await new TestBrowser().get("/connections/mcp/notes/reads");
    expect(signedOut.status).toBe(302);
    expect(signedOut.headers.get("location")).toMatch(/^\/signin\?/);
    expect(await readTools(person)).toEqual([]);
  });
});

describe("Disconnect and Remove ask first", () => {
  async function withLiveGrant(label: string) {
    const { upstream, person } = await connectedNotes(label);
    const grant = await grantAccess(person.token, person.browser, ["notes"], "read");
    return { upstream, person, grant };
  }

  /** Nothing of the server was touched: still connected, tokens kept, nothing revoked, grant live. */
  async function untouched(upstream: FakeUpstream, person: Person, grant: string) {
    expect(upstream.revocations).toEqual([]);
    expect(await vaultRecord(person.userId, "mcp_notes")).not.toBeNull();
    expect((await person.session.upstreamServer("notes"))?.status).toBe("connected");
    expect((await tool(person.token, "check_access_request", { request_id: grant })).structured?.status).toBe(
      "approved",
    );
  }

  const unconfirmed: [string, Record<string, string>][] = [
    ["no confirm field", {}],
    ['confirm="no"', { confirm: "no" }],
    ['confirm="YES"', { confirm: "YES" }],
    ['confirm="yes " (a trailing space)', { confirm: "yes " }],
    ['confirm="1"', { confirm: "1" }],
  ];
  for (const action of ["remove", "disconnect"] as const) {
    const verb = action === "remove" ? "Remove" : "Disconnect";
    it.each(unconfirmed)(`${verb} with %s shows the question and changes nothing`, async (_label, form) => {
      const { upstream, person, grant } = await withLiveGrant(`ask-${action}`);
      const asked = await serverAction(person, "notes", action, form);
      expect(asked.status).toBe(200);
      const html = await asked.text();
      expect(html).toContain(`<h1>${verb} notes?</h1>`);
      expect(html).toContain("Every grant and pending request naming notes ends");
      const [confirm] = formsOf(html);
      expect(confirm?.action).toBe(`/connections/mcp/notes/${action}`);
      expect(confirm?.inputs).toEqual([
        { name: "csrf", value: person.csrf, type: "hidden" },
        { name: "confirm", value: "yes", type: "hidden" },
      ]);
      expect(confirm?.buttons).toEqual([`Yes, ${action}`]);
      expect(html).toContain('<a class="button" href="/connections?server=notes#server-notes">Cancel</a>');
      await untouched(upstream, person, grant);
    });

    it(`${verb} with confirm=yes but no CSRF token is refused and changes nothing`, async () => {
      const { upstream, person, grant } = await withLiveGrant(`csrf-${action}`);
      const refused = await person.browser.post(`/connections/mcp/notes/${action}`, { confirm: "yes" });
      expect(refused.status).toBe(403);
      expect(pageCode(await refused.text())).toBe("csrf_invalid");
      await untouched(upstream, person, grant);
    });

    // hono/tiny's router also matches a trailing slash: the variant must meet the same guards.
    it(`${verb} at its address with a trailing slash meets the same CSRF and confirm checks`, async () => {
      const { upstream, person, grant } = await withLiveGrant(`slash-${action}`);
      const path = `/connections/mcp/notes/${action}/`;
      const refused = await person.browser.post(path, { confirm: "yes" });
      expect(refused.status).toBe(403);
      expect(pageCode(await refused.text())).toBe("csrf_invalid");
      const asked = await person.browser.post(path, { csrf: person.csrf });
      expect(asked.status).toBe(200);
      expect(await asked.text()).toContain(`<h1>${verb} notes?</h1>`);
      await untouched(upstream, person, grant);
    });
  }

  it("Yes, remove revokes upstream, deletes the tokens and the row, and ends the grant", async () => {
    const { upstream, person, grant } = await withLiveGrant("yes-remove");
    const removed = await serverAction(person, "notes", "remove", { confirm: "yes" });
    expect(removed.status).toBe(303);
    expect(removed.headers.get("location")).toBe("/connections#mcp-servers");
    expect(upstream.revocations.map((entry) => entry.form.get("token_type_hint"))).toEqual([
      "refresh_token",
      "access_token",
    ]);
    expect(await vaultRecord(person.userId, "mcp_notes")).toBeNull();
    expect(await person.session.upstreamServer("notes")).toBeNull();
    expect((await tool(person.token, "check_access_request", { request_id: grant })).structured?.status).toBe(
      "revoked",
    );
  });

  it("Yes, disconnect revokes upstream and keeps the server, not connected", async () => {
    const { upstream, person, grant } = await withLiveGrant("yes-disconnect");
    const done = await serverAction(person, "notes", "disconnect", { confirm: "yes" });
    expect(done.status).toBe(303);
    expect(done.headers.get("location")).toBe("/connections?server=notes#server-notes");
    expect(upstream.revocations).toHaveLength(2);
    expect(await vaultRecord(person.userId, "mcp_notes")).toBeNull();
    expect(await person.session.upstreamServer("notes")).toMatchObject({ status: "not_connected", tools: [] });
    expect((await tool(person.token, "check_access_request", { request_id: grant })).structured?.status).toBe(
      "revoked",
    );
  });

  it("a provider's Disconnect shows the question and keeps the key; only confirm=yes disconnects", async () => {
    const person = await signedInPerson(idp, "ask-provider");
    await connectApiKey(person.browser, person.userId, "sentry", SENTRY_KEY);
    const grant = await grantAccess(person.token, person.browser, ["sentry"], "read");
    const linked = async () => (await person.session.providerLinks()).map((link) => link.providerId);

    for (const [, form] of unconfirmed) {
      const asked = await person.browser.post("/connections/sentry/disconnect", { csrf: person.csrf, ...form });
      expect(asked.status).toBe(200);
      const html = await asked.text();
      expect(html).toContain("<h1>Disconnect Sentry?</h1>");
      const [confirm] = formsOf(html);
      expect(confirm?.action).toBe("/connections/sentry/disconnect");
      expect(confirm?.inputs).toContainEqual({ name: "confirm", value: "yes", type: "hidden" });
      expect(confirm?.buttons).toEqual(["Yes, disconnect"]);
      expect(html).not.toContain(SENTRY_KEY);
    }
    const forged = await person.browser.post("/connections/sentry/disconnect", { confirm: "yes" });
    expect(forged.status).toBe(403);
    expect(await linked()).toEqual(["sentry"]);
    expect(await vaultRecord(person.userId, "sentry")).not.toBeNull();
    expect((await tool(person.token, "check_access_request", { request_id: grant })).structured?.status).toBe(
      "approved",
    );

    const done = await person.browser.post("/connections/sentry/disconnect", { csrf: person.csrf, confirm: "yes" });
    expect(done.status).toBe(303);
    expect(await linked()).toEqual([]);
    expect(await vaultRecord(person.userId, "sentry")).toBeNull();
    expect((await tool(person.token, "check_access_request", { request_id: grant })).structured?.status).toBe(
      "revoked",
    );
  });

  it("asks nothing about a provider that is not connected, or not there at all: 404", async () => {
    const person = await signedInPerson(idp, "ask-none");
    for (const id of ["sentry", "no-such-provider"]) {
      const response = await person.browser.post(`/connections/${id}/disconnect`, { csrf: person.csrf });
      expect(response.status).toBe(404);
      expect(pageCode(await response.text())).toBe("not_found");
    }
  });
});

describe("the jump links at the top of /connections", () => {
  it("link the accounts, the MCP servers part and each server before the first provider", async () => {
    const upstream = new FakeUpstream().install();
    upstream.auth = { kind: "none" };
    const person = await signedInPerson(idp, "jumps");
    for (const name of ["alpha", "zeta-two"]) expect((await addOnPage(person, name, MCP_URL)).status).toBe(303);
    const html = await (await person.browser.get("/connections")).text();
    const nav = /<nav class="jump" aria-label="On this page">([\s\S]*?)<\/nav>/.exec(html);
    expect(nav).not.toBeNull();
    const links = [...(nav?.[1] ?? "").matchAll(/<a href="([^"]+)">([^<]*)<\/a>/g)].map((m) => [m[1], m[2]]);
    expect(links.map(([href]) => href)).toEqual(["#providers", "#mcp-servers", "#server-alpha", "#server-zeta-two"]);
    expect(links[1]?.[1]).toBe("MCP servers (2)");
    for (const id of ["providers", "mcp-servers", "server-alpha", "server-zeta-two"]) {
      expect(html).toContain(`id="${id}"`);
    }
    expect(html.indexOf('<nav class="jump"')).toBeLessThan(html.indexOf('id="provider-'));
  });
});
