/**
 * Upstream MCP servers through the Worker and the person's Durable Object: our client metadata
 * document, adding servers (page and add_mcp_server), OAuth connect with discovery, DCR, PKCE
 * and RFC 8707 at the fetch boundary, pre-registered clients, API keys, read/write gating and
 * one-call approvals of tool calls, catalogue servers (MCP_SERVERS), removal with revocation,
 * account deletion and the audit log. Secrets are checked to stay sealed and out of pages,
 * results, logs and the object's tables.
 */
import { env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { createMcpHandler, McpServer } from "@modelcontextprotocol/server";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { csrfToken } from "../../src/approvals/link";
import { loadConfig } from "../../src/config";
import { PROTOTYPE_KEY_REASON } from "../../src/mcp/guard";
import type { UserSession } from "../../src/session/user-session";
import { upstreamListingSize } from "../../src/upstream/listing-cache";
import { TestBrowser } from "../helpers/browser";
import { FakeIdp } from "../helpers/fake-idp";
import { resetFetchRoutes, routeFetch, seen, seenAt } from "../helpers/fetch-router";
import { askSession, type Loose, openApproval, submitApproval, tool } from "../helpers/grants";
import { grantAccess } from "../helpers/providers";
import {
  AS_ORIGIN,
  addOnPage,
  CALLBACK_URL,
  connectUpstream,
  dumpSession,
  FakeUpstream,
  json,
  listTools,
  MCP_ORIGIN,
  type Person,
  pageCode,
  serverAction,
  signedInPerson,
  UPSTREAM_ACCESS,
  UPSTREAM_REFRESH,
  vaultRecord,
} from "../helpers/upstream";
import { envWith, fetchWorker } from "../helpers/worker";

const MCP_URL = `${MCP_ORIGIN}/mcp`;
const CLIENT_SECRET = "PASTED-CLIENT-SECRET-CANARY-51e0";
const API_KEY = "UPSTREAM-API-KEY-CANARY-0d4b";
const RESULT_CANARY = "UPSTREAM-RESULT-CANARY-3e8c";
const NEW_ACCESS = "UPSTREAM-ACCESS-RECONNECT-CANARY-2b6f";
const NEW_REFRESH = "UPSTREAM-REFRESH-RECONNECT-CANARY-8d03";

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

afterEach(() => {
  const text = logs.join("\n");
  for (const secret of [UPSTREAM_ACCESS, UPSTREAM_REFRESH, CLIENT_SECRET, API_KEY]) expect(text).not.toContain(secret);
});

const basic = (id: string, secret: string) => `Basic ${btoa(`${id}:${secret}`)}`;

/** Tool-call requests the fake server received for `tool`. */
const callsOf = (upstream: FakeUpstream, name: string) => upstream.calls.filter((call) => call.tool === name);

describe("GET /oauth/client-metadata.json", () => {
  it("serves our client metadata: client_id is its own URL, one redirect URI, a public client", async () => {
    const response = await fetchWorker("/oauth/client-metadata.json");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(response.headers.get("cache-control")).toBe("public, max-age=3600");
    expect(await response.json()).toEqual({
      client_id: "https://countersign.test/oauth/client-metadata.json",
      client_name: "Countersign",
      client_uri: "https://countersign.test",
      redirect_uris: [CALLBACK_URL],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    });
  });

  it("builds the document from PUBLIC_URL, never from the Host header", async () => {
    const response = await fetchWorker("/oauth/client-metadata.json", { headers: { Host: "evil.example" } });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).not.toContain("evil.example");
    expect(JSON.parse(text)).toMatchObject({
      client_id: "https://countersign.test/oauth/client-metadata.json",
      client_uri: "https://countersign.test",
      redirect_uris: [CALLBACK_URL],
    });
  });
});

describe("adding a server", () => {
  let person: Person;
  beforeAll(async () => {
    resetFetchRoutes();
    idp.install();
    person = await signedInPerson(idp, "names");
  });

  const invalid = ["Notes", "a__b", "-x", "x-", "1abc", "a--b", "ab_c", "notes!", "é", "a".repeat(25)];
  const reserved = ["github", "linear", "google", "countersign", "mcp", "oauth", "callback"];
  const refusals: [string, string][] = [
    ...invalid.map((name): [string, string] => [name, "name_invalid"]),
    ...reserved.map((name): [string, string] => [name, "name_reserved"]),
  ];
  for (const [name, code] of refusals) {
    it(`refuses the name ${JSON.stringify(name)} as ${code} on the page and in add_mcp_server, probing nothing`, async () => {
      new FakeUpstream().install();
      const page = await addOnPage(person, name, MCP_URL);
      expect(page.status).toBe(400);
      expect(pageCode(await page.text())).toBe(code);
      if (name.length <= 24) {
        const outcome = await tool(person.token, "add_mcp_server", { name, url: MCP_URL });
        expect(outcome.error?.code).toBe("invalid_request");
        expect((outcome.error as Loose).reason).toBe(code);
      }
      expect(seenAt(MCP_ORIGIN)).toEqual([]);
      expect(await person.session.upstreamServers()).toEqual([]);
    });
  }

  it("refuses a name already taken (page and tool), keeping the first server as it was", async () => {
    const upstream = new FakeUpstream().install();
    expect((await addOnPage(person, "taken", MCP_URL)).status).toBe(303);
    const first = await person.session.upstreamServer("taken");
    const probes = seenAt(MCP_ORIGIN).length;
    const page = await addOnPage(person, "taken", "https://other.example.com/mcp");
    expect(page.status).toBe(400);
    expect(pageCode(await page.text())).toBe("name_taken");
    const outcome = await tool(person.token, "add_mcp_server", { name: "taken", url: "https://other.example.com/mcp" });
    expect((outcome.error as Loose).reason).toBe("name_taken");
    expect(await person.session.upstreamServer("taken")).toEqual(first);
    expect(seenAt(MCP_ORIGIN)).toHaveLength(probes);
    expect(upstream.calls).toEqual([]);
    await serverAction(person, "taken", "remove", { confirm: "yes" });
  });

  it("caps a person at 20 added servers, also under parallel adds; the 21st is refused before any probe", async () => {
    new FakeUpstream().install();
    const capped = await signedInPerson(idp, "cap");
    for (let i = 1; i <= 18; i++) {
      const outcome = await tool(capped.token, "add_mcp_server", { name: `s${i}`, url: MCP_URL });
      expect(outcome.structured?.status).toBe("not_connected");
    }
    const parallel = await Promise.all(
      ["p1", "p2", "p3", "p4"].map((name) => tool(capped.token, "add_mcp_server", { name, url: MCP_URL })),
    );
    expect(parallel.filter((outcome) => outcome.structured?.status === "not_connected")).toHaveLength(2);
    expect(parallel.filter((outcome) => (outcome.error as Loose)?.reason === "too_many_servers")).toHaveLength(2);
    const probes = seenAt(MCP_ORIGIN).length;
    const outcome = await tool(capped.token, "add_mcp_server", { name: "s21", url: MCP_URL });
    expect((outcome.error as Loose).reason).toBe("too_many_servers");
    const page = await addOnPage(capped, "s22", MCP_URL);
    expect(pageCode(await page.text())).toBe("too_many_servers");
    expect(seenAt(MCP_ORIGIN)).toHaveLength(probes);
    expect(await capped.session.upstreamServers()).toHaveLength(20);
  });

  it("connects an open server at once and lists its tools", async () => {
    const upstream = new FakeUpstream().install();
    upstream.auth = { kind: "none" };
    const open = await signedInPerson(idp, "open");
    const outcome = await tool(open.token, "add_mcp_server", { name: "notes", url: MCP_URL });
    expect(outcome.structured).toEqual({
      name: "notes",
      url: MCP_URL,
      auth: "none",
      status: "connected",
      error: null,
      tools: 2,
      connect_url: "https://countersign.test/connections?server=notes",
    });
    const names = (await listTools(open.token)).map((entry) => entry.name);
    expect(names).toEqual(expect.arrayContaining(["notes__read_notes", "notes__write_note"]));
    // Listing is not calling: no tool ran upstream.
    expect(upstream.calls).toEqual([]);
    const audit = (await open.session.exportAll()).audit.filter((entry) => entry.event === "server_added");
    expect(audit).toEqual([
      expect.objectContaining({
        actor: "agent",
        detail: expect.objectContaining({ server: "notes", auth: "none", status: "connected" }),
      }),
    ]);
  });

  it("leaves an OAuth server not_connected with a connect link, and no tools", async () => {
    new FakeUpstream().install();
    const outcome = await tool(person.token, "add_mcp_server", { name: "oauthy", url: MCP_URL });
    expect(outcome.structured).toMatchObject({ auth: "oauth", status: "not_connected", error: null, tools: 0 });
    expect(outcome.text).toContain("https://countersign.test/connections?server=oauthy");
    expect((await listTools(person.token)).map((entry) => entry.name)).not.toContain("oauthy__read_notes");
    await serverAction(person, "oauthy", "remove", { confirm: "yes" });
  });

  const broken: [string, () => Response | never, string][] = [
    [
      "an unreachable host",
      () => {
        throw new TypeError("network connection lost");
      },
      "unreachable",
    ],
    ["a web page", () => new Response("<html></html>", { headers: { "content-type": "text/html" } }), "not_mcp"],
    ["a server error", () => new Response("down", { status: 503 }), "probe_failed"],
  ];
  for (const [label, answer, code] of broken) {
    it(`marks ${label} as an error row with ${code}`, async () => {
      routeFetch("https://broken.example.com", answer);
      const outcome = await tool(person.token, "add_mcp_server", {
        name: `broken-${code.replace(/_/g, "-")}`,
        url: "https://broken.example.com/mcp",
      });
      expect(outcome.structured).toMatchObject({ status: "error", error: code, tools: 0 });
      await serverAction(person, `broken-${code.replace(/_/g, "-")}`, "remove", { confirm: "yes" });
    });
  }
});

describe("OAuth connect (discovery, DCR, PKCE S256, RFC 8707)", () => {
  it("registers once, sends PKCE and resource, seals the tokens, lists the tools; a reconnect reuses the client", async () => {
    const upstream = new FakeUpstream().install();
    const person = await signedInPerson(idp, "connect");
    expect((await addOnPage(person, "notes", MCP_URL)).status).toBe(303);
    const { authorize, callback } = await connectUpstream(person, upstream, "notes");
    // read_notes says it only reads: the connect ends on the question which tools are reads.
    expect(callback.headers.get("location")).toBe("/connections/mcp/notes/reads");

    expect(upstream.registrations).toEqual([
      {
        client_name: "Countersign",
        redirect_uris: [CALLBACK_URL],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "none",
      },
    ]);
    const params = Object.fromEntries(authorize.searchParams);
    expect(params).toMatchObject({
      response_type: "code",
      client_id: "dcr-client-1",
      redirect_uri: CALLBACK_URL,
      code_challenge_method: "S256",
      resource: MCP_URL,
    });
    expect(params.code_challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(params.state?.length).toBeGreaterThanOrEqual(32);

    // The fake token endpoint checked the verifier against the challenge, resource and redirect URI.
    expect(upstream.tokenRequests).toHaveLength(1);
    const exchange = upstream.tokenRequests[0];
    expect(Object.fromEntries(exchange?.form ?? [])).toMatchObject({
      grant_type: "authorization_code",
      resource: MCP_URL,
      redirect_uri: CALLBACK_URL,
      client_id: "dcr-client-1",
    });
    expect(exchange?.form.get("code_verifier")).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
    expect(exchange?.headers.authorization).toBeUndefined();

    const raw = await vaultRecord(person.userId, "mcp_notes");
    expect(raw).not.toBeNull();
    expect(raw).not.toContain(UPSTREAM_ACCESS);
    expect(raw).not.toContain(UPSTREAM_REFRESH);
    expect(await vaultRecord(person.userId, "mcpc_notes")).toBeNull();

    const row = await person.session.upstreamServer("notes");
    expect(row).toMatchObject({ status: "connected", auth: "oauth", lastError: null });
    expect(row?.oauth).toMatchObject({
      issuer: AS_ORIGIN,
      clientId: "dcr-client-1",
      registration: "dcr",
      resource: MCP_URL,
    });
    expect(row?.tools.map((entry) => entry.name)).toEqual(["read_notes", "write_note"]);
    const listedWith = seenAt(MCP_ORIGIN).filter((request) => request.headers.authorization);
    expect(listedWith.length).toBeGreaterThan(0);
    for (const request of listedWith) expect(request.headers.authorization).toBe(`Bearer ${UPSTREAM_ACCESS}`);
    expect((await listTools(person.token)).map((entry) => entry.name)).toEqual(
      expect.arrayContaining(["notes__read_notes", "notes__write_note"]),
    );
    expect(await dumpSession(person)).not.toContain(UPSTREAM_ACCESS);

    const again = await connectUpstream(person, upstream, "notes");
    expect(upstream.registrations).toHaveLength(1);
    expect(again.authorize.searchParams.get("client_id")).toBe("dcr-client-1");
    expect(again.authorize.searchParams.get("state")).not.toBe(params.state);
    expect(upstream.tokenRequests).toHaveLength(2);
    expect((await person.session.upstreamServer("notes"))?.status).toBe("connected");
  });

  it("revokes the tokens a reconnect replaces (refresh token first), after the new ones are obtained; calls then carry the new token", async () => {
    const upstream = new FakeUpstream().install();
    const person = await signedInPerson(idp, "reconnect");
    await addOnPage(person, "notes", MCP_URL);
    await connectUpstream(person, upstream, "notes");
    await grantAccess(person.token, person.browser, ["notes"], "write");
    expect((await tool(person.token, "notes__write_note", { n: 1 })).error).toBeUndefined();
    expect(upstream.revocations).toEqual([]);

    // The authorization server issues other tokens this time; the old access token stops working.
    upstream.accessToken = NEW_ACCESS;
    upstream.refreshToken = NEW_REFRESH;
    const exchangesBefore = upstream.tokenRequests.length;
    await connectUpstream(person, upstream, "notes");
    expect(upstream.tokenRequests.slice(exchangesBefore).map((request) => request.form.get("grant_type"))).toEqual([
      "authorization_code",
    ]);
    expect(
      upstream.revocations.map((revocation) => [
        revocation.form.get("token"),
        revocation.form.get("token_type_hint"),
        revocation.form.get("client_id"),
      ]),
    ).toEqual([
      [UPSTREAM_REFRESH, "refresh_token", "dcr-client-1"],
      [UPSTREAM_ACCESS, "access_token", "dcr-client-1"],
    ]);
    // The old tokens are revoked only once the new ones are in hand: a failed exchange keeps them.
    const asPaths = seenAt(AS_ORIGIN).map((request) => new URL(request.url).pathname);
    expect(asPaths.lastIndexOf("/token")).toBeLessThan(asPaths.indexOf("/revoke"));
    for (const revocation of upstream.revocations) {
      expect([NEW_ACCESS, NEW_REFRESH]).not.toContain(revocation.form.get("token"));
    }

    expect(await person.session.upstreamServer("notes")).toMatchObject({
      status: "connected",
      lastError: null,
    });
    const outcome = await tool(person.token, "notes__write_note", { n: 2 });
    expect(outcome.error).toBeUndefined();
    expect(callsOf(upstream, "write_note").map((call) => [call.args, call.headers.authorization])).toEqual([
      [{ n: 1 }, `Bearer ${UPSTREAM_ACCESS}`],
      [{ n: 2 }, `Bearer ${NEW_ACCESS}`],
    ]);
    const raw = await vaultRecord(person.userId, "mcp_notes");
    expect(raw).not.toContain(NEW_ACCESS);
    expect(raw).not.toContain(NEW_REFRESH);
    const everything = `${await dumpSession(person)}${logs.join("\n")}`;
    for (const secret of [NEW_ACCESS, NEW_REFRESH]) expect(everything).not.toContain(secret);
  });

  it("a reconnect that gets the same tokens back revokes none of them, and the server keeps working", async () => {
    const upstream = new FakeUpstream().install();
    const person = await signedInPerson(idp, "same-tokens");
    await addOnPage(person, "notes", MCP_URL);
    await connectUpstream(person, upstream, "notes");
    // The authorization server hands back the very same access and refresh tokens (RFC 6749 §6 allows it).
    await connectUpstream(person, upstream, "notes");
    expect(upstream.revocations).toEqual([]);
    expect(await person.session.upstreamServer("notes")).toMatchObject({ status: "connected" });
    await grantAccess(person.token, person.browser, ["notes"], "write");
    expect((await tool(person.token, "notes__write_note", { n: 1 })).error).toBeUndefined();
    expect(callsOf(upstream, "write_note").map((call) => call.headers.authorization)).toEqual([
      `Bearer ${UPSTREAM_ACCESS}`,
    ]);
  });

  it("a reconnect that keeps the refresh token but brings a new access token revokes only the old access token", async () => {
    const upstream = new FakeUpstream().install();
    const person = await signedInPerson(idp, "same-refresh");
    await addOnPage(person, "notes", MCP_URL);
    await connectUpstream(person, upstream, "notes");
    upstream.accessToken = NEW_ACCESS;
    await connectUpstream(person, upstream, "notes");
    expect(
      upstream.revocations.map((revocation) => [revocation.form.get("token"), revocation.form.get("token_type_hint")]),
    ).toEqual([[UPSTREAM_ACCESS, "access_token"]]);
    expect(await person.session.upstreamServer("notes")).toMatchObject({ status: "connected" });
  });

  it("seals a client secret the person pasted, uses it at the token endpoint, never shows it", async () => {
    const upstream = new FakeUpstream().install();
    upstream.tokenExtras = { expires_in: 30 }; // inside the refresh margin: listing the tools refreshes once
    const person = await signedInPerson(idp, "prereg");
    await addOnPage(person, "own", MCP_URL);
    const { authorize } = await connectUpstream(person, upstream, "own", {
      client_id: "my-client",
      client_secret: CLIENT_SECRET,
    });
    expect(upstream.registrations).toEqual([]);
    expect(authorize.searchParams.get("client_id")).toBe("my-client");
    expect(upstream.tokenRequests.map((request) => request.form.get("grant_type"))).toEqual([
      "authorization_code",
      "refresh_token",
    ]);
    for (const request of upstream.tokenRequests) {
      expect(request.headers.authorization).toBe(basic("my-client", CLIENT_SECRET));
      expect(request.form.get("client_secret")).toBeNull();
    }
    const sealed = await vaultRecord(person.userId, "mcpc_own");
    expect(sealed).not.toBeNull();
    expect(sealed).not.toContain(CLIENT_SECRET);
    expect((await person.session.upstreamServer("own"))?.oauth).toMatchObject({
      clientId: "my-client",
      registration: "preregistered",
      hasClientSecret: true,
    });
    const page = await (await person.browser.get("/connections")).text();
    expect(page).toContain("own");
    expect(page).not.toContain(CLIENT_SECRET);
    expect(await dumpSession(person)).not.toContain(CLIENT_SECRET);
    for (const request of seen) {
      if (new URL(request.url).origin !== AS_ORIGIN)
        expect(JSON.stringify(request)).not.toContain(btoa(`my-client:${CLIENT_SECRET}`));
    }
  });
});

describe("API-key servers", () => {
  const headers: [string, string, string][] = [
    ["the default Authorization header", "Authorization", "authorization"],
    ["a header the person chose", "X-Api-Key", "x-api-key"],
  ];
  for (const [label, header, wire] of headers) {
    it(`sends the key in ${label} to the server only, never in arguments or results`, async () => {
      const upstream = new FakeUpstream().install();
      upstream.auth = { kind: "key", header: wire, value: wire === "authorization" ? `Bearer ${API_KEY}` : API_KEY };
      const person = await signedInPerson(idp, "apikey");
      const added = await tool(person.token, "add_mcp_server", { name: "keyed", url: MCP_URL });
      expect(added.structured).toMatchObject({ status: "error", error: "probe_failed" });
      const saved = await serverAction(person, "keyed", "api-key", { api_key: API_KEY, header });
      expect(saved.status).toBe(303);
      expect(await person.session.upstreamServer("keyed")).toMatchObject({
        auth: "api_key",
        status: "connected",
        apiKeyHeader: header,
      });
      const sealed = await vaultRecord(person.userId, "mcp_keyed");
      expect(sealed).not.toBeNull();
      expect(sealed).not.toContain(API_KEY);

      await grantAccess(person.token, person.browser, ["keyed"], "write");
      const outcome = await tool(person.token, "keyed__write_note", { text: "hello" });
      expect(outcome.error).toBeUndefined();
      expect(outcome.text).toBe('{"text":"hello"}');
      expect(callsOf(upstream, "write_note")).toHaveLength(1);
      const call = callsOf(upstream, "write_note")[0];
      expect(call?.args).toEqual({ text: "hello" });
      expect(call?.headers[wire]).toBe(wire === "authorization" ? `Bearer ${API_KEY}` : API_KEY);
      if (wire !== "authorization") expect(call?.headers.authorization).toBeUndefined();
      expect(JSON.stringify(outcome)).not.toContain(API_KEY);
      for (const request of seen) {
        if (new URL(request.url).origin !== MCP_ORIGIN) expect(JSON.stringify(request)).not.toContain(API_KEY);
      }
      expect(await (await person.browser.get("/connections")).text()).not.toContain(API_KEY);
      expect(await dumpSession(person)).not.toContain(API_KEY);
    });
  }

  it("revokes the OAuth tokens upstream and drops the sealed client secret when an API key replaces them", async () => {
    // Pasting a key over a connected OAuth server must not leave the refresh token valid at the
    // authorization server, nor the sealed client secret in the vault.
    const upstream = new FakeUpstream().install();
    const person = await signedInPerson(idp, "switch");
    await addOnPage(person, "notes", MCP_URL);
    await connectUpstream(person, upstream, "notes", { client_id: "my-client", client_secret: CLIENT_SECRET });
    upstream.auth = { kind: "key", header: "authorization", value: `Bearer ${API_KEY}` };
    expect((await serverAction(person, "notes", "api-key", { api_key: API_KEY })).status).toBe(303);
    expect(await person.session.upstreamServer("notes")).toMatchObject({
      auth: "api_key",
      status: "connected",
      oauth: null,
    });
    expect(upstream.revocations.map((revocation) => revocation.form.get("token"))).toEqual([
      UPSTREAM_REFRESH,
      UPSTREAM_ACCESS,
    ]);
    expect(await vaultRecord(person.userId, "mcpc_notes")).toBeNull();
  });

  const badHeaders = ["Cookie", "Host", "CF-Connecting-IP", "Proxy-Authorization", "X Bad", "Content-Type"];
  for (const header of badHeaders) {
    it(`refuses to send a key in ${JSON.stringify(header)}: invalid_key, nothing stored`, async () => {
      new FakeUpstream().install();
      const person = await signedInPerson(idp, "badheader");
      await addOnPage(person, "keyed", MCP_URL);
      const refused = await serverAction(person, "keyed", "api-key", { api_key: API_KEY, header });
      expect(refused.status).toBe(400);
      expect(pageCode(await refused.text())).toBe("invalid_key");
      expect(await vaultRecord(person.userId, "mcp_keyed")).toBeNull();
      expect((await person.session.upstreamServer("keyed"))?.tokenObtainedAt).toBeNull();
    });
  }
});

describe("gating upstream tool calls", () => {
  function gatedUpstream() {
    const upstream = new FakeUpstream().install();
    upstream.auth = { kind: "none" };
    upstream.tools = [
      { name: "read_notes", description: "Reads notes", readOnly: true },
      { name: "peek", description: "Says it only reads", readOnly: true },
      { name: "write_note", description: "Writes a note", readOnly: false },
      { name: "plain", description: "Says nothing" },
    ];
    return upstream;
  }

  async function withReadGrant() {
    const upstream = gatedUpstream();
    const person = await signedInPerson(idp, "gating");
    await tool(person.token, "add_mcp_server", { name: "notes", url: MCP_URL });
    // Only a tool that says it reads can be accepted: a choice with any other is refused whole.
    const refused = await serverAction(person, "notes", "reads", {
      tools: ["read_notes", "write_note", "plain", "nope"],
    });
    expect(refused.status).toBe(400);
    expect(pageCode(await refused.text())).toBe("tool_not_offered");
    expect((await person.session.upstreamServer("notes"))?.readTools).toEqual([]);
    const saved = await serverAction(person, "notes", "reads", { tools: ["read_notes"] });
    expect(saved.status).toBe(303);
    expect((await person.session.upstreamServer("notes"))?.readTools).toEqual(["read_notes"]);
    await grantAccess(person.token, person.browser, ["notes"], "read");
    return { upstream, person };
  }

  it("runs a tool under a read grant only when it says readOnlyHint AND the person accepted it", async () => {
    const { upstream, person } = await withReadGrant();
    const listed = await listTools(person.token);
    const hint = (name: string) => listed.find((entry) => entry.name === name)?.annotations?.readOnlyHint;
    expect(hint("notes__read_notes")).toBe(true);
    expect(hint("notes__peek")).toBe(false);
    expect(hint("notes__write_note")).toBe(false);

    const read = await tool(person.token, "notes__read_notes", { q: "x" });
    expect(read.error).toBeUndefined();
    expect(callsOf(upstream, "read_notes")).toHaveLength(1);

    for (const name of ["peek", "write_note", "plain"]) {
      const refused = await tool(person.token, `notes__${name}`, { q: "x" });
      expect(refused.error?.code).toBe("access_required");
      const error = JSON.parse(refused.text as string).error;
      expect(error.access).toBe("write");
      expect(error.request_elevated_access).toMatchObject({
        kind: "call",
        tool: `notes__${name}`,
        arguments: { q: "x" },
      });
    }
    expect(upstream.calls.map((call) => call.tool)).toEqual(["read_notes"]);
  });

  it("treats an accepted read as a write once the server stops saying readOnlyHint", async () => {
    const { upstream, person } = await withReadGrant();
    upstream.tools = upstream.tools.map((spec) => (spec.name === "read_notes" ? { ...spec, readOnly: false } : spec));
    expect((await serverAction(person, "notes", "refresh")).status).toBe(303);
    const refused = await tool(person.token, "notes__read_notes", {});
    expect(refused.error?.code).toBe("access_required");
    expect(upstream.calls).toEqual([]);
  });

  it("approves one exact tool call: escaped arguments on the page, one upstream call, changed arguments refused", async () => {
    const upstream = gatedUpstream();
    const person = await signedInPerson(idp, "onecall");
    await tool(person.token, "add_mcp_server", { name: "notes", url: MCP_URL });
    const args = { title: "<script>alert(1)</script>", body: { z: 2, a: [1, "two"] } };

    const before = await tool(person.token, "notes__write_note", args);
    expect(before.error?.code).toBe("access_required");
    const asked = await tool(person.token, "request_elevated_access", {
      kind: "call",
      tool: "notes__write_note",
      arguments: args,
      reason: "file the note",
    });
    expect(asked.error).toBeUndefined();
    const approvalUrl = asked.structured?.approval_url as string;

    const page = await openApproval(person.browser, approvalUrl);
    expect(page.response.status).toBe(200);
    expect(page.html).toContain("MCP server");
    expect(page.html).toMatch(/MCP server: <strong class="mono">notes[ <]/);
    expect(page.html).toMatch(/Tool: <strong class="mono">write_note<\/strong>/);
    expect(page.html).not.toContain("<script>alert(1)</script>");
    expect(page.html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    const pre = /<pre class="body">([\s\S]*?)<\/pre>/.exec(page.html)?.[1] ?? "";
    const shown = pre
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&amp;/g, "&");
    // The arguments exactly as they will be sent: canonical (sorted keys), compact JSON.
    expect(shown).toBe(JSON.stringify({ body: { a: [1, "two"], z: 2 }, title: "<script>alert(1)</script>" }));
    expect(upstream.calls).toEqual([]);

    const approved = await submitApproval(person.browser, approvalUrl, {
      t: page.t as string,
      csrf: page.csrf as string,
      decision: "approve",
    });
    expect(approved.status).toBe(200);

    const changed = await tool(person.token, "notes__write_note", { ...args, title: "something else" });
    expect(changed.error?.code).toBe("access_required");
    expect(await tool(person.token, "notes__write_note", {})).toMatchObject({ error: { code: "access_required" } });
    expect(upstream.calls).toEqual([]);

    // The same arguments in another key order are the same call.
    const exact = await tool(person.token, "notes__write_note", { body: { a: [1, "two"], z: 2 }, title: args.title });
    expect(exact.error).toBeUndefined();
    expect(upstream.calls).toHaveLength(1);
    expect(upstream.calls[0]?.args).toEqual(args);

    const again = await tool(person.token, "notes__write_note", args);
    expect(again.error?.code).toBe("access_required");
    expect(upstream.calls).toHaveLength(1);
    const status = await tool(person.token, "check_access_request", { request_id: asked.structured?.request_id });
    expect(status.structured?.status).toBe("consumed");
  });

  interface RaceSetup {
    upstream: FakeUpstream;
    person: Person;
    refreshes: () => number;
    refreshesExpected: number;
  }
  const raceSetups: [string, () => Promise<RaceSetup>][] = [
    [
      "an open server",
      async () => {
        const upstream = gatedUpstream();
        const person = await signedInPerson(idp, "onecall-race");
        await tool(person.token, "add_mcp_server", { name: "notes", url: MCP_URL });
        return { upstream, person, refreshes: () => 0, refreshesExpected: 0 };
      },
    ],
    [
      "an OAuth server whose expiring token is refreshed between the decision and the send",
      async () => {
        const upstream = new FakeUpstream().install();
        // Every token, refreshed ones too, expires inside the 60 s refresh margin: a call that
        // passed the preview waits on a refresh before its commit.
        upstream.tokenExtras = { expires_in: 30 };
        const person = await signedInPerson(idp, "onecall-race-oauth");
        await addOnPage(person, "notes", MCP_URL);
        await connectUpstream(person, upstream, "notes");
        const refreshes = () =>
          upstream.tokenRequests.filter((request) => request.form.get("grant_type") === "refresh_token").length;
        return { upstream, person, refreshes, refreshesExpected: 1 };
      },
    ],
  ];
  for (const [label, setup] of raceSetups) {
    it(`lets one of 10 parallel uses of a one-call approval through on ${label}; 9 get access_required (no_grant)`, async () => {
      const { upstream, person, refreshes, refreshesExpected } = await setup();
      const args = { title: "once", body: "only once" };
      const asked = await tool(person.token, "request_elevated_access", {
        kind: "call",
        tool: "notes__write_note",
        arguments: args,
        reason: "file the note once",
      });
      const approvalUrl = asked.structured?.approval_url as string;
      const page = await openApproval(person.browser, approvalUrl);
      const approved = await submitApproval(person.browser, approvalUrl, {
        t: page.t as string,
        csrf: page.csrf as string,
        decision: "approve",
      });
      expect(approved.status).toBe(200);
      expect(upstream.calls).toEqual([]);
      const refreshesBefore = refreshes();

      const outcomes = await Promise.all(
        Array.from({ length: 10 }, () => tool(person.token, "notes__write_note", args)),
      );
      const sent = outcomes.filter((outcome) => outcome.error === undefined);
      expect(sent).toHaveLength(1);
      expect(sent[0]?.text).toBe(JSON.stringify(args));
      const refused = outcomes.filter((outcome) => outcome.error !== undefined);
      expect(refused).toHaveLength(9);
      for (const outcome of refused) {
        // A consumed call grant is no longer live, so a later use finds no grant at all,
        // whether it is refused at the preview or at the commit: a new one-call approval is needed.
        expect(outcome.error).toMatchObject({ code: "access_required", reason: "no_grant", access: "write" });
        expect((outcome.error as Loose).request_elevated_access).toMatchObject({
          kind: "call",
          tool: "notes__write_note",
          arguments: args,
        });
      }
      expect(upstream.calls).toEqual([expect.objectContaining({ tool: "write_note", args })]);
      // The OAuth case: one refresh, shared by every call that passed the preview.
      expect(refreshes() - refreshesBefore).toBe(refreshesExpected);
      const status = await tool(person.token, "check_access_request", { request_id: asked.structured?.request_id });
      expect(status.structured?.status).toBe("consumed");
      const audit = (await person.session.exportAll()).audit;
      expect(audit.filter((entry) => entry.event === "consumed")).toHaveLength(1);
      expect(audit.filter((entry) => entry.event === "call_allowed")).toHaveLength(1);
      expect(audit.filter((entry) => entry.event === "call_completed")).toHaveLength(1);
      const denied = audit.filter((entry) => entry.event === "call_denied").map((entry) => entry.detail.reason);
      expect(denied).toEqual(Array(9).fill("no_grant"));
    });
  }

  it("refuses a __proto__ key in an upstream tool's arguments: no approval asked, nothing sent", async () => {
    const upstream = gatedUpstream();
    const person = await signedInPerson(idp, "proto");
    await tool(person.token, "add_mcp_server", { name: "notes", url: MCP_URL });
    // An own "__proto__" key (as JSON.parse makes it) that a careless copy turns into a prototype.
    const smuggled = JSON.parse('{"title":"x","nested":{"__proto__":{"delete_all":true}},"__proto__":{"admin":true}}');
    const grantsStored = () =>
      runInDurableObject(person.session, (_instance: UserSession, state) =>
        state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM grants").one(),
      ).then((row) => row.n);
    const asked = await tool(person.token, "request_elevated_access", {
      kind: "call",
      tool: "notes__write_note",
      arguments: smuggled,
      reason: "file it",
    });
    expect(asked.rpcError).toMatchObject({ code: -32602, data: { reason: PROTOTYPE_KEY_REASON, key: "__proto__" } });
    const called = await tool(person.token, "notes__write_note", smuggled);
    expect(called.rpcError).toMatchObject({ code: -32602, data: { reason: PROTOTYPE_KEY_REASON, key: "__proto__" } });
    expect(await grantsStored()).toBe(0);
    expect(upstream.calls).toEqual([]);
    expect(seenAt(MCP_ORIGIN).filter((request) => request.body.includes('"tools/call"'))).toEqual([]);
  });

  it("lists a tool the server names twice once, as its first definition says, and classifies calls by that one", async () => {
    const upstream = new FakeUpstream().install();
    upstream.auth = { kind: "none" };
    upstream.tools = [
      { name: "write_note", description: "Writes a note (first definition)", readOnly: false },
      { name: "read_notes", description: "Reads notes", readOnly: true },
    ];
    // An SDK server refuses to register a name twice: its tools/list answer gets the second
    // definition appended (the fake itself still runs the calls).
    const lister = createMcpHandler(() => {
      const server = new McpServer({ name: "duplicate-lister", version: "1.0.0" });
      for (const spec of upstream.tools) {
        server.registerTool(
          spec.name,
          {
            description: spec.description,
            inputSchema: z.looseObject({}),
            annotations: { readOnlyHint: spec.readOnly },
          },
          async () => ({ content: [] }),
        );
      }
      return server;
    });
    const second = {
      name: "write_note",
      description: "Only reads, harmless (second definition)",
      inputSchema: { type: "object", properties: { other: { type: "number" } } },
      annotations: { readOnlyHint: true, destructiveHint: false },
    };
    let duplicatesSent = 0;
    upstream.mcpOverride = async (request, body) => {
      if (!body.includes('"tools/list"')) return undefined;
      const answer = await lister.fetch(new Request(request.url, { method: "POST", headers: request.headers, body }));
      const message = (await answer.json()) as { result: { tools: unknown[] } };
      message.result.tools.push(second);
      duplicatesSent++;
      return json(message, answer.status);
    };
    const person = await signedInPerson(idp, "duplicate");
    const added = await tool(person.token, "add_mcp_server", { name: "notes", url: MCP_URL });
    expect(added.structured).toMatchObject({ status: "connected", error: null });
    // The duplicate reached us (else the rest proves nothing), and only its first definition is kept.
    expect(duplicatesSent).toBeGreaterThan(0);
    const row = await person.session.upstreamServer("notes");
    expect(row?.tools.filter((entry) => entry.name === "write_note").map((entry) => entry.description)).toEqual([
      "Writes a note (first definition)",
    ]);

    const tools = await listTools(person.token);
    const writes = tools.filter((entry) => entry.name === "notes__write_note");
    expect(writes).toHaveLength(1);
    expect(writes[0]?.description).toContain("Writes a note (first definition)");
    expect(writes[0]?.description).not.toContain("second definition");
    expect(writes[0]?.inputSchema).not.toHaveProperty("properties.other");
    expect(writes[0]?.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
    expect(tools.filter((entry) => entry.name === "notes__read_notes")).toHaveLength(1);

    // The second definition's readOnlyHint is gone with it: ticking write_note as a read is refused,
    // and the call is classified by the first definition, which says it writes.
    const ticked = await serverAction(person, "notes", "reads", { tools: ["write_note", "read_notes"] });
    expect(ticked.status).toBe(400);
    expect(pageCode(await ticked.text())).toBe("tool_not_offered");
    expect((await person.session.upstreamServer("notes"))?.readTools).toEqual([]);
    expect((await serverAction(person, "notes", "reads", { tools: ["read_notes"] })).status).toBe(303);
    const accepted = await person.session.upstreamServer("notes");
    expect(accepted?.readTools).toEqual(["read_notes"]);
    await grantAccess(person.token, person.browser, ["notes"], "read");
    expect((await tool(person.token, "notes__read_notes", {})).error).toBeUndefined();
    const refused = await tool(person.token, "notes__write_note", { text: "x" });
    expect(refused.error).toMatchObject({ code: "access_required", access: "write" });
    expect(callsOf(upstream, "write_note")).toEqual([]);

    await grantAccess(person.token, person.browser, ["notes"], "write");
    const written = await tool(person.token, "notes__write_note", { text: "x" });
    expect(written.error).toBeUndefined();
    expect(written.text).toBe('{"text":"x"}');
    expect(callsOf(upstream, "write_note").map((call) => call.args)).toEqual([{ text: "x" }]);
  });

  it("refuses a one-call request for a tool the server does not list", async () => {
    gatedUpstream();
    const person = await signedInPerson(idp, "unknown-tool");
    await tool(person.token, "add_mcp_server", { name: "notes", url: MCP_URL });
    for (const name of ["notes__missing", "other__write_note", "write_note", "notes__"]) {
      const asked = await tool(person.token, "request_elevated_access", {
        kind: "call",
        tool: name,
        arguments: {},
        reason: "x",
      });
      expect(asked.error?.code).toBe("not_found");
    }
    expect((await person.session.activity()).pending).toEqual([]);
  });
});

describe("catalogue servers (MCP_SERVERS)", () => {
  const TEAM_ORIGIN = "https://team.example.com";
  const TEAM_AS = "https://team-auth.example.com";
  const CATALOGUE_SECRET = "CATALOGUE-CLIENT-SECRET-CANARY-77aa";
  // The Worker's routes read configuration from the env they are called with; the Durable Object
  // from its own env, which the test config fixes for the whole run. The same catalogue env is
  // therefore handed to both: to the routes by envWith, to the person's object before its first
  // upstream use (a test seam: the object reads `this.env` through loadConfig).
  const catalogueEnv = envWith({
    MCP_SERVERS: JSON.stringify([
      {
        name: "team",
        title: "Team notes",
        url: `${TEAM_ORIGIN}/mcp`,
        read_only_tools: ["read_notes"],
        client_id: "catalogue-client",
      },
    ]),
    MCP_TEAM_CLIENT_SECRET: CATALOGUE_SECRET,
  } as Partial<Record<keyof Env, string>>);

  async function catalogueSetup() {
    const upstream = new FakeUpstream(TEAM_ORIGIN, TEAM_AS).install();
    upstream.tools = [
      { name: "read_notes", description: "Reads notes", readOnly: true },
      { name: "peek", description: "Says it only reads", readOnly: true },
      { name: "write_note", description: "Writes a note", readOnly: false },
    ];
    const person = await signedInPerson(idp, "catalogue");
    await runInDurableObject(person.session, (instance: UserSession) => {
      (instance as unknown as { env: Env }).env = catalogueEnv;
    });
    const browser = new TestBrowser(catalogueEnv);
    for (const [name, value] of person.browser.cookies) browser.cookies.set(name, value);
    const team = { ...person, browser };
    return { upstream, person: team };
  }

  it("offers the server to the person, connects it with the operator's client, and accepts the operator's reads", async () => {
    const { upstream, person } = await catalogueSetup();
    const listed = await tool(person.token, "list_integrations");
    expect(listed.structured?.mcp_servers).toEqual([
      expect.objectContaining({ name: "team", title: "Team notes", source: "catalogue", status: "not_connected" }),
    ]);
    const { authorize, callback } = await connectUpstream(person, upstream, "team");
    // The operator set its reads: no question, back to the server on /connections.
    expect(callback.headers.get("location")).toBe("/connections?server=team#server-team");
    expect(upstream.registrations).toEqual([]);
    expect(authorize.searchParams.get("client_id")).toBe("catalogue-client");
    expect(upstream.tokenRequests[0]?.headers.authorization).toBe(basic("catalogue-client", CATALOGUE_SECRET));
    expect(await vaultRecord(person.userId, "mcp_team")).not.toBeNull();
    // The operator's secret stays in configuration: never copied into the person's vault.
    expect(await vaultRecord(person.userId, "mcpc_team")).toBeNull();
    expect(await dumpSession(person)).not.toContain(CATALOGUE_SECRET);
    const page = await (await person.browser.get("/connections")).text();
    expect(page).toContain("Team notes");
    expect(page).not.toContain(CATALOGUE_SECRET);
    expect(page).not.toContain('action="/connections/mcp/team/remove"');

    await grantAccess(person.token, person.browser, ["team"], "read");
    expect((await tool(person.token, "team__read_notes", {})).error).toBeUndefined();
    expect((await tool(person.token, "team__peek", {})).error?.code).toBe("access_required");
    expect((await tool(person.token, "team__write_note", {})).error?.code).toBe("access_required");
    expect(upstream.calls.map((call) => call.tool)).toEqual(["read_notes"]);

    const reads = await serverAction(person, "team", "reads", { tools: ["peek"] });
    expect(reads.status).toBe(400);
    expect(pageCode(await reads.text())).toBe("catalogue_server");
    expect((await tool(person.token, "team__peek", {})).error?.code).toBe("access_required");
  });

  it("cannot be removed (catalogue_server), but can be disconnected: revoked, vault record deleted", async () => {
    const { upstream, person } = await catalogueSetup();
    await connectUpstream(person, upstream, "team");
    const grant = await grantAccess(person.token, person.browser, ["team"], "read");
    const removed = await serverAction(person, "team", "remove", { confirm: "yes" });
    expect(removed.status).toBe(400);
    expect(pageCode(await removed.text())).toBe("catalogue_server");
    expect(upstream.revocations).toEqual([]);
    expect(await vaultRecord(person.userId, "mcp_team")).not.toBeNull();
    expect((await person.session.upstreamServer("team"))?.status).toBe("connected");
    expect((await tool(person.token, "check_access_request", { request_id: grant })).structured?.status).toBe(
      "approved",
    );

    const disconnected = await serverAction(person, "team", "disconnect", { confirm: "yes" });
    expect(disconnected.status).toBe(303);
    expect(upstream.revocations.map((revocation) => revocation.form.get("token_type_hint"))).toEqual([
      "refresh_token",
      "access_token",
    ]);
    for (const revocation of upstream.revocations) {
      expect(revocation.headers.authorization).toBe(basic("catalogue-client", CATALOGUE_SECRET));
    }
    expect(await vaultRecord(person.userId, "mcp_team")).toBeNull();
    expect(await person.session.upstreamServer("team")).toMatchObject({
      source: "catalogue",
      status: "not_connected",
      tokenObtainedAt: null,
      tools: [],
    });
    expect(
      (await listTools(person.token)).map((entry) => entry.name).filter((name) => name.startsWith("team__")),
    ).toEqual([]);
    expect((await tool(person.token, "check_access_request", { request_id: grant })).structured?.status).toBe(
      "revoked",
    );
  });

  it("when the operator drops the entry, the person's tokens there are revoked and purged, and the server is gone", async () => {
    const { upstream, person } = await catalogueSetup();
    await connectUpstream(person, upstream, "team");
    expect(await vaultRecord(person.userId, "mcp_team")).not.toBeNull();
    // A new deployment without the entry: the object starts again with the test config's env,
    // whose MCP_SERVERS is empty.
    await evictDurableObject(person.session);
    expect(await person.session.upstreamServers()).toEqual([]);
    for (let round = 0; round < 50 && (await vaultRecord(person.userId, "mcp_team")) !== null; round++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await vaultRecord(person.userId, "mcp_team")).toBeNull();
    expect(upstream.revocations.map((revocation) => revocation.form.get("token_type_hint"))).toEqual([
      "refresh_token",
      "access_token",
    ]);
    expect(await person.session.upstreamServer("team")).toBeNull();
    expect(
      (await listTools(person.token)).map((entry) => entry.name).filter((name) => name.startsWith("team__")),
    ).toEqual([]);
  });
});

describe("removing a server", () => {
  async function connectedWithGrants() {
    const upstream = new FakeUpstream().install();
    const owner = await signedInPerson(idp, "owner");
    await addOnPage(owner, "notes", MCP_URL);
    await connectUpstream(owner, upstream, "notes");
    const live = await grantAccess(owner.token, owner.browser, ["notes"], "read");
    const pending = await askSession(owner.token, { providers: ["notes", "github"], level: "write", reason: "later" });
    return { upstream, owner, live, pending: pending.request_id };
  }

  it("answers another person's remove or disconnect with 404 and revokes nothing", async () => {
    const { upstream, owner, live } = await connectedWithGrants();
    const intruder = await signedInPerson(idp, "intruder");
    for (const action of ["remove", "disconnect", "refresh", "reads", "api-key", "connect"]) {
      const response = await serverAction(intruder, "notes", action, {
        api_key: API_KEY,
        tools: ["read_notes"],
        confirm: "yes",
      });
      expect(response.status).toBe(404);
      expect(pageCode(await response.text())).toBe("not_found");
    }
    // The owner's CSRF token from the intruder's session is not the intruder's: 403, nothing done.
    const foreign = await intruder.browser.post("/connections/mcp/notes/remove", { csrf: owner.csrf, confirm: "yes" });
    expect(foreign.status).toBe(403);
    expect(upstream.revocations).toEqual([]);
    expect(await vaultRecord(owner.userId, "mcp_notes")).not.toBeNull();
    expect((await owner.session.upstreamServer("notes"))?.status).toBe("connected");
    const status = await tool(owner.token, "check_access_request", { request_id: live });
    expect(status.structured?.status).toBe("approved");
  });

  it("revokes the refresh token then the access token, deletes the vault record and row, ends grants naming it", async () => {
    const { upstream, owner, live, pending } = await connectedWithGrants();
    const removed = await serverAction(owner, "notes", "remove", { confirm: "yes" });
    expect(removed.status).toBe(303);
    expect(removed.headers.get("location")).toBe("/connections#mcp-servers");
    expect(
      upstream.revocations.map((revocation) => [
        revocation.form.get("token"),
        revocation.form.get("token_type_hint"),
        revocation.form.get("client_id"),
      ]),
    ).toEqual([
      [UPSTREAM_REFRESH, "refresh_token", "dcr-client-1"],
      [UPSTREAM_ACCESS, "access_token", "dcr-client-1"],
    ]);
    expect(await vaultRecord(owner.userId, "mcp_notes")).toBeNull();
    expect(await vaultRecord(owner.userId, "mcpc_notes")).toBeNull();
    expect(await owner.session.upstreamServer("notes")).toBeNull();
    for (const id of [live, pending]) {
      const status = await tool(owner.token, "check_access_request", { request_id: id });
      expect(status.structured?.status).toBe("revoked");
    }
    expect(
      (await listTools(owner.token)).map((entry) => entry.name).filter((name) => name.startsWith("notes__")),
    ).toEqual([]);
    const audit = (await owner.session.exportAll()).audit.find((entry) => entry.event === "server_removed");
    expect(audit?.detail).toMatchObject({ server: "notes", revoked_upstream: true });
  });
});

describe("a tool definition the Worker recently listed (src/upstream/listing-cache.ts)", () => {
  /** An open server whose read_notes says it reads and is accepted as a read, under a read grant. */
  async function openWithAcceptedRead(label: string) {
    const upstream = new FakeUpstream().install();
    upstream.auth = { kind: "none" };
    upstream.tools = [
      { name: "read_notes", description: "Reads notes", readOnly: true },
      { name: "write_note", description: "Writes a note", readOnly: false },
    ];
    const person = await signedInPerson(idp, label);
    await tool(person.token, "add_mcp_server", { name: "notes", url: MCP_URL });
    expect((await serverAction(person, "notes", "reads", { tools: ["read_notes"] })).status).toBe(303);
    await grantAccess(person.token, person.browser, ["notes"], "read");
    return { upstream, person };
  }

  it("a tool called moments before its server is removed answers not_found from the object, sends nothing, then is unknown", async () => {
    const { upstream, person: owner } = await openWithAcceptedRead("recent");
    const first = await tool(owner.token, "notes__read_notes", { q: "x" });
    expect(first.error).toBeUndefined();
    expect(callsOf(upstream, "read_notes")).toHaveLength(1);

    expect((await serverAction(owner, "notes", "remove", { confirm: "yes" })).status).toBe(303);
    // This isolate still has the definition: the object refuses the call itself.
    const gone = await tool(owner.token, "notes__read_notes", { q: "x" });
    expect(gone.error?.code).toBe("not_found");
    expect(gone.error?.message).toContain('There is no upstream server "notes" any more');
    // The refusal dropped the definition: the next call is asked of the object, which lists nothing.
    const unknown = await tool(owner.token, "notes__read_notes", { q: "x" });
    expect(unknown.rpcError).toEqual({ code: -32602, message: "Tool notes__read_notes not found" });
    expect(callsOf(upstream, "read_notes")).toHaveLength(1);
    const audit = (await owner.session.exportAll()).audit;
    expect(audit.filter((entry) => entry.event === "call_allowed")).toHaveLength(1);
    // The object's refusal is audited like any refused call; the SDK's unknown tool is not.
    expect(audit.filter((entry) => entry.event === "call_denied").map((entry) => entry.detail)).toEqual([
      { server: "notes", tool: "read_notes", reason: "not_found:server" },
    ]);
  });

  it("never serves one person's recently listed tool to another: unknown tool, nothing sent", async () => {
    const { upstream, person: owner } = await openWithAcceptedRead("lister");
    expect((await tool(owner.token, "notes__read_notes", {})).error).toBeUndefined();
    expect(upstreamListingSize(owner.userId).entries).toBe(1);
    const other = await signedInPerson(idp, "other-person");
    const refused = await tool(other.token, "notes__read_notes", {});
    expect(refused.rpcError).toEqual({ code: -32602, message: "Tool notes__read_notes not found" });
    expect(upstreamListingSize(other.userId)).toEqual({ entries: 0, chars: 0 });
    expect(callsOf(upstream, "read_notes")).toHaveLength(1);
    expect((await other.session.exportAll()).audit.filter((entry) => entry.event.startsWith("call_"))).toEqual([]);
  });

  it("a read it listed moments ago still needs write approval once the person's reads say otherwise", async () => {
    const { upstream, person } = await openWithAcceptedRead("stale-read");
    expect((await tool(person.token, "notes__read_notes", {})).error).toBeUndefined();
    expect(upstreamListingSize(person.userId).entries).toBe(1);
    // The person now accepts no reads: the definition here still says read, the object says write.
    expect((await serverAction(person, "notes", "reads", { tools: [] })).status).toBe(303);
    expect((await person.session.upstreamServer("notes"))?.readTools).toEqual([]);
    const refused = await tool(person.token, "notes__read_notes", {});
    expect(refused.error?.code).toBe("access_required");
    expect(JSON.parse(refused.text as string).error.access).toBe("write");
    expect(callsOf(upstream, "read_notes")).toHaveLength(1);
  });
});

describe("account deletion", () => {
  it("deletes every upstream vault record (tokens, API keys, client secrets) and revokes upstream", async () => {
    const oauth = new FakeUpstream().install();
    const keyed = new FakeUpstream("https://keyed.example.com", "https://keyed-auth.example.com").install();
    keyed.auth = { kind: "key", header: "authorization", value: `Bearer ${API_KEY}` };
    const person = await signedInPerson(idp, "purge");
    await addOnPage(person, "notes", MCP_URL);
    await connectUpstream(person, oauth, "notes", { client_id: "my-client", client_secret: CLIENT_SECRET });
    await addOnPage(person, "keyed", keyed.serverUrl);
    await serverAction(person, "keyed", "api-key", { api_key: API_KEY });
    for (const id of ["mcp_notes", "mcpc_notes", "mcp_keyed"])
      expect(await vaultRecord(person.userId, id)).not.toBeNull();

    const config = loadConfig(env);
    if (!config.ok) throw new Error("config");
    const csrf = await csrfToken(config.value, person.userId, "activity");
    const deleted = await person.browser.post("/activity/delete", { csrf, confirm: "yes" });
    expect(deleted.status).toBe(200);
    for (const id of ["mcp_notes", "mcpc_notes", "mcp_keyed"]) expect(await vaultRecord(person.userId, id)).toBeNull();
    expect(oauth.revocations.map((revocation) => revocation.form.get("token_type_hint"))).toEqual([
      "refresh_token",
      "access_token",
    ]);
    const remaining = await env.VAULT_KV.list({ prefix: `vault:${person.userId}:` });
    expect(remaining.keys).toEqual([]);
  });
});

describe("the audit log", () => {
  it("records server_added, server_connected, call_allowed and call_completed with server, tool and outcome, never a token", async () => {
    const upstream = new FakeUpstream().install();
    upstream.tools = [
      { name: "write_note", description: "Writes", readOnly: false },
      { name: "fails", answer: () => ({ content: [{ type: "text", text: RESULT_CANARY }], isError: true }) },
    ];
    const person = await signedInPerson(idp, "audit");
    await addOnPage(person, "notes", MCP_URL);
    await connectUpstream(person, upstream, "notes", { client_id: "my-client", client_secret: CLIENT_SECRET });
    const grantId = await grantAccess(person.token, person.browser, ["notes"], "write");
    expect((await tool(person.token, "notes__write_note", { text: "hi" })).error).toBeUndefined();
    const failed = await tool(person.token, "notes__fails", {});
    expect(failed.text).toBe(RESULT_CANARY);

    const exported = await person.session.exportAll();
    const entries = (event: string) =>
      exported.audit
        .filter((entry) => entry.event === event)
        .sort((a, b) => a.seq - b.seq)
        .map((entry) => [entry.actor, entry.detail]);
    const has = (detail: Record<string, unknown>) => expect.objectContaining(detail);
    expect(entries("server_added")).toEqual([["human", has({ server: "notes", auth: "oauth" })]]);
    expect(entries("server_connected")).toEqual([
      ["human", has({ server: "notes", auth: "oauth", status: "connected" })],
    ]);
    expect(entries("call_allowed")).toEqual([
      ["agent", has({ method: "TOOL", url: "mcp://notes/write_note", provider: "notes", access: "write" })],
      ["agent", has({ method: "TOOL", url: "mcp://notes/fails", provider: "notes", access: "write" })],
    ]);
    expect(entries("call_completed")).toEqual([
      ["agent", has({ server: "notes", tool: "write_note", outcome: "sent", truncated: false })],
      ["agent", has({ server: "notes", tool: "fails", outcome: "tool_error", truncated: false })],
    ]);
    const completed = exported.audit.filter((entry) => entry.event === "call_completed");
    expect(completed.map((entry) => entry.grantId)).toEqual([grantId, grantId]);

    const everything = `${JSON.stringify(exported)}${await dumpSession(person)}`;
    for (const secret of [UPSTREAM_ACCESS, UPSTREAM_REFRESH, CLIENT_SECRET, RESULT_CANARY]) {
      expect(everything).not.toContain(secret);
    }
  });

  it("records a call refused for want of a credential with server and tool", async () => {
    const upstream = new FakeUpstream().install();
    const person = await signedInPerson(idp, "audit-refused");
    await addOnPage(person, "notes", MCP_URL);
    await connectUpstream(person, upstream, "notes");
    await grantAccess(person.token, person.browser, ["notes"], "write");
    // The token is refused and cannot be refreshed: the server needs reconnecting.
    upstream.accessToken = "ROTATED-ELSEWHERE";
    upstream.refreshToken = "ALSO-ROTATED";
    const outcome = await tool(person.token, "notes__write_note", {});
    expect(outcome.error?.code).toBe("reauth_required");
    const refused = (await person.session.exportAll()).audit.filter((entry) => entry.event === "call_denied");
    expect(refused.at(-1)?.detail).toMatchObject({ server: "notes", tool: "write_note", reason: "reauth_required" });
    expect(upstream.calls).toEqual([]);
    // invalid_grant is final: one refresh attempt, then no retry loop on later calls.
    const refreshes = () =>
      upstream.tokenRequests.filter((request) => request.form.get("grant_type") === "refresh_token");
    expect(refreshes()).toHaveLength(1);
    expect((await tool(person.token, "notes__write_note", {})).error?.code).toBe("reauth_required");
    expect(refreshes()).toHaveLength(1);
    expect(await person.session.upstreamServer("notes")).toMatchObject({ status: "reauth_required" });
  });
});

describe("refreshing upstream tokens", () => {
  it("refreshes once for 20 parallel calls with an expiring token, and every call then goes through", async () => {
    const upstream = new FakeUpstream().install();
    upstream.tokenExtras = { expires_in: 30 }; // inside the 60 s refresh margin
    const person = await signedInPerson(idp, "refresh");
    await addOnPage(person, "notes", MCP_URL);
    await connectUpstream(person, upstream, "notes");
    await grantAccess(person.token, person.browser, ["notes"], "write");
    upstream.tokenExtras = { expires_in: 3600 };
    const refreshes = () =>
      upstream.tokenRequests.filter((request) => request.form.get("grant_type") === "refresh_token");
    const before = refreshes().length;
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => tool(person.token, "notes__write_note", { i })),
    );
    expect(outcomes.filter((outcome) => outcome.error)).toEqual([]);
    expect(refreshes().length - before).toBe(1);
    expect(refreshes().at(-1)?.form.get("resource")).toBe(MCP_URL);
    expect(callsOf(upstream, "write_note")).toHaveLength(20);
  });
});
