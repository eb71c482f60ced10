// An upstream MCP server that only speaks the deprecated HTTP+SSE transport
// (test/e2e/lib/legacy-sse-mcp.mjs, no auth, on 127.0.0.1) behind a real `wrangler dev`, driven by
// a real v2 MCP client: the assistant adds it, Countersign falls back from Streamable HTTP to SSE
// (MCP 2025-03-26 "Backwards Compatibility"), its tools appear namespaced and run under grants,
// and no event stream is left open after a call.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { decideByFetch, signedInBrowser, structured, toolErrorBody } from "./lib/approval.mjs";
import { startDevServer } from "./lib/fixture.mjs";
import { startLegacySseMcp } from "./lib/legacy-sse-mcp.mjs";
import { connectV2Client } from "./lib/sdk-connect.mjs";
import { askAndApprove, eventually, recorded, resultText, serverPath, submitMcpForm } from "./lib/upstream-flow.mjs";

const STEP = { timeout: 60_000 };
const HOOK = { timeout: 120_000 };
const EMAIL = "lena.legacy@example.com";
const NAME = "oldsrv";

/** @type {import("./lib/legacy-sse-mcp.mjs").LegacySseMcp} */
let legacy;
/** @type {import("./lib/fixture.mjs").DevServer} */
let server;

before(async () => {
  legacy = await startLegacySseMcp();
  server = await startDevServer({ label: "upstream-legacy-sse", vars: { UPSTREAM_DEV_LOOPBACK: "enabled" } });
}, HOOK);

after(async () => {
  await server?.stop();
  await legacy?.close();
});

const callsOf = (/** @type {string} */ name) => legacy.stats().toolCalls.filter((call) => call.name === name);
const streamsClosed = () => eventually(() => legacy.stats().openStreams === 0);

describe("a legacy HTTP+SSE upstream MCP server behind Countersign", { timeout: 240_000 }, () => {
  /** @type {Awaited<ReturnType<typeof connectV2Client>>} */
  let mcp;
  /** @type {ReturnType<typeof recorded>} */
  let tools;
  /** @type {import("./lib/browser-flow.mjs").BrowserSession} */
  let owner;

  before(async () => {
    mcp = await connectV2Client(server, { email: EMAIL, clientName: "E2E legacy SSE client" });
    tools = recorded(mcp);
    owner = await signedInBrowser(server.origin, EMAIL);
  }, HOOK);

  after(async () => {
    await mcp?.client.close().catch(() => {});
  });

  const echo = (text = "hello") => tools.call(`${NAME}__legacy_echo`, { text });

  test("the assistant adds it: connected over SSE after Streamable HTTP is refused", STEP, async () => {
    const added = structured(await tools.call("add_mcp_server", { name: NAME, url: legacy.sseUrl }), "add_mcp_server");
    assert.equal(added.status, "connected", JSON.stringify(added));
    assert.equal(added.auth, "none");
    assert.equal(added.error, null);
    assert.equal(added.tools, 2);

    const stats = legacy.stats();
    assert.ok(stats.postsRejected >= 1, "Streamable HTTP was tried first (POST /sse got 405)");
    assert.ok(stats.connectionsOpened >= 1, "then an event stream was opened");
    assert.equal(stats.toolCalls.length, 0, "listing calls no tool");
    assert.ok(await streamsClosed(), `the listing left ${legacy.stats().openStreams} stream(s) open`);

    const list = structured(await tools.call("list_integrations"), "list_integrations");
    const oldsrv = list.mcp_servers.find((entry) => entry.name === NAME);
    assert.equal(oldsrv?.status, "connected");
    assert.equal(oldsrv?.tools, 2);

    const listed = await tools.listTools();
    const names = listed.map((tool) => tool.name);
    assert.ok(names.includes(`${NAME}__legacy_echo`), names.join(", "));
    assert.ok(names.includes(`${NAME}__legacy_write`), names.join(", "));
    assert.equal(listed.find((tool) => tool.name === `${NAME}__legacy_echo`)?.annotations?.readOnlyHint, false);
  });

  test("without an accepted read and a grant, the echo is refused and reaches nothing", STEP, async () => {
    const unaccepted = toolErrorBody(await echo());
    assert.equal(unaccepted.error.code, "access_required");
    assert.equal(unaccepted.error.access, "write", "readOnlyHint alone does not make it a read");

    const saved = await submitMcpForm(owner, serverPath(NAME, "reads"), { tools: ["legacy_echo"] });
    await saved.arrayBuffer();
    assert.equal(saved.status, 303);
    const listed = await tools.listTools();
    assert.equal(listed.find((tool) => tool.name === `${NAME}__legacy_echo`)?.annotations?.readOnlyHint, true);

    const denied = toolErrorBody(await echo());
    assert.equal(denied.error.code, "access_required");
    assert.equal(denied.error.access, "read");
    assert.deepEqual(denied.error.request_elevated_access.providers, [NAME]);
    assert.equal(legacy.stats().toolCalls.length, 0);
  });

  test("under a read grant the echo works over SSE and no stream stays open", STEP, async () => {
    await askAndApprove(tools.call, owner, { kind: "broad", level: "read", providers: [NAME], reason: "Echo" });
    const opened = legacy.stats().connectionsOpened;
    const answer = await echo("over the old transport");
    assert.notEqual(answer.isError, true, JSON.stringify(answer));
    assert.equal(resultText(answer), "echo: over the old transport");
    assert.deepEqual(
      callsOf("legacy_echo").map((call) => call.args),
      [{ text: "over the old transport" }],
    );
    assert.ok(legacy.stats().connectionsOpened > opened, "the call opened its own stream");
    assert.ok(await streamsClosed(), `${legacy.stats().openStreams} stream(s) left open after the call`);
  });

  test("legacy_write needs a write approval; one approved call runs once", STEP, async () => {
    const args = { text: "a note" };
    const denied = toolErrorBody(await tools.call(`${NAME}__legacy_write`, args));
    assert.equal(denied.error.code, "access_required");
    assert.equal(denied.error.access, "write");
    const ask = denied.error.request_elevated_access;
    assert.equal(ask.kind, "call");
    assert.equal(ask.tool, `${NAME}__legacy_write`);
    assert.deepEqual(ask.arguments, args);
    assert.equal(callsOf("legacy_write").length, 0);

    const asked = structured(
      await tools.call("request_elevated_access", { ...ask, reason: "Write the note" }),
      "request_elevated_access kind=call",
    );
    const decided = await decideByFetch(owner, asked.approval_url, { decision: "approve" });
    assert.equal(decided.status, 200, decided.html.slice(0, 300));
    const wrote = await tools.call(`${NAME}__legacy_write`, args);
    assert.notEqual(wrote.isError, true, JSON.stringify(wrote));
    assert.equal(resultText(wrote), "wrote 6 characters");
    const twice = toolErrorBody(await tools.call(`${NAME}__legacy_write`, args));
    assert.equal(twice.error.code, "access_required", "the approval was for one call");
    assert.equal(callsOf("legacy_write").length, 1);
    assert.ok(await streamsClosed(), `${legacy.stats().openStreams} stream(s) left open`);
  });
});
