// End to end with the v2 MCP SDK client (@modelcontextprotocol/client): discovery from the 401,
// dynamic registration, PKCE, consent + dev sign-in in the emulated browser, the 2026-07-28
// protocol, whoami, and refresh-token rotation (SDK-driven on a 401, then explicit).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { auth, Client, StreamableHTTPClientTransport, UnauthorizedError } from "@modelcontextprotocol/client";
import { startDevServer } from "./lib/fixture.mjs";
import { refreshGrant } from "./lib/oauth.mjs";
import { assertCallback, assertWhoami, browserDrivenProvider, staleAccessToken } from "./lib/sdk-harness.mjs";

const EMAIL = "ada@example.com";
const CLIENT_NAME = "E2E v2 SDK client";
const STEP = { timeout: 60_000 };
const HOOK = { timeout: 90_000 };

describe("MCP SDK v2 client against wrangler dev", { timeout: 240_000 }, () => {
  /** @type {import("./lib/fixture.mjs").DevServer} */
  let server;
  /** @type {Awaited<ReturnType<typeof browserDrivenProvider>>} */
  let harness;
  /** @type {Client | undefined} */
  let client;
  /** @type {StreamableHTTPClientTransport | undefined} */
  let transport;
  /** @type {string} */
  let connectionId;

  const newClient = () =>
    new Client({ name: "countersign-e2e-v2", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  const newTransport = () =>
    new StreamableHTTPClientTransport(new URL(server.resource), { authProvider: harness.provider });
  const expected = () => ({
    email: EMAIL,
    clientName: CLIENT_NAME,
    clientId: harness.provider.client.client_id,
    issuer: server.origin,
  });

  before(async () => {
    server = await startDevServer({ label: "mcp-client-v2" });
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
    assert.equal(provider.authorizationUrls.length, 1);
    const url = provider.authorizationUrls[0];
    assert.equal(`${url.origin}${url.pathname}`, `${server.origin}/authorize`);
    assert.equal(url.searchParams.get("client_id"), provider.client.client_id);
    assert.equal(url.searchParams.get("code_challenge_method"), "S256");
    assert.match(url.searchParams.get("code_challenge") ?? "", /^[\w-]{43}$/);
    assert.equal(url.searchParams.get("resource"), server.resource);
    assert.ok(url.searchParams.get("scope")?.split(" ").includes("mcp"));
    assert.equal(callbacks.length, 1, "the browser came back to the client once");
    assertCallback(callbacks[0], {
      redirectUrl: harness.redirectUrl,
      state: provider.lastState,
      issuer: server.origin,
    });
  });

  test("finishAuth redeems the code and a new connection negotiates 2026-07-28", STEP, async () => {
    transport = newTransport();
    await transport.finishAuth(harness.callbacks[0].searchParams);
    const tokens = harness.provider.tokens();
    assert.ok(tokens?.access_token, "access token stored");
    assert.ok(tokens?.refresh_token, "refresh token stored");
    assert.equal(tokens.token_type.toLowerCase(), "bearer");

    client = newClient();
    await client.connect(transport);
    assert.equal(client.getNegotiatedProtocolVersion(), "2026-07-28");
    assert.equal(client.getProtocolEra(), "modern");
    assert.equal(transport.protocolVersion, "2026-07-28");
  });

  test("whoami names the person, the registered client and its scopes", STEP, async () => {
    assert.ok(client);
    const tools = await client.listTools();
    assert.ok(tools.tools.some((tool) => tool.name === "whoami"));
    const who = assertWhoami(await client.callTool({ name: "whoami", arguments: {} }), expected());
    connectionId = who.client.connection_id;
  });

  test("a stale access token makes the SDK refresh and retry transparently", STEP, async () => {
    assert.ok(client);
    const { provider } = harness;
    const previous = provider.tokens();
    staleAccessToken(provider);

    const who = assertWhoami(await client.callTool({ name: "whoami", arguments: {} }), expected());
    const current = provider.tokens();
    assert.equal(provider.tokenHistory.length, 2, "exactly one refresh happened");
    assert.notEqual(current.access_token, previous.access_token, "a new access token was issued");
    assert.notEqual(current.refresh_token, previous.refresh_token, "the refresh token was rotated");
    assert.equal(provider.authorizationUrls.length, 1, "no new consent was needed");
    assert.equal(who.client.connection_id, connectionId, "still the same connection");
  });

  test("refresh rotation: once the new refresh token is used, the old one is invalid_grant", STEP, async () => {
    assert.ok(client);
    const { provider } = harness;
    const original = provider.tokenHistory[0];
    const previous = provider.tokens();

    assert.equal(await auth(provider, { serverUrl: server.resource }), "AUTHORIZED");
    const current = provider.tokens();
    assert.equal(provider.tokenHistory.length, 3);
    assert.notEqual(current.access_token, previous.access_token);
    assert.notEqual(current.refresh_token, previous.refresh_token);
    assertWhoami(await client.callTool({ name: "whoami", arguments: {} }), expected());

    const replay = await refreshGrant(server.origin, {
      clientId: provider.client.client_id,
      refreshToken: original.refresh_token,
    });
    assert.equal(replay.status, 400, JSON.stringify(replay.body));
    assert.equal(replay.body.error, "invalid_grant");
  });
});
