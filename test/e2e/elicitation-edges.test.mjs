// URL-mode elicitation end to end, the edges and request_elevated_access (issue 14 part 1): a
// real `wrangler dev` whose requests stay pending DEV_REQUEST_TTL_SECONDS (so a request expires
// in seconds, not ten minutes), real SDK clients declaring `elicitation: { url: {} }`, and the
// person deciding in headless Chromium at phone size. A request that lapses undecided ends the
// same callTool with `expired`; a retry whose request state was tampered with, or that carries
// other arguments, is refused with `request_state_invalid` (`mac`, `other_call`); each asserts,
// through the person's /activity export, that nothing was sent and nothing approved.
// request_elevated_access offered to such a client returns the person's decision itself, on
// 2026-07-28 (v2) and on 2025-11-25 (v1, after -32042).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as v2 from "@modelcontextprotocol/client";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { decideByFetch, signedInBrowser, structured, toolErrorBody } from "./lib/approval.mjs";
import { connectionsForm, saveApiKey } from "./lib/connections.mjs";
import { startFixture } from "./lib/fixture.mjs";
import { openLinkAndSignIn, submitWith } from "./lib/phone-page.mjs";
import { connectClient, SDKS } from "./lib/sdk-connect.mjs";

const EMAIL = "edna.edges@example.com";
/** How long a request stays pending on this server: one hold of a retry, with room to decide. */
const REQUEST_TTL_SECONDS = 30;
const STEP = { timeout: 120_000 };
const HOOK = { timeout: 180_000 };
const LONG = { timeout: 110_000 };
const CAPABILITIES = { elicitation: { url: {} } };
const ASK = { kind: "broad", level: "read", providers: ["demo"], reason: "Read the notes for the summary" };
const [V1, V2] = SDKS;

/**
 * The v2 SDK pinned to 2026-07-28 and declaring URL mode; `rewrite` may change a retry's params
 * (the ones that carry a requestState) before they leave, as an attacker on the client's wire.
 * @param {(params: any) => void} [rewrite]
 */
const v2Url = (rewrite) => ({
  ...V2,
  newClient: () =>
    new v2.Client(
      { name: "e2e-edges-v2", version: "1.0.0" },
      { capabilities: CAPABILITIES, versionNegotiation: { mode: { pin: "2026-07-28" } } },
    ),
  newTransport: (url, authProvider) =>
    new v2.StreamableHTTPClientTransport(url, {
      authProvider,
      fetch: async (input, init) => {
        if (!rewrite || typeof init?.body !== "string" || !init.body.startsWith("{")) return fetch(input, init);
        const message = JSON.parse(init.body);
        if (message.method === "tools/call" && message.params?.requestState) rewrite(message.params);
        return fetch(input, { ...init, body: JSON.stringify(message) });
      },
    }),
});
const V1_URL = {
  ...V1,
  newClient: () => new V1Client({ name: "e2e-edges-v1", version: "1.0.0" }, { capabilities: CAPABILITIES }),
};

describe("URL-mode elicitation: expiry, refused retries, request_elevated_access", { timeout: 600_000 }, () => {
  /** @type {import("./lib/fixture.mjs").Fixture} */
  let fixture;
  /** @type {import("./lib/fixture.mjs").DevServer} */
  let server;
  /** @type {import("./lib/browser-flow.mjs").BrowserSession} */
  let owner;
  const notesUrl = () => `${server.origin}/demo-api/notes`;
  const exported = async () => (await owner.get("/activity/export.json")).json();
  /** What the export says of one request, and how many calls were ever let through. */
  const facts = async (requestId) => {
    const data = await exported();
    return {
      status: data.grants.find((grant) => grant.id === requestId)?.status,
      allowed: data.audit.filter((entry) => entry.event === "call_allowed").length,
    };
  };

  before(async () => {
    fixture = await startFixture({
      label: "elicitation-edges",
      chromium: true,
      vars: { DEV_REQUEST_TTL_SECONDS: String(REQUEST_TTL_SECONDS) },
    });
    server = fixture.server;
    owner = await signedInBrowser(server.origin, EMAIL);
    const { prefilled } = await connectionsForm(owner, "demo", "api-key");
    assert.equal((await saveApiKey(owner, "demo", prefilled)).status, 303, "the demo provider is connected");
  }, HOOK);

  after(async () => {
    await fixture?.stop();
  });

  const idOf = (url) => /\/approve\/(req_[\w-]{22})\?/.exec(url)?.[1];

  test("a request nobody decides ends the same callTool with expired; nothing sent or approved", STEP, async () => {
    const mcp = await connectClient(v2Url(), server, { email: EMAIL, clientName: "E2E edges expiry" });
    try {
      const before = (await facts()).allowed;
      const links = [];
      // The client opened the link ("accept"), and the person never decides.
      mcp.client.setRequestHandler("elicitation/create", async (request) => {
        links.push(request.params.url);
        return { action: "accept" };
      });
      const body = toolErrorBody(await mcp.call("call_integration_api", { method: "GET", url: notesUrl() }, LONG));
      assert.equal(body.error.code, "expired");
      assert.equal(links.length, 1);
      assert.equal(body.error.request_id, idOf(links[0]));
      const after = await facts(idOf(links[0]));
      assert.notEqual(after.status, "approved");
      assert.equal(after.allowed, before, "no call was let through");
    } finally {
      await mcp.client.close().catch(() => {});
    }
  });

  /**
   * One elicited call whose retry `rewrite` changes; the person approves before the retry.
   * @param {string} clientName @param {(params: any) => void} rewrite @param {object} args
   */
  async function tamperedCall(clientName, rewrite, args) {
    const mcp = await connectClient(v2Url(rewrite), server, { email: EMAIL, clientName });
    try {
      const before = (await facts()).allowed;
      const links = [];
      mcp.client.setRequestHandler("elicitation/create", async (request) => {
        links.push(request.params.url);
        const decided = await decideByFetch(owner, request.params.url, { decision: "approve" });
        assert.equal(decided.status, 200);
        return { action: "accept" };
      });
      const body = toolErrorBody(await mcp.call("call_integration_api", args));
      assert.equal(links.length, 1);
      return { body, before, after: await facts(idOf(links[0])) };
    } finally {
      await mcp.client.close().catch(() => {});
    }
  }

  test("a retry with a tampered request state is refused (mac); nothing sent", STEP, async () => {
    const flip = (state) => state.slice(0, -2) + (state.endsWith("AA") ? "BB" : "AA");
    const { body, before, after } = await tamperedCall(
      "E2E edges tampered",
      (params) => Object.assign(params, { requestState: flip(params.requestState) }),
      { method: "POST", url: notesUrl(), body: '{"title":"tampered"}' },
    );
    assert.equal(body.error.code, "request_state_invalid");
    assert.equal(body.error.reason, "mac");
    assert.equal(after.allowed, before, "no call was let through");
    assert.equal(after.status, "approved", "the approval stays unused, for that exact call only");
  });

  test("a retry with other arguments never uses the approval (other_call); nothing sent", STEP, async () => {
    const { body, before, after } = await tamperedCall(
      "E2E edges other call",
      (params) => Object.assign(params, { arguments: { ...params.arguments, body: '{"title":"another"}' } }),
      { method: "POST", url: notesUrl(), body: '{"title":"approved one"}' },
    );
    assert.equal(body.error.code, "request_state_invalid");
    assert.equal(body.error.reason, "other_call");
    assert.equal(after.allowed, before, "no call was let through");
    assert.equal(after.status, "approved", "the approval stays unused, for the approved call only");
  });

  test("v2: request_elevated_access returns the approval itself once the person approves", STEP, async () => {
    const mcp = await connectClient(v2Url(), server, { email: EMAIL, clientName: "E2E edges ask v2" });
    try {
      const links = [];
      mcp.client.setRequestHandler("elicitation/create", async (request) => {
        assert.equal(request.params.mode, "url");
        assert.match(request.params.message, /read access to demo/);
        links.push(request.params.url);
        const { context, page, pageErrors } = await fixture.openPhone();
        try {
          assert.equal((await openLinkAndSignIn(page, request.params.url, EMAIL)).status(), 200);
          await submitWith(page, "Approve");
          await fixture.screenshot(page, "elicitation-ask-approved");
          assert.deepEqual(pageErrors, []);
        } finally {
          await context.close();
        }
        return { action: "accept" };
      });
      const out = structured(await mcp.call("request_elevated_access", ASK), "request_elevated_access");
      assert.equal(links.length, 1);
      assert.equal(out.request_id, idOf(links[0]));
      assert.equal(out.status, "approved");
      assert.equal(out.decision.status, "approved");
      assert.deepEqual(out.decision.providers, ["demo"]);
      // The approval is real: the same connection now reads the notes with no prompt.
      mcp.client.setRequestHandler("elicitation/create", async () => assert.fail("no prompt once approved"));
      const got = structured(await mcp.call("call_integration_api", { method: "GET", url: notesUrl() }), "GET notes");
      assert.equal(got.grant_id, out.request_id);
    } finally {
      await mcp.client.close().catch(() => {});
    }
  });

  test("v1: request_elevated_access answers -32042, and the retry returns the denial with the note", STEP, async () => {
    const mcp = await connectClient(V1_URL, server, { email: EMAIL, clientName: "E2E edges ask v1" });
    try {
      const error = await mcp.call("request_elevated_access", ASK).then(
        (result) => assert.fail(`expected -32042, got ${JSON.stringify(result).slice(0, 300)}`),
        (thrown) => thrown,
      );
      assert.equal(error.code, -32042);
      const [elicitation] = error.elicitations ?? error.data.elicitations;
      assert.equal(elicitation.elicitationId, idOf(elicitation.url));
      const decided = await decideByFetch(owner, elicitation.url, { decision: "deny", note: "not this week" });
      assert.equal(decided.status, 200);
      const out = structured(await mcp.call("request_elevated_access", ASK), "request_elevated_access, retried");
      assert.equal(out.request_id, elicitation.elicitationId);
      assert.equal(out.status, "denied");
      assert.equal(out.decision.note, "not this week");
    } finally {
      await mcp.client.close().catch(() => {});
    }
  });
});
