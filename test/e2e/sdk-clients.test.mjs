// The MCP SDK clients end to end, each claim once per SDK: the v1 client
// (@modelcontextprotocol/sdk, 2025-era) and the v2 client (@modelcontextprotocol/client).
// Discovery from the 401, dynamic registration, PKCE, consent + dev sign-in in the emulated
// browser, the negotiated protocol, whoami, and refresh-token rotation (SDK-driven on a 401,
// then explicit). One dev server; each SDK signs in as its own person.
// Where the SDKs genuinely differ, PROTOCOL says so: v1 speaks a 2025 protocol, v2 2026-07-28.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SUPPORTED_PROTOCOL_VERSIONS as V1_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js";
import { startDevServer } from "./lib/fixture.mjs";
import { refreshGrant } from "./lib/oauth.mjs";
import { SDKS } from "./lib/sdk-connect.mjs";
import { assertCallback, assertWhoami, browserDrivenProvider, staleAccessToken } from "./lib/sdk-harness.mjs";

const STEP = { timeout: 60_000 };
const HOOK = { timeout: 90_000 };
const PEOPLE = {
  v1: { email: "grace@example.com", clientName: "E2E v1 SDK client" },
  v2: { email: "ada@example.com", clientName: "E2E v2 SDK client" },
};

/** What each SDK negotiates with us, checked on the connected client and its transport. */
const PROTOCOL = {
  v1: {
    label: "a 2025 protocol",
    check(_client, transport) {
      const version = transport.protocolVersion;
      assert.match(version ?? "", /^2025-\d\d-\d\d$/, `negotiated ${version}`);
      assert.ok(V1_PROTOCOL_VERSIONS.includes(version));
    },
  },
  v2: {
    label: "2026-07-28",
    check(client, transport) {
      assert.equal(client.getNegotiatedProtocolVersion(), "2026-07-28");
      assert.equal(client.getProtocolEra(), "modern");
      assert.equal(transport.protocolVersion, "2026-07-28");
    },
  },
};

/** @type {import("./lib/fixture.mjs").DevServer} */
let server;

before(async () => {
  server = await startDevServer({ label: "sdk-clients" });
}, HOOK);

after(async () => {
  await server?.stop();
});

for (const sdk of SDKS) {
  const { email, clientName } = PEOPLE[sdk.name];
  const protocol = PROTOCOL[sdk.name];

  describe(`MCP SDK ${sdk.name} client (${sdk.packageName}) against wrangler dev`, { timeout: 240_000 }, () => {
    /** @type {Awaited<ReturnType<typeof browserDrivenProvider>>} */
    let harness;
    /** @type {any} */
    let client;
    /** @type {any} */
    let transport;
    /** @type {string} */
    let connectionId;

    const newTransport = () => sdk.newTransport(new URL(server.resource), harness.provider);
    const whoami = () => client.callTool({ name: "whoami", arguments: {} });
    const expected = () => ({ email, clientName, clientId: harness.provider.client.client_id, issuer: server.origin });

    before(async () => {
      harness = await browserDrivenProvider({ origin: server.origin, email, clientName });
    }, HOOK);

    after(async () => {
      await client?.close().catch(() => {});
    });

    test("an unauthorized connect registers the client and sends the person to consent", STEP, async () => {
      const first = sdk.newClient();
      await assert.rejects(first.connect(newTransport()), (error) => error instanceof sdk.UnauthorizedError);
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

    test(`finishAuth redeems the code and a new connection negotiates ${protocol.label}`, STEP, async () => {
      transport = newTransport();
      await sdk.finishAuth(transport, harness.callbacks[0]);
      const tokens = harness.provider.tokens();
      assert.ok(tokens?.access_token, "access token stored");
      assert.ok(tokens?.refresh_token, "refresh token stored");
      assert.equal(tokens.token_type.toLowerCase(), "bearer");

      client = sdk.newClient();
      await client.connect(transport);
      protocol.check(client, transport);
      assert.equal(client.getServerVersion()?.name, "countersign");
    });

    test("whoami names the person, the registered client and its scopes", STEP, async () => {
      assert.ok(client);
      const tools = await client.listTools();
      assert.ok(tools.tools.some((tool) => tool.name === "whoami"));
      const who = assertWhoami(await whoami(), expected());
      connectionId = who.client.connection_id;
    });

    test("a stale access token makes the SDK refresh and retry transparently", STEP, async () => {
      assert.ok(client);
      const { provider } = harness;
      const previous = provider.tokens();
      staleAccessToken(provider);

      const who = assertWhoami(await whoami(), expected());
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

      assert.equal(await sdk.auth(provider, { serverUrl: server.resource }), "AUTHORIZED");
      const current = provider.tokens();
      assert.equal(provider.tokenHistory.length, 3);
      assert.notEqual(current.access_token, previous.access_token);
      assert.notEqual(current.refresh_token, previous.refresh_token);
      assertWhoami(await whoami(), expected());
      assert.equal(provider.authorizationUrls.length, 1, "no new consent was needed");

      const replay = await refreshGrant(server.origin, {
        clientId: provider.client.client_id,
        refreshToken: original.refresh_token,
      });
      assert.equal(replay.status, 400, JSON.stringify(replay.body));
      assert.equal(replay.body.error, "invalid_grant");
    });
  });
}
