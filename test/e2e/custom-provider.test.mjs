// A custom provider end to end: a local JSON API (node:http on 127.0.0.1, every request
// recorded) declared as "acme" in CUSTOM_PROVIDERS with dev_loopback; the person pastes an API
// key on /connections; real MCP clients (v2, then the 2025-era v1 SDK for the read path) call
// it through call_integration_api. The key reaches the API only on calls a live grant covers,
// and never the assistant, the pages, the export or the log.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { decideByFetch, pageTitle, signedInBrowser, structured, toolErrorBody } from "./lib/approval.mjs";
import { connectionsForm, disconnectProvider, saveApiKey } from "./lib/connections.mjs";
import { acmeProviders, BIG_BYTES, startFakeApi } from "./lib/fake-api.mjs";
import { startDevServer } from "./lib/fixture.mjs";
import { connectV1Client, connectV2Client } from "./lib/sdk-connect.mjs";
import { sleep } from "./lib/util.mjs";

const STEP = { timeout: 60_000 };
const HOOK = { timeout: 120_000 };
/** call_integration_api's outbound deadline (src/calls/outbound.ts CALL_TIMEOUT_MS). */
const CALL_TIMEOUT_MS = 20_000;
const TRUNCATION_MARKER = "\n…[countersign: response truncated at 1 MiB]";

/** @type {import("./lib/fake-api.mjs").FakeApi} */
let api;
/** @type {import("./lib/fixture.mjs").DevServer} */
let server;

before(async () => {
  api = await startFakeApi();
  server = await startDevServer({ label: "custom-provider", vars: { CUSTOM_PROVIDERS: acmeProviders(api) } });
}, HOOK);

after(async () => {
  await server?.stop();
  await api?.close();
});

const canary = () => `ACME-CANARY-${randomBytes(12).toString("hex")}`;
const itemsUrl = () => `${api.origin}/v1/items`;
/** What the API received with a given key (optionally only for one "METHOD /path"). */
const received = (key, route) =>
  api.requests.filter(
    (req) => req.headers["x-acme-key"] === key && (route === undefined || `${req.method} ${req.path}` === route),
  );
const sentTo = (route) => api.requests.filter((req) => `${req.method} ${req.path}` === route);

/**
 * An MCP client whose every tool answer is kept (for the "the key never shows" check).
 * @param {(name: string, args?: object) => Promise<any>} call
 */
function recorded(call) {
  /** @type {string[]} */
  const outputs = [];
  const wrapped = async (name, args = {}) => {
    const result = await call(name, args);
    outputs.push(JSON.stringify(result));
    return result;
  };
  return { call: wrapped, outputs };
}

/** Ask for read access to acme and approve it as the person; returns the request id. */
async function grantRead(call, owner, reason) {
  const asked = structured(
    await call("request_elevated_access", { kind: "broad", level: "read", providers: ["acme"], reason }),
    "request_elevated_access",
  );
  const decided = await decideByFetch(owner, asked.approval_url, { decision: "approve" });
  assert.equal(decided.status, 200, decided.html.slice(0, 300));
  assert.ok(pageTitle(decided.html).startsWith("Approved"), pageTitle(decided.html));
  assert.deepEqual(decided.form.offeredProviders, ["acme"]);
  const view = structured(await call("check_access_request", { request_id: asked.request_id }), "check");
  assert.equal(view.status, "approved");
  return asked.request_id;
}

describe("custom provider acme with the v2 MCP client", { timeout: 300_000 }, () => {
  const EMAIL = "carol.custom@example.com";
  const KEY = canary();
  /** @type {Awaited<ReturnType<typeof connectV2Client>>} */
  let mcp;
  /** @type {ReturnType<typeof recorded>} */
  let tools;
  /** @type {import("./lib/browser-flow.mjs").BrowserSession} */
  let owner;
  /** The /v1/slow call started under the read grant; awaited by its own test. */
  let slow;

  before(async () => {
    mcp = await connectV2Client(server, { email: EMAIL, clientName: "E2E custom provider client (v2)" });
    tools = recorded(mcp.call);
    owner = await signedInBrowser(server.origin, EMAIL);
  }, HOOK);

  after(async () => {
    await slow?.catch(() => {});
    await mcp?.client.close().catch(() => {});
  });

  const getItems = () => tools.call("call_integration_api", { method: "GET", url: itemsUrl() });
  const integration = async (id) => {
    const list = structured(await tools.call("list_integrations"), "list_integrations");
    const found = list.integrations.find((item) => item.id === id);
    assert.ok(found, `list_integrations lists ${id}: ${list.integrations.map((item) => item.id)}`);
    return found;
  };

  test("before the key is pasted, a call is not_connected and nothing reaches the API", STEP, async () => {
    const body = toolErrorBody(await getItems());
    assert.equal(body.error.code, "not_connected");
    assert.equal(body.error.connect_url, `${server.origin}/connections?provider=acme`);
    assert.equal(api.requests.length, 0);
    const acme = await integration("acme");
    assert.equal(acme.status, "not_connected");
    assert.equal(acme.auth, "api_key");
    assert.equal(acme.name, "Acme API");
  });

  test("the person pastes the API key on /connections; the page never shows it", STEP, async () => {
    const before = await connectionsForm(owner, "acme", "api-key");
    assert.ok(before.form, "acme has an API key form");
    assert.equal(before.prefilled, "", "a custom provider's key field starts empty");
    assert.match(before.html, /X-Acme-Key/, "the page says which header carries the key");

    const saved = await saveApiKey(owner, "acme", KEY);
    await saved.arrayBuffer();
    assert.equal(saved.status, 303);
    assert.equal(saved.headers.get("Location"), "/connections?connected=acme");

    const landed = await owner.get("/connections?connected=acme");
    const landedHtml = await landed.text();
    assert.match(landedHtml, /Acme API is connected\./, "the page confirms which provider was connected");
    assert.ok(!landedHtml.includes(KEY), "the key is not echoed after saving");
    const after = await connectionsForm(owner, "acme", "disconnect");
    assert.ok(after.form, "acme now offers Disconnect");
    assert.match(after.html, /<li id="provider-acme"><strong>Acme API<\/strong> <span class="muted">connected<\/span>/);
    assert.ok(!after.html.includes(KEY), "the key is not echoed on /connections");
    const acme = await integration("acme");
    assert.equal(acme.status, "connected");
    assert.equal(acme.allowed, "none");
    assert.equal(api.requests.length, 0, "connecting an API key calls nothing");
  });

  test("without a grant: access_required with the request to make; the API saw nothing", STEP, async () => {
    const body = toolErrorBody(await getItems());
    assert.equal(body.error.code, "access_required");
    assert.equal(body.error.reason, "no_grant");
    assert.equal(body.error.access, "read");
    assert.equal(body.error.provider, "acme");
    const ask = body.error.request_elevated_access;
    assert.equal(ask.kind, "broad");
    assert.equal(ask.level, "read");
    assert.deepEqual(ask.providers, ["acme"]);
    assert.match(ask.reason, /\S/);
    assert.equal(api.requests.length, 0);
  });

  test(
    "a read grant approved: GET sends the key exactly once, declared-read POST works, writes refused",
    STEP,
    async () => {
      const grantId = await grantRead(tools.call, owner, "List my Acme items");

      const got = structured(await getItems(), "GET /v1/items");
      assert.equal(got.status, 200);
      assert.deepEqual(got.body, {
        items: [
          { id: 1, name: "anvil", price: 120 },
          { id: 2, name: "rocket skates", price: 450 },
        ],
      });
      assert.equal(got.truncated, false);
      assert.equal(got.provider, "acme");
      assert.equal(got.access, "read");
      assert.equal(got.grant_id, grantId);
      assert.match(got.headers["content-type"], /^application\/json/);
      assert.ok(got.headers["x-request-id"], "safe response headers are passed on");
      assert.equal(got.headers["set-cookie"], undefined, "the API's cookies never reach the assistant");

      assert.equal(api.requests.length, 1, "the API saw exactly one request");
      const [seen] = api.requests;
      assert.equal(`${seen.method} ${seen.path}`, "GET /v1/items");
      assert.equal(seen.headers["x-acme-key"], KEY, "the person's key was injected");
      assert.equal(seen.headers.authorization, undefined, "no MCP bearer token is forwarded");
      assert.equal(seen.headers.cookie, undefined);
      const token = mcp.harness.provider.tokens()?.access_token ?? "";
      assert.ok(token && !JSON.stringify(seen.headers).includes(token), "the MCP token is not in any header");

      const search = structured(
        await tools.call("call_integration_api", {
          method: "POST",
          url: `${api.origin}/v1/search`,
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ query: "anvil" }),
        }),
        "POST /v1/search",
      );
      assert.equal(search.status, 200);
      assert.equal(search.access, "read", "POST /v1/search is a declared read");
      assert.deepEqual(search.body.results, [{ id: 1, name: "anvil", price: 120 }]);
      assert.equal(received(KEY, "POST /v1/search").length, 1);
      assert.equal(received(KEY, "POST /v1/search")[0].body, '{"query":"anvil"}', "the body is sent as given");

      const count = api.requests.length;
      const write = toolErrorBody(
        await tools.call("call_integration_api", {
          method: "POST",
          url: itemsUrl(),
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ name: "dehydrated boulders" }),
        }),
      );
      assert.equal(write.error.code, "access_required");
      assert.equal(write.error.reason, "read_only");
      assert.equal(write.error.access, "write");
      assert.equal(write.error.request_elevated_access.kind, "call", "a write is asked for as one exact call");
      assert.equal(write.error.request_elevated_access.method, "POST");
      assert.equal(api.requests.length, count, "the refused write reached nothing");

      const acme = await integration("acme");
      assert.equal(acme.status, "connected");
      assert.equal(acme.allowed, "read", "list_integrations shows the live read grant");

      // Started now, checked later: an API that drips bytes forever must be cut off by the deadline.
      const startedAt = Date.now();
      slow = tools
        .call("call_integration_api", { method: "GET", url: `${api.origin}/v1/slow` })
        .then((result) => ({ result, ms: Date.now() - startedAt }));
      slow.catch(() => {});
    },
  );

  test(
    "a one-call approval: that exact call works once, a second is expired, another body is refused",
    STEP,
    async () => {
      const body = JSON.stringify({ name: "giant magnet", price: 99 });
      const call = { method: "POST", url: itemsUrl(), headers: { "Content-Type": "application/json" }, body };
      const asked = structured(
        await tools.call("request_elevated_access", { kind: "call", ...call, reason: "Add a giant magnet" }),
        "request_elevated_access kind=call",
      );
      const decided = await decideByFetch(owner, asked.approval_url, { decision: "approve" });
      assert.equal(decided.status, 200, decided.html.slice(0, 300));
      const view = structured(await tools.call("check_access_request", { request_id: asked.request_id }), "check");
      assert.equal(view.status, "approved");
      assert.equal(view.kind, "call");
      assert.equal(view.level, "write");
      // The digest tells this call from another body to the same URL.
      assert.deepEqual(view.call, {
        method: "POST",
        url: itemsUrl(),
        body_sha256: createHash("sha256").update(body).digest("hex").slice(0, 16),
        body_bytes: Buffer.byteLength(body),
        header_names: ["content-type"],
      });

      const other = { ...call, body: JSON.stringify({ name: "giant magnet", price: 1 }) };
      const mismatch = toolErrorBody(
        await tools.call("call_integration_api", { ...other, request_id: asked.request_id }),
      );
      assert.equal(mismatch.error.code, "access_required");
      assert.equal(mismatch.error.reason, "call_mismatch");
      assert.equal(sentTo("POST /v1/items").length, 0, "a different body is not sent");

      const done = structured(
        await tools.call("call_integration_api", { ...call, request_id: asked.request_id }),
        "the approved call",
      );
      assert.equal(done.status, 201);
      assert.equal(done.access, "write");
      assert.equal(done.grant_id, asked.request_id);
      assert.deepEqual(done.body, { id: 100, name: "giant magnet", price: 99 });

      const again = toolErrorBody(await tools.call("call_integration_api", { ...call, request_id: asked.request_id }));
      assert.equal(again.error.code, "expired");
      assert.match(again.error.message, /consumed/);
      assert.equal(again.error.request_elevated_access.kind, "call");

      const changed = toolErrorBody(await tools.call("call_integration_api", other));
      assert.equal(changed.error.code, "access_required");
      assert.equal(changed.error.reason, "read_only", "only the read grant is live now");

      const posts = sentTo("POST /v1/items");
      assert.equal(posts.length, 1, "the API saw exactly one POST /v1/items");
      assert.equal(posts[0].body, body);
      assert.equal(posts[0].headers["x-acme-key"], KEY);
      assert.equal(posts[0].headers["content-type"], "application/json");
    },
  );

  test("two parallel uses of one call approval: exactly one reaches the API", STEP, async () => {
    const body = JSON.stringify({ name: "twin", price: 2 });
    const call = { method: "POST", url: itemsUrl(), headers: { "Content-Type": "application/json" }, body };
    const asked = structured(
      await tools.call("request_elevated_access", { kind: "call", ...call, reason: "Add one twin" }),
      "request_elevated_access kind=call",
    );
    const decided = await decideByFetch(owner, asked.approval_url, { decision: "approve" });
    assert.equal(decided.status, 200, decided.html.slice(0, 300));
    const before = sentTo("POST /v1/items").length;
    const results = await Promise.all(
      [1, 2, 3].map(() => tools.call("call_integration_api", { ...call, request_id: asked.request_id })),
    );
    const succeeded = results.filter((result) => result.isError !== true);
    assert.equal(
      succeeded.length,
      1,
      `exactly one use succeeded: ${results.map((r) => JSON.stringify(r).slice(0, 120))}`,
    );
    assert.equal(succeeded[0].structuredContent.status, 201);
    for (const result of results.filter((r) => r.isError === true)) {
      assert.equal(toolErrorBody(result).error.code, "expired");
    }
    assert.equal(sentTo("POST /v1/items").length - before, 1, "the API saw one POST");
  });

  test("a redirect comes back as a 3xx with its Location and is not followed", STEP, async () => {
    const count = api.requests.length;
    const moved = structured(
      await tools.call("call_integration_api", { method: "GET", url: `${api.origin}/v1/moved` }),
      "GET /v1/moved",
    );
    assert.equal(moved.status, 302);
    assert.equal(moved.headers.location, "/v1/items");
    const seen = api.requests.slice(count).filter((req) => req.path !== "/v1/slow");
    assert.deepEqual(
      seen.map((req) => `${req.method} ${req.path}`),
      ["GET /v1/moved"],
      "only the redirect itself was requested",
    );
  });

  test("a 3 MiB answer is cut at 1 MiB with truncated: true and the marker", STEP, async () => {
    const big = structured(
      await tools.call("call_integration_api", { method: "GET", url: `${api.origin}/v1/big` }),
      "GET /v1/big",
    );
    assert.equal(big.status, 200);
    assert.equal(big.truncated, true);
    assert.equal(typeof big.body, "string", "a truncated body is text, never half-parsed JSON");
    assert.ok(big.body.endsWith(TRUNCATION_MARKER), `ends with the marker: …${big.body.slice(-60)}`);
    assert.equal(big.body.length, 1024 * 1024 + TRUNCATION_MARKER.length);
    assert.ok(big.body.length < BIG_BYTES);
  });

  test("an API that drips bytes forever is cut off at the call deadline", { timeout: 45_000 }, async () => {
    assert.ok(slow, "the slow call was started");
    const { result, ms } = await slow;
    assert.ok(ms >= CALL_TIMEOUT_MS - 1_000, `the call ended after ${ms} ms, before the deadline`);
    assert.ok(ms < CALL_TIMEOUT_MS + 10_000, `the call took ${ms} ms`);
    const body = toolErrorBody(result);
    assert.equal(body.error.code, "provider_unavailable", JSON.stringify(body));
    assert.equal(body.error.reason, "provider_timeout");
    for (let i = 0; i < 20 && api.openDrips() > 0; i++) await sleep(250);
    assert.equal(api.openDrips(), 0, "the connection to the provider was closed");
  });

  test("Disconnect on /connections: the next call is not_connected and the grant is gone", STEP, async () => {
    const res = await disconnectProvider(owner, "acme");
    await res.arrayBuffer();
    assert.equal(res.status, 303);
    const count = api.requests.length;
    const body = toolErrorBody(await getItems());
    assert.equal(body.error.code, "not_connected");
    assert.equal(api.requests.length, count);
    const acme = await integration("acme");
    assert.equal(acme.status, "not_connected");
    assert.equal(acme.allowed, "none", "grants naming acme ended with the connection");
    const page = await connectionsForm(owner, "acme", "api-key");
    assert.ok(page.form, "the key form is offered again");
  });

  test("the key never appears in tool output, /activity, the export, /connections or the log", STEP, async () => {
    assert.ok(tools.outputs.length >= 10, `${tools.outputs.length} tool answers were recorded`);
    for (const [i, output] of tools.outputs.entries()) {
      assert.ok(!output.includes(KEY), `tool answer #${i} contains the key: ${output.slice(0, 200)}`);
    }
    const activity = await owner.get("/activity");
    const activityHtml = await activity.text();
    assert.equal(activity.status, 200);
    assert.match(activityHtml, /call allowed/);
    assert.match(activityHtml, /provider disconnected/);
    assert.ok(!activityHtml.includes(KEY), "/activity");

    const exported = await owner.get("/activity/export.json");
    const exportText = await exported.text();
    assert.equal(exported.status, 200);
    const events = JSON.parse(exportText).audit.map((entry) => entry.event);
    for (const event of [
      "provider_connected",
      "call_denied",
      "call_allowed",
      "call_completed",
      "provider_disconnected",
    ]) {
      assert.ok(events.includes(event), `the export has a ${event} event`);
    }
    assert.ok(!exportText.includes(KEY), "/activity/export.json");

    const connections = await owner.get("/connections");
    assert.ok(!(await connections.text()).includes(KEY), "/connections");
    assert.ok(!server.logs().includes(KEY), `the wrangler log (${server.logPath})`);
  });
});

describe("custom provider acme with the v1 MCP client: the read path", { timeout: 180_000 }, () => {
  const EMAIL = "victor.v1@example.com";
  const KEY = canary();
  /** @type {Awaited<ReturnType<typeof connectV1Client>>} */
  let mcp;
  /** @type {ReturnType<typeof recorded>} */
  let tools;
  /** @type {import("./lib/browser-flow.mjs").BrowserSession} */
  let owner;

  before(async () => {
    mcp = await connectV1Client(server, { email: EMAIL, clientName: "E2E custom provider client (v1)" });
    tools = recorded(mcp.call);
    owner = await signedInBrowser(server.origin, EMAIL);
  }, HOOK);

  after(async () => {
    await mcp?.client.close().catch(() => {});
  });

  test("connect, no grant, read grant: GET and the declared-read POST work, a write is refused", STEP, async () => {
    const saved = await saveApiKey(owner, "acme", KEY);
    await saved.arrayBuffer();
    assert.equal(saved.status, 303);

    const count = api.requests.length;
    const denied = toolErrorBody(await tools.call("call_integration_api", { method: "GET", url: itemsUrl() }));
    assert.equal(denied.error.code, "access_required");
    assert.deepEqual(denied.error.request_elevated_access.providers, ["acme"]);
    assert.equal(api.requests.length, count, "nothing was sent without a grant");

    await grantRead(tools.call, owner, "List my Acme items (v1)");
    const got = structured(
      await tools.call("call_integration_api", { method: "GET", url: itemsUrl() }),
      "GET /v1/items (v1)",
    );
    assert.equal(got.status, 200);
    assert.equal(got.body.items.length, 2, "the JSON body is kept as JSON");
    assert.equal(received(KEY).length, 1, "exactly one request carried this person's key");
    assert.equal(`${received(KEY)[0].method} ${received(KEY)[0].path}`, "GET /v1/items");

    const search = structured(
      await tools.call("call_integration_api", {
        method: "POST",
        url: `${api.origin}/v1/search`,
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ query: "skates" }),
      }),
      "POST /v1/search (v1)",
    );
    assert.equal(search.access, "read");
    assert.deepEqual(
      search.body.results.map((item) => item.name),
      ["rocket skates"],
    );

    const before = api.requests.length;
    const write = toolErrorBody(
      await tools.call("call_integration_api", { method: "POST", url: itemsUrl(), body: '{"name":"x"}' }),
    );
    assert.equal(write.error.code, "access_required");
    assert.equal(write.error.reason, "read_only");
    assert.equal(api.requests.length, before);

    const list = structured(await tools.call("list_integrations"), "list_integrations (v1)");
    const acme = list.integrations.find((item) => item.id === "acme");
    assert.equal(acme?.status, "connected");
    assert.equal(acme?.allowed, "read");

    for (const output of tools.outputs) assert.ok(!output.includes(KEY), "no tool answer contains the key");
    assert.ok(!server.logs().includes(KEY), "the log does not contain the key");
  });
});
