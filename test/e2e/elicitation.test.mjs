// URL-mode elicitation end to end (issue 14 part 1): a real `wrangler dev`, real SDK clients
// that declare `elicitation: { url: {} }`, and the person deciding in headless Chromium at phone
// size. The v2 client pinned to 2026-07-28 gets the approval link through its elicitation
// handler and the same callTool resolves with the demo notes; the v1 client (2025-11-25) gets
// -32042 with the link and its retry of the same call resolves; an upstream MCP tool works the
// same way. A denial comes back with the person's note, another person opening the link sees
// only "Request not found", and a client without the capability keeps today's access_required.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as v2 from "@modelcontextprotocol/client";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { decideByFetch, signedInBrowser, structured, toolErrorBody } from "./lib/approval.mjs";
import { connectionsForm, saveApiKey } from "./lib/connections.mjs";
import { startFixture } from "./lib/fixture.mjs";
import { openLinkAndSignIn, submitWith } from "./lib/phone-page.mjs";
import { connectClient, SDKS } from "./lib/sdk-connect.mjs";
import { connectOnPage } from "./lib/upstream-flow.mjs";
import { startUpstreamMcp } from "./lib/upstream-mcp.mjs";

const EMAIL = "eli.elicit@example.com";
const STRANGER = "sam.stranger@example.com";
const STEP = { timeout: 120_000 };
const HOOK = { timeout: 180_000 };
const CAPABILITIES = { elicitation: { url: {} } };
const [V1, V2] = SDKS;

/** The SDKs as the tests drive them, declaring URL-mode elicitation (v2 pinned to 2026-07-28). */
const V2_URL = {
  ...V2,
  newClient: () =>
    new v2.Client(
      { name: "e2e-elicit-v2", version: "1.0.0" },
      { capabilities: CAPABILITIES, versionNegotiation: { mode: { pin: "2026-07-28" } } },
    ),
};
const V1_URL = {
  ...V1,
  newClient: () => new V1Client({ name: "e2e-elicit-v1", version: "1.0.0" }, { capabilities: CAPABILITIES }),
};
const V2_PLAIN = {
  ...V2,
  newClient: () =>
    new v2.Client({ name: "e2e-plain-v2", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } }),
};

describe("URL-mode elicitation with real SDK clients", { timeout: 600_000 }, () => {
  /** @type {import("./lib/fixture.mjs").Fixture} */
  let fixture;
  /** @type {import("./lib/fixture.mjs").DevServer} */
  let server;
  /** @type {import("./lib/upstream-mcp.mjs").UpstreamMcp} */
  let upstream;
  /** @type {import("./lib/browser-flow.mjs").BrowserSession} */
  let owner;
  const notesUrl = () => `${server.origin}/demo-api/notes`;

  before(async () => {
    upstream = await startUpstreamMcp();
    fixture = await startFixture({ label: "elicitation", chromium: true, vars: { UPSTREAM_DEV_LOOPBACK: "enabled" } });
    server = fixture.server;
    owner = await signedInBrowser(server.origin, EMAIL);
    const { prefilled } = await connectionsForm(owner, "demo", "api-key");
    const saved = await saveApiKey(owner, "demo", prefilled);
    assert.equal(saved.status, 303, "the demo provider is connected");
  }, HOOK);

  after(async () => {
    await fixture?.stop();
    await upstream?.close();
  });

  /** The person opens the link on their phone, signs in and presses `button`. */
  async function decideOnPhone(url, button, screenshot) {
    const { context, page, pageErrors } = await fixture.openPhone();
    try {
      const response = await openLinkAndSignIn(page, url, EMAIL);
      assert.equal(response.status(), 200);
      await submitWith(page, button);
      if (screenshot) await fixture.screenshot(page, screenshot);
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  }

  test(
    "v2 on 2026-07-28: the handler gets the link, the person approves, the same callTool returns the notes",
    STEP,
    async () => {
      const mcp = await connectClient(V2_URL, server, { email: EMAIL, clientName: "E2E elicit v2" });
      try {
        const links = [];
        mcp.client.setRequestHandler("elicitation/create", async (request) => {
          assert.equal(request.params.mode, "url");
          links.push(request.params.url);
          await decideOnPhone(request.params.url, "Approve", "elicitation-v2-approved");
          return { action: "accept" };
        });
        const got = structured(await mcp.call("call_integration_api", { method: "GET", url: notesUrl() }), "GET notes");
        assert.equal(got.status, 200);
        assert.equal(got.provider, "demo");
        assert.ok(
          got.body.notes.some((note) => note.id === "n1"),
          JSON.stringify(got.body),
        );
        assert.equal(links.length, 1);
        assert.match(links[0], new RegExp(`^${server.origin}/approve/req_[\\w-]{22}\\?t=[\\w-]{43}$`));
      } finally {
        await mcp.client.close().catch(() => {});
      }
    },
  );

  test(
    "v1 on 2025-11-25: -32042 carries the link; after approval the retry of the same call returns the notes",
    STEP,
    async () => {
      const mcp = await connectClient(V1_URL, server, { email: EMAIL, clientName: "E2E elicit v1" });
      try {
        const args = { method: "GET", url: notesUrl() };
        const error = await mcp.call("call_integration_api", args).then(
          (result) => assert.fail(`expected -32042, got ${JSON.stringify(result).slice(0, 300)}`),
          (thrown) => thrown,
        );
        assert.equal(error.code, -32042);
        const [elicitation] = error.elicitations ?? error.data.elicitations;
        assert.equal(elicitation.mode, "url");
        assert.match(elicitation.elicitationId, /^req_/);
        await decideOnPhone(elicitation.url, "Approve", "elicitation-v1-approved");
        const got = structured(await mcp.call("call_integration_api", args), "GET notes, retried");
        assert.equal(got.status, 200);
        assert.ok(got.body.notes.some((note) => note.id === "n1"));
      } finally {
        await mcp.client.close().catch(() => {});
      }
    },
  );

  test("v2: an upstream MCP tool call is elicited, approved and answered the same way", STEP, async () => {
    const mcp = await connectClient(V2_URL, server, { email: EMAIL, clientName: "E2E elicit upstream" });
    try {
      structured(await mcp.call("add_mcp_server", { name: "tracker", url: upstream.mcpUrl }), "add_mcp_server");
      const flow = await connectOnPage(owner, "tracker");
      assert.equal(flow.finished.status, 303);
      let elicited = 0;
      mcp.client.setRequestHandler("elicitation/create", async (request) => {
        elicited++;
        await decideOnPhone(request.params.url, "Approve");
        return { action: "accept" };
      });
      await mcp.client.listTools();
      const result = await mcp.call("tracker__search_issues", { query: "login" });
      assert.notEqual(result.isError, true, JSON.stringify(result).slice(0, 300));
      assert.equal(elicited, 1);
      assert.equal(upstream.stats().toolCalls.filter((call) => call.name === "search_issues").length, 1);
    } finally {
      await mcp.client.close().catch(() => {});
    }
  });

  test(
    "a denial comes back with the note; another person opening the link sees only 'Request not found'",
    STEP,
    async () => {
      const mcp = await connectClient(V2_URL, server, { email: EMAIL, clientName: "E2E elicit deny" });
      try {
        mcp.client.setRequestHandler("elicitation/create", async (request) => {
          const stranger = await fixture.openPhone();
          try {
            const response = await openLinkAndSignIn(stranger.page, request.params.url, STRANGER);
            assert.equal(response.status(), 404);
            assert.equal(await stranger.page.locator("h1").textContent(), "Request not found");
            assert.equal(await stranger.page.locator("form[action^='/approve/']").count(), 0);
          } finally {
            await stranger.context.close();
          }
          const decided = await decideByFetch(owner, request.params.url, { decision: "deny", note: "not the notes" });
          assert.equal(decided.status, 200);
          return { action: "accept" };
        });
        const body = toolErrorBody(
          await mcp.call("call_integration_api", { method: "POST", url: notesUrl(), body: '{"title":"x"}' }),
        );
        assert.equal(body.error.code, "access_denied");
        assert.equal(body.error.note, "not the notes");
      } finally {
        await mcp.client.close().catch(() => {});
      }
    },
  );

  test("a client without the capability keeps today's access_required", STEP, async () => {
    const mcp = await connectClient(V2_PLAIN, server, { email: EMAIL, clientName: "E2E plain v2" });
    try {
      const body = toolErrorBody(await mcp.call("call_integration_api", { method: "GET", url: notesUrl() }));
      assert.equal(body.error.code, "access_required");
      assert.deepEqual(body.error.request_elevated_access.providers, ["demo"]);
    } finally {
      await mcp.client.close().catch(() => {});
    }
  });
});
