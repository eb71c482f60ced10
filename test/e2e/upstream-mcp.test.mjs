// Upstream MCP servers end to end: a real SDK MCP server with its own OAuth authorization server
// (test/e2e/lib/upstream-mcp.mjs, on 127.0.0.1) behind a real `wrangler dev`, driven by a real v2
// MCP client and a fetch-based person. The assistant adds the server; the person connects it on
// /connections (discovery, DCR, PKCE, resource); its tools appear namespaced and run only under
// grants: reads the person accepted under a read session, anything else as one exact approved
// call. Refresh is single-flight, a dead refresh token means reconnect (once, no loop), results
// are capped, removal revokes upstream and is only the owner's, and no upstream token ever
// reaches the assistant.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { decideByFetch, openApproval, signedInBrowser, structured, toolErrorBody } from "./lib/approval.mjs";
import { decodeEntities } from "./lib/browser-flow.mjs";
import { startDevServer } from "./lib/fixture.mjs";
import { connectV2Client } from "./lib/sdk-connect.mjs";
import {
  askAndApprove,
  connectOnPage,
  mcpForm,
  recorded,
  resultText,
  serverPath,
  submitMcpForm,
} from "./lib/upstream-flow.mjs";
import { BIG_RESULT_BYTES, startUpstreamMcp } from "./lib/upstream-mcp.mjs";

const STEP = { timeout: 60_000 };
const HOOK = { timeout: 120_000 };
const EMAIL = "uma.upstream@example.com";
const OTHER_EMAIL = "oscar.other@example.com";
const NAME = "tracker";
const UPSTREAM_TOOLS = ["big_result", "create_issue", "delete_issue", "fail", "get_issue", "search_issues", "whoami"];
/** src/upstream/tools.ts MAX_RESULT_BYTES, plus room for the JSON of the blocks and the notes. */
const RESULT_CAP_BYTES = 1024 * 1024;

/** @type {import("./lib/upstream-mcp.mjs").UpstreamMcp} */
let upstream;
/** @type {import("./lib/fixture.mjs").DevServer} */
let server;

before(async () => {
  upstream = await startUpstreamMcp();
  server = await startDevServer({ label: "upstream-mcp", vars: { UPSTREAM_DEV_LOOPBACK: "enabled" } });
}, HOOK);

after(async () => {
  await server?.stop();
  await upstream?.close();
});

const callsOf = (/** @type {string} */ name) => upstream.stats().toolCalls.filter((call) => call.name === name);

describe("an OAuth upstream MCP server behind Countersign, with the v2 MCP client", { timeout: 420_000 }, () => {
  /** @type {Awaited<ReturnType<typeof connectV2Client>>} */
  let mcp;
  /** @type {ReturnType<typeof recorded>} */
  let tools;
  /** @type {import("./lib/browser-flow.mjs").BrowserSession} */
  let owner;

  before(async () => {
    mcp = await connectV2Client(server, { email: EMAIL, clientName: "E2E upstream MCP client" });
    tools = recorded(mcp);
    owner = await signedInBrowser(server.origin, EMAIL);
  }, HOOK);

  after(async () => {
    await mcp?.client.close().catch(() => {});
  });

  const tracker = async () => {
    const list = structured(await tools.call("list_integrations"), "list_integrations");
    return list.mcp_servers.find((entry) => entry.name === NAME);
  };
  const toolNames = async () => (await tools.listTools()).map((tool) => tool.name);
  const search = (query = "login") => tools.call(`${NAME}__search_issues`, { query });

  test("the assistant adds the server: oauth, not connected, and nothing was registered upstream", STEP, async () => {
    const added = structured(
      await tools.call("add_mcp_server", { name: NAME, url: upstream.mcpUrl }),
      "add_mcp_server",
    );
    assert.equal(added.name, NAME);
    assert.equal(added.url, upstream.mcpUrl);
    assert.equal(added.auth, "oauth");
    assert.equal(added.status, "not_connected");
    assert.equal(added.tools, 0);
    assert.equal(added.connect_url, `${server.origin}/connections?server=${NAME}`);

    const taken = toolErrorBody(await tools.call("add_mcp_server", { name: NAME, url: upstream.mcpUrl }));
    assert.equal(taken.error.code, "invalid_request");
    assert.equal(taken.error.reason, "name_taken");

    const listed = await tracker();
    assert.equal(listed?.status, "not_connected");
    assert.equal(listed?.auth, "oauth");
    assert.equal(listed?.source, "user");
    assert.equal(listed?.allowed, "none");
    assert.ok(!(await toolNames()).some((name) => name.startsWith(`${NAME}__`)), "no tools before connecting");

    const stats = upstream.stats();
    assert.equal(stats.registrations.length, 0, "adding only probes");
    assert.equal(stats.tokenRequests.authorization_code, 0);
  });

  test("the person connects it on /connections through the upstream's OAuth", STEP, async () => {
    const page = await mcpForm(owner, serverPath(NAME, "connect"));
    assert.match(page.html, /id="mcp-servers"/, "the page has an MCP servers section");
    assert.ok(page.form, "the server offers Connect");
    assert.ok(page.html.includes(upstream.mcpUrl), "the server URL is shown");

    const flow = await connectOnPage(owner, NAME);
    const authorize = flow.authorizeUrl;
    assert.equal(`${authorize.origin}${authorize.pathname}`, `${upstream.origin}/authorize`);
    assert.equal(authorize.searchParams.get("response_type"), "code");
    assert.equal(authorize.searchParams.get("code_challenge_method"), "S256");
    assert.match(authorize.searchParams.get("code_challenge") ?? "", /^[A-Za-z0-9_-]{43}$/);
    assert.equal(authorize.searchParams.get("resource"), upstream.mcpUrl, "RFC 8707 resource");
    assert.equal(authorize.searchParams.get("redirect_uri"), `${server.origin}/connections/mcp/callback`);
    assert.match(authorize.searchParams.get("state") ?? "", /\S{16,}/);
    assert.ok(
      flow.setCookies.some((cookie) => cookie.startsWith("__Host-cs_connect=")),
      "the state is bound to this browser",
    );
    assert.equal(flow.callbackUrl.searchParams.get("iss"), upstream.origin);
    assert.equal(flow.finished.status, 303, `callback: ${flow.finishedHtml.slice(0, 300)}`);
    // The tracker has tools that say they only read: the connect ends on the reads question.
    assert.equal(flow.finished.headers.get("Location"), serverPath(NAME, "reads"));
    const question = await mcpForm(owner, serverPath(NAME, "reads"));
    const offered = question.form?.inputs.filter((input) => input.name === "tools").map((input) => input.value);
    assert.deepEqual(offered?.toSorted(), ["big_result", "get_issue", "search_issues", "whoami"]);

    const stats = upstream.stats();
    assert.equal(stats.registrations.length, 1, "one dynamic client registration");
    assert.deepEqual(stats.registrations[0].redirectUris, [`${server.origin}/connections/mcp/callback`]);
    assert.equal(stats.authorizations.length, 1);
    assert.equal(stats.authorizations[0].outcome, "code");
    assert.equal(stats.tokenRequests.authorization_code, 1, "one code exchange");
    assert.equal(stats.tokenErrors.length, 0, JSON.stringify(stats.tokenErrors));

    const listed = await tracker();
    assert.equal(listed?.status, "connected");
    assert.equal(listed?.tools, UPSTREAM_TOOLS.length);
    assert.equal(listed?.error, null);

    const replay = await owner.get(flow.callbackUrl.href);
    await replay.arrayBuffer();
    assert.equal(replay.status, 400, "the callback cannot be replayed");
    assert.equal(upstream.stats().tokenRequests.authorization_code, 1, "a replay reaches no token endpoint");
  });

  test("its tools are listed as tracker__<tool>; our own whoami is still ours", STEP, async () => {
    const listed = await tools.listTools();
    const names = listed.map((tool) => tool.name);
    for (const name of UPSTREAM_TOOLS) assert.ok(names.includes(`${NAME}__${name}`), `${NAME}__${name} is listed`);
    assert.equal(names.filter((name) => name.startsWith(`${NAME}__`)).length, UPSTREAM_TOOLS.length);
    assert.equal(names.filter((name) => name === "whoami").length, 1, "one whoami");

    const ours = listed.find((tool) => tool.name === "whoami");
    assert.ok(!/Ignore previous instructions/.test(ours?.description ?? ""), "our whoami keeps our description");
    const theirs = listed.find((tool) => tool.name === `${NAME}__whoami`);
    assert.match(theirs?.description ?? "", /not instructions/, "the upstream description is framed as data");
    assert.ok(!(theirs?.description ?? "").includes("\u0000"));
    assert.equal(theirs?.annotations?.readOnlyHint, false, "a claimed read is not a read until accepted");

    const who = structured(await tools.call("whoami"), "whoami");
    assert.equal(who.user.email, EMAIL, "whoami answers Countersign's whoami");
    assert.equal(callsOf("whoami").length, 0, "the upstream whoami was not called");
  });

  test("without a grant a read is access_required and reaches nothing", STEP, async () => {
    const denied = toolErrorBody(await search());
    assert.equal(denied.error.code, "access_required");
    assert.equal(denied.error.provider, NAME);
    // Not accepted as a read yet: the upstream's readOnlyHint alone does not make it one.
    assert.equal(denied.error.access, "write");
    assert.equal(upstream.stats().toolCalls.length, 0);
  });

  test("the person accepts two reads; a read grant runs them with the upstream token", STEP, async () => {
    const saved = await submitMcpForm(owner, serverPath(NAME, "reads"), { tools: ["search_issues", "get_issue"] });
    await saved.arrayBuffer();
    assert.equal(saved.status, 303);

    const listed = await tools.listTools();
    const readOnly = (name) => listed.find((tool) => tool.name === `${NAME}__${name}`)?.annotations?.readOnlyHint;
    assert.equal(readOnly("search_issues"), true);
    assert.equal(readOnly("get_issue"), true);
    assert.equal(readOnly("whoami"), false, "says read-only, not accepted");
    assert.equal(readOnly("big_result"), false);
    assert.equal(readOnly("create_issue"), false);
    assert.equal(readOnly("delete_issue"), false);

    const denied = toolErrorBody(await search());
    assert.equal(denied.error.code, "access_required");
    assert.equal(denied.error.access, "read");
    assert.equal(denied.error.provider, NAME);
    assert.deepEqual(
      { ...denied.error.request_elevated_access, reason: undefined },
      { kind: "broad", level: "read", providers: [NAME], reason: undefined },
    );
    assert.equal(upstream.stats().toolCalls.length, 0, "nothing reached the upstream without a grant");

    const { decided } = await askAndApprove(tools.call, owner, {
      kind: "broad",
      level: "read",
      providers: [NAME],
      reason: "Search my issues",
    });
    assert.deepEqual(decided.form.offeredProviders, [NAME]);
    assert.equal((await tracker())?.allowed, "read");

    const found = await search();
    assert.notEqual(found.isError, true, JSON.stringify(found));
    assert.match(resultText(found), /ISS-1 \[open\] Login button does nothing/);
    assert.match(resultText(found), /ISS-3 \[closed\] Typo on the login page/);
    const issue = await tools.call(`${NAME}__get_issue`, { id: "ISS-2" });
    assert.equal(issue.structuredContent?.title, "Crash when exporting CSV");

    const calls = upstream.stats().toolCalls;
    assert.deepEqual(
      calls.map((call) => [call.name, call.args]),
      [
        ["search_issues", { query: "login" }],
        ["get_issue", { id: "ISS-2" }],
      ],
    );
    for (const call of calls) {
      assert.match(call.authorization ?? "", /^at_/, "sent with the upstream's bearer token");
      assert.equal(call.tokenGeneration, 1);
      assert.equal(call.clientId, upstream.stats().registrations[0].clientId);
    }
  });

  test("a write under the read grant is access_required with the exact call to ask for", STEP, async () => {
    const args = { title: "Export is slow", body: "Takes a minute." };
    const denied = toolErrorBody(await tools.call(`${NAME}__create_issue`, args));
    assert.equal(denied.error.code, "access_required");
    assert.equal(denied.error.access, "write");
    assert.equal(denied.error.provider, NAME);
    const ask = denied.error.request_elevated_access;
    assert.equal(ask.kind, "call");
    assert.equal(ask.tool, `${NAME}__create_issue`);
    assert.deepEqual(ask.arguments, args);
    assert.equal(callsOf("create_issue").length, 0);

    const hostile = toolErrorBody(await tools.call(`${NAME}__whoami`));
    assert.equal(hostile.error.code, "access_required", "the upstream whoami is gated like any write");
    assert.equal(callsOf("whoami").length, 0);
  });

  test("a one-call approval runs that exact call once; other arguments never reach the upstream", STEP, async () => {
    const args = { title: "Export is slow", body: "Takes a minute." };
    const ask = toolErrorBody(await tools.call(`${NAME}__create_issue`, args)).error.request_elevated_access;
    const asked = structured(
      await tools.call("request_elevated_access", { ...ask, reason: "File the export bug" }),
      "request_elevated_access kind=call",
    );
    const { html } = await openApproval(owner, asked.approval_url);
    const text = decodeEntities(html);
    assert.match(text, /MCP server: <strong class="mono">tracker \(MCP server at 127\.0\.0\.1:\d+\)<\/strong>/);
    assert.match(text, /Tool: <strong class="mono">create_issue<\/strong>/);
    // Exactly as they will be sent: canonical (sorted keys), compact JSON.
    const sent = JSON.stringify({ body: args.body, title: args.title });
    assert.ok(text.includes(sent), `the page shows the arguments as sent:\n${sent}`);

    const decided = await decideByFetch(owner, asked.approval_url, { decision: "approve" });
    assert.equal(decided.status, 200, decided.html.slice(0, 300));
    const view = structured(await tools.call("check_access_request", { request_id: asked.request_id }), "check");
    assert.equal(view.kind, "call");
    assert.equal(view.level, "write");

    const other = toolErrorBody(await tools.call(`${NAME}__create_issue`, { ...args, title: "Something else" }));
    assert.equal(other.error.code, "access_required");
    assert.equal(callsOf("create_issue").length, 0, "different arguments are not sent");

    const reordered = await tools.call(`${NAME}__create_issue`, { body: args.body, title: args.title });
    assert.notEqual(reordered.isError, true, `the approved call (keys in any order): ${JSON.stringify(reordered)}`);
    assert.match(resultText(reordered), /^Created ISS-\d+\./);

    const again = toolErrorBody(await tools.call(`${NAME}__create_issue`, args));
    assert.equal(again.error.code, "access_required", "the approval is used up");
    assert.equal(again.error.access, "write");

    const created = callsOf("create_issue");
    assert.equal(created.length, 1, "the upstream saw exactly one create_issue");
    assert.deepEqual(created[0].args, args);
  });

  test("20 concurrent reads on an expired token cause exactly one refresh", STEP, async () => {
    const before = upstream.stats();
    upstream.expireAllAccessTokens();
    upstream.setRefreshDelayMs(300);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => search(i % 2 === 0 ? "login" : "crash")));
    upstream.setRefreshDelayMs(0);
    for (const [i, result] of results.entries()) {
      assert.notEqual(result.isError, true, `read #${i}: ${JSON.stringify(result).slice(0, 300)}`);
    }
    const stats = upstream.stats();
    assert.equal(stats.tokenRequests.refresh_token - before.tokenRequests.refresh_token, 1, "one refresh");
    assert.equal(stats.tokenErrors.length, 0, JSON.stringify(stats.tokenErrors));
    const fresh = stats.toolCalls.slice(before.toolCalls.length);
    assert.equal(fresh.length, 20, "every read reached the upstream once");
    const newest = stats.accessTokensIssued;
    assert.ok(
      fresh.every((call) => call.tokenGeneration === newest),
      `all with the refreshed token: ${fresh.map((call) => call.tokenGeneration)}`,
    );
    assert.equal((await tracker())?.status, "connected");
  });

  test("a 3 MiB result comes back cut and bounded; an upstream isError comes back as one", STEP, async () => {
    const saved = await submitMcpForm(owner, serverPath(NAME, "reads"), {
      tools: ["search_issues", "get_issue", "big_result"],
    });
    await saved.arrayBuffer();
    assert.equal(saved.status, 303);

    const big = await tools.call(`${NAME}__big_result`);
    assert.notEqual(big.isError, true, JSON.stringify(big).slice(0, 300));
    const size = Buffer.byteLength(JSON.stringify(big.content));
    assert.ok(size <= 1.1 * RESULT_CAP_BYTES, `the result is bounded: ${size} bytes`);
    assert.ok(size < BIG_RESULT_BYTES);
    const text = resultText(big);
    assert.ok(text.startsWith("All work and no play makes a big result.\n"), "the start is kept");
    assert.match(text, /cut by Countersign/i, `a cut marker: …${text.slice(-200)}`);
    assert.match(big.content.at(-1)?.text ?? "", /Countersign cut this result/, "the last block says it was cut");
    assert.equal(callsOf("big_result").length, 1);

    const { requestId } = await askAndApprove(tools.call, owner, {
      kind: "call",
      tool: `${NAME}__fail`,
      arguments: {},
      reason: "See how it fails",
    });
    assert.match(requestId, /^req_/);
    const failed = await tools.call(`${NAME}__fail`);
    assert.equal(failed.isError, true);
    assert.equal(resultText(failed), "The upstream tool failed on purpose.");
    assert.equal(callsOf("fail").length, 1);
  });

  test("a dead refresh token means reauth_required after one refresh attempt, not a loop", STEP, async () => {
    const before = upstream.stats();
    upstream.revokeAllRefreshTokens();
    upstream.expireAllAccessTokens();
    const first = toolErrorBody(await search());
    assert.equal(first.error.code, "reauth_required", JSON.stringify(first));
    assert.equal(first.error.reconnect_url, `${server.origin}/connections?server=${NAME}`);
    // Whatever the next call answers, it must not try the dead refresh token again.
    await search().catch(() => {});

    const stats = upstream.stats();
    assert.equal(stats.tokenRequests.refresh_token - before.tokenRequests.refresh_token, 1, "one refresh attempt");
    assert.equal(stats.toolCalls.length, before.toolCalls.length, "no tool ran");
    const listed = await tracker();
    assert.equal(listed?.status, "reauth_required");
    assert.match(listed?.error ?? "", /^[a-z_]+$/, "the reason is a stable code, not upstream text");

    const page = await mcpForm(owner, serverPath(NAME, "connect"));
    assert.ok(page.form, "the page offers Reconnect");
    assert.match(page.html, /Reconnect/);
  });

  test("a later call by the listed tool name still says reauth_required with the reconnect link", STEP, async () => {
    const before = upstream.stats();
    const again = toolErrorBody(await search());
    assert.equal(again.error.code, "reauth_required", JSON.stringify(again));
    assert.equal(again.error.reconnect_url, `${server.origin}/connections?server=${NAME}`);
    assert.equal(upstream.stats().tokenRequests.refresh_token, before.tokenRequests.refresh_token, "no retry");
  });

  test("reconnecting reuses the registered client and works again", STEP, async () => {
    const before = upstream.stats();
    const flow = await connectOnPage(owner, NAME);
    assert.equal(flow.finished.status, 303, flow.finishedHtml.slice(0, 300));
    const stats = upstream.stats();
    assert.equal(stats.registrations.length, before.registrations.length, "no second registration");
    assert.equal(stats.tokenRequests.authorization_code, before.tokenRequests.authorization_code + 1);
    assert.equal((await tracker())?.status, "connected");
    const found = await search();
    assert.notEqual(found.isError, true, JSON.stringify(found));
    assert.equal(callsOf("search_issues").at(-1)?.tokenGeneration, stats.accessTokensIssued);
  });

  test("another person cannot see or remove the server, and nothing is revoked", STEP, async () => {
    const other = await signedInBrowser(server.origin, OTHER_EMAIL);
    const added = await submitMcpForm(other, "/connections/mcp/add", { name: "mine", url: upstream.mcpUrl });
    await added.arrayBuffer();
    assert.equal(added.status, 303, other.describe());
    const page = await mcpForm(other, serverPath("mine", "remove"));
    assert.ok(page.form, "their own server has a Remove form");
    assert.ok(!page.html.includes(`server-${NAME}`), "the first person's server is not on their page");

    const revocations = upstream.stats().revocations.length;
    const status = (await tracker())?.status;
    assert.ok(status, "the owner has the server");
    for (const action of ["remove", "disconnect", "refresh", "connect"]) {
      const res = await other.post(serverPath(NAME, action), new URLSearchParams({ csrf: page.csrf, confirm: "yes" }));
      await res.arrayBuffer();
      assert.equal(res.status, 404, `${action} of someone else's server`);
    }
    assert.equal(upstream.stats().revocations.length, revocations, "nothing was revoked");
    assert.equal((await tracker())?.status, status, "the owner's server is untouched");
  });

  test("a remove without the page's CSRF token is refused and revokes nothing", STEP, async () => {
    const revocations = upstream.stats().revocations.length;
    const status = (await tracker())?.status;
    assert.ok(status, "the owner has the server");
    const bare = await owner.post(serverPath(NAME, "remove"), new URLSearchParams({ confirm: "yes" }));
    await bare.arrayBuffer();
    assert.equal(bare.status, 403);
    const forged = await owner.post(
      serverPath(NAME, "remove"),
      new URLSearchParams({ csrf: "not-the-token", confirm: "yes" }),
    );
    await forged.arrayBuffer();
    assert.equal(forged.status, 403);
    assert.equal(upstream.stats().revocations.length, revocations);
    assert.equal((await tracker())?.status, status, "the server is still there");
  });

  test("Remove revokes our tokens upstream and the server and its tools are gone", STEP, async () => {
    const before = upstream.stats();
    const status = (await tracker())?.status;
    assert.ok(status, "the owner has the server");
    // Remove first asks: the question says what it will do, and nothing is revoked yet.
    const asked = await submitMcpForm(owner, serverPath(NAME, "remove"));
    const question = await asked.text();
    assert.equal(asked.status, 200);
    assert.match(question, new RegExp(`<h1>Remove ${NAME}\\?</h1>`));
    assert.equal(upstream.stats().revocations.length, before.revocations.length, "asking revokes nothing");
    assert.equal((await tracker())?.status, status, "asking removes nothing");
    const removed = await submitMcpForm(owner, serverPath(NAME, "remove"), { confirm: "yes" });
    await removed.arrayBuffer();
    assert.equal(removed.status, 303);

    const revoked = upstream.stats().revocations.slice(before.revocations.length);
    assert.ok(revoked.length >= 1, "the upstream heard about it");
    assert.ok(
      revoked.some((entry) => entry.tokenType === "refresh_token"),
      `a live refresh token was revoked: ${JSON.stringify(revoked)}`,
    );
    assert.equal(await tracker(), undefined, "list_integrations no longer lists it");
    assert.ok(!(await toolNames()).some((name) => name.startsWith(`${NAME}__`)), "tools/list no longer lists it");
    // The client may still hold the old list: the name is unknown now (JSON-RPC -32602), or not_found.
    const gone = await search().then(
      (result) => toolErrorBody(result).error.code,
      (error) => String(error.code),
    );
    assert.ok(["not_found", "-32602"].includes(gone), `a call by the old name is refused: ${gone}`);
    assert.equal(upstream.stats().toolCalls.length, before.toolCalls.length);

    const count = upstream.stats().revocations.length;
    const page = await mcpForm(owner, "/connections/mcp/add");
    const again = await owner.post(
      serverPath(NAME, "remove"),
      new URLSearchParams({ csrf: page.csrf, confirm: "yes" }),
    );
    await again.arrayBuffer();
    assert.equal(again.status, 404, "removing twice finds nothing");
    assert.equal(upstream.stats().revocations.length, count);
  });

  test("no upstream access token ever appears in what /mcp returned, on the page or in the log", STEP, async () => {
    const tokens = new Set(
      upstream
        .stats()
        .toolCalls.map((call) => call.authorization)
        .filter(Boolean),
    );
    assert.ok(tokens.size >= 2, `tokens before and after the refresh were used: ${tokens.size}`);
    assert.ok(tools.outputs.length >= 40, `${tools.outputs.length} answers were recorded`);
    for (const token of tokens) {
      for (const [i, output] of tools.outputs.entries()) {
        assert.ok(!output.includes(token), `answer #${i} contains an upstream token: ${output.slice(0, 200)}`);
      }
      assert.ok(!server.logs().includes(token), `the wrangler log (${server.logPath})`);
    }
    const page = await (await owner.get("/connections")).text();
    for (const token of tokens) assert.ok(!page.includes(token), "/connections");
  });
});
