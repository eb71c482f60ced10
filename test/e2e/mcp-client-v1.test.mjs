// End to end with the v1 MCP SDK (@modelcontextprotocol/sdk), a 2025-era client: the same
// OAuth flow through the emulated browser, a 2025 protocol version, whoami, and refresh.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { auth, UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js";
import { startDevServer } from "./lib/fixture.mjs";
import { refreshGrant } from "./lib/oauth.mjs";
import { assertCallback, assertWhoami, browserDrivenProvider, staleAccessToken } from "./lib/sdk-harness.mjs";

const EMAIL = "grace@example.com";
const CLIENT_NAME = "E2E v1 SDK client";
const STEP = { timeout: 60_000 };
const HOOK = { timeout: 90_000 };

describe("MCP SDK v1 client against wrangler dev", { timeout: 240_000 }, () => {
  /** @type {import("./lib/fixture.mjs").DevServer} */
  let server;
  /** @type {Awaited<ReturnType<typeof browserDrivenProvider>>} */
  let harness;
  /** @type {Client | undefined} */
  let client;
  /** @type {StreamableHTTPClientTransport | undefined} */
  let transport;

  const newClient = () => new Client({ name: "countersign-e2e-v1", version: "1.0.0" });
  const newTransport = () =>
    new StreamableHTTPClientTransport(new URL(server.resource), { authProvider: harness.provider });
  const expected = () => ({
    email: EMAIL,
    clientName: CLIENT_NAME,
    clientId: harness.provider.client.client_id,
    issuer: server.origin,
  });

  before(async () => {
    server = await startDevServer({ label: "mcp-client-v1" });
    harness = await browserDrivenProvider({ origin: server.origin, email: EMAIL, clientName: CLIENT_NAME });
  }, HOOK);

  after(async () => {
    await client?.close().catch(() => {});
    await server?.stop();
  });

  test("an unauthorized connect registers the client and sends the person to consent", STEP, async () => {
    const first = newClient();
    await assert.rejects(first.connect(newTransport()), (error) => error instanceof UnauthorizedError);
    await first.close().catch(() => {});

    const { provider, callbacks } = harness;
    assert.ok(provider.client?.client_id, "dynamic client registration stored a client_id");
    const url = provider.authorizationUrls[0];
    assert.equal(`${url.origin}${url.pathname}`, `${server.origin}/authorize`);
    assert.equal(url.searchParams.get("code_challenge_method"), "S256");
    assert.equal(url.searchParams.get("resource"), server.resource);
    assert.equal(callbacks.length, 1);
    assertCallback(callbacks[0], {
      redirectUrl: harness.redirectUrl,
      state: provider.lastState,
      issuer: server.origin,
    });
  });

  test("finishAuth redeems the code and a new connection negotiates a 2025 protocol", STEP, async () => {
    transport = newTransport();
    await transport.finishAuth(harness.callbacks[0].searchParams.get("code"));
    assert.ok(harness.provider.tokens()?.access_token);
    assert.ok(harness.provider.tokens()?.refresh_token);

    client = newClient();
    await client.connect(transport);
    const version = transport.protocolVersion;
    assert.match(version ?? "", /^2025-\d\d-\d\d$/, `negotiated ${version}`);
    assert.ok(SUPPORTED_PROTOCOL_VERSIONS.includes(version));
    assert.equal(client.getServerVersion()?.name, "countersign");
  });

  test("whoami names the person, the registered client and its scopes", STEP, async () => {
    assert.ok(client);
    assertWhoami(await client.callTool({ name: "whoami", arguments: {} }), expected());
  });

  test("a stale access token is refreshed by the SDK, then refresh rotation holds", STEP, async () => {
    assert.ok(client);
    const { provider } = harness;
    const original = provider.tokens();

    staleAccessToken(provider);
    assertWhoami(await client.callTool({ name: "whoami", arguments: {} }), expected());
    assert.equal(provider.tokenHistory.length, 2, "the 401 led to one refresh");
    assert.notEqual(provider.tokens().access_token, original.access_token);
    assert.notEqual(provider.tokens().refresh_token, original.refresh_token);

    assert.equal(await auth(provider, { serverUrl: server.resource }), "AUTHORIZED");
    assert.equal(provider.tokenHistory.length, 3);
    assertWhoami(await client.callTool({ name: "whoami", arguments: {} }), expected());
    assert.equal(provider.authorizationUrls.length, 1, "no new consent was needed");

    const replay = await refreshGrant(server.origin, {
      clientId: provider.client.client_id,
      refreshToken: original.refresh_token,
    });
    assert.equal(replay.status, 400, JSON.stringify(replay.body));
    assert.equal(replay.body.error, "invalid_grant");
  });
});
