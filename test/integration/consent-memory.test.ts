/**
 * Remembered consent and the user's Durable Object: a signed-in person who ticked "Don't ask
 * again" is not asked again by the same client + redirect URI for the same scopes; anything
 * else (more scopes, another user, a forgotten consent) brings the page back.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { userIdFor } from "../../src/identity/user";
import { sessionFor, type UserSession } from "../../src/session/user-session";
import { inputValue, location, TestBrowser } from "../helpers/browser";
import { FakeIdp } from "../helpers/fake-idp";
import {
  authorizeUrl,
  authorizeWithOidc,
  callTool,
  exchangeCode,
  oidcSignIn,
  pkce,
  registerClient,
} from "../helpers/oauth";

let idp: FakeIdp;
beforeEach(async () => {
  idp = await FakeIdp.create();
  idp.install();
});

async function firstAuthorization(scope = "mcp") {
  const client = await registerClient();
  const browser = new TestBrowser();
  const { verifier, challenge } = await pkce();
  const code = await authorizeWithOidc(browser, idp, { clientId: client.client_id, challenge, scope }, "mem-user");
  const tokens = await exchangeCode(client.client_id, code, verifier);
  return { client, browser, tokens };
}

describe("remembered consent", () => {
  it("skips the consent page for the same client, redirect URI and scopes", async () => {
    const { client, browser } = await firstAuthorization();
    const { verifier, challenge } = await pkce();
    const again = await browser.get(authorizeUrl({ clientId: client.client_id, challenge, scope: "mcp" }));
    expect(again.status).toBe(302);
    const code = location(again).searchParams.get("code") as string;
    expect(code).toBeTruthy();
    const tokens = await exchangeCode(client.client_id, code, verifier);
    expect(tokens.scope).toBe("mcp");
    // The library revoked the first grant of this client; its connection ends here too.
    const userId = await userIdFor("https://idp.test", "mem-user");
    const { connections } = await sessionFor(env.SESSION, userId).activity();
    const mine = connections.filter((connection) => connection.clientId === client.client_id);
    expect(mine).toHaveLength(2);
    expect(mine.filter((connection) => connection.revokedAt === null)).toHaveLength(1);
  });

  it("asks again when the client wants more scopes than were approved", async () => {
    const { client, browser } = await firstAuthorization("mcp");
    const { challenge } = await pkce();
    const again = await browser.get(
      authorizeUrl({ clientId: client.client_id, challenge, scope: "mcp offline_access" }),
    );
    expect(again.status).toBe(200);
    expect(inputValue(await again.text(), "handle")).toBeTruthy();
  });

  it("asks again for another user on the same browser", async () => {
    const { client, browser } = await firstAuthorization();
    browser.cookies.delete("__Host-cs_session");
    const toIdp = await oidcSignIn(browser, idp, "/signin?return_to=/", "someone-else");
    expect(toIdp.status).toBe(302);
    const { challenge } = await pkce();
    const again = await browser.get(authorizeUrl({ clientId: client.client_id, challenge, scope: "mcp" }));
    expect(again.status).toBe(200);
  });

  it("asks again once the person disconnects the client, which forgets its consent", async () => {
    const { client, browser } = await firstAuthorization();
    const userId = await userIdFor("https://idp.test", "mem-user");
    const session = sessionFor(env.SESSION, userId);
    const { connections } = await session.activity();
    const connection = connections.find((candidate) => candidate.clientId === client.client_id);
    expect(connection).toBeDefined();
    const revoked = await session.revokeConnection(connection?.connectionId ?? "");
    expect(revoked?.revokedAt).not.toBeNull();
    const key = {
      clientId: client.client_id,
      redirectUri: "https://client.test/callback",
      resource: "https://countersign.test/mcp",
    };
    expect(await session.consentCovers(key, ["mcp"])).toBe(false);
    const { challenge } = await pkce();
    const again = await browser.get(authorizeUrl({ clientId: client.client_id, challenge, scope: "mcp" }));
    expect(again.status).toBe(200);
  });

  it("does not remember when the person unticks it", async () => {
    const client = await registerClient();
    const browser = new TestBrowser();
    await oidcSignIn(browser, idp, "/signin?return_to=/", "untick-user");
    const { challenge } = await pkce();
    const page = await browser.get(authorizeUrl({ clientId: client.client_id, challenge, scope: "mcp" }));
    const handle = inputValue(await page.text(), "handle") as string;
    const done = await browser.post("/authorize", { handle, decision: "approve", scope: "mcp" });
    expect(done.status).toBe(302);
    expect(location(done).searchParams.get("code")).toBeTruthy();
    const again = await browser.get(authorizeUrl({ clientId: client.client_id, challenge, scope: "mcp" }));
    expect(again.status).toBe(200);
  });
});

describe("UserSession connections", () => {
  it("records the connection at authorization and when it was last used", async () => {
    const { client, tokens } = await firstAuthorization();
    await callTool(tokens.access_token, "whoami");
    const { message } = await callTool(tokens.access_token, "whoami");
    const structured = (message.result as { structuredContent: { client: { connection_id: string } } })
      .structuredContent;
    const userId = await userIdFor("https://idp.test", "mem-user");
    const stub = sessionFor(env.SESSION, userId);
    await runInDurableObject(stub, async (instance: UserSession) => {
      const { connections } = instance.activity();
      const mine = connections.find((connection) => connection.connectionId === structured.client.connection_id);
      expect(mine).toMatchObject({
        clientId: client.client_id,
        clientName: "Test Client",
        redirectUri: "https://client.test/callback",
        scopes: ["mcp"],
      });
      expect(mine).not.toHaveProperty("calls");
      expect(mine?.lastSeenAt).toBeGreaterThanOrEqual(mine?.authorizedAt ?? Number.POSITIVE_INFINITY);
    });
  });

  it("keeps each user's connections in that user's object only", async () => {
    await firstAuthorization();
    const other = sessionFor(env.SESSION, await userIdFor("https://idp.test", "nobody"));
    expect((await other.activity()).connections).toEqual([]);
  });
});
