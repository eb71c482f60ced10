/**
 * The whole MCP sign-in through the Worker: registration, consent, OIDC sign-in, code exchange,
 * whoami, refresh rotation, and the user's Durable Object seeing the connection.
 */
import { beforeEach, describe, expect, it } from "vitest";
import type { WhoamiResult } from "../../src/mcp/tools/whoami";
import { FakeIdp } from "../helpers/fake-idp";
import { callTool, signedInClient, tokenRequest } from "../helpers/oauth";

let idp: FakeIdp;
beforeEach(async () => {
  idp = await FakeIdp.create();
  idp.install();
});

describe("MCP sign-in through OIDC", () => {
  it("issues tokens a client can use to call whoami", async () => {
    const { client, tokens } = await signedInClient(idp);
    expect(tokens.scope.split(" ").sort()).toEqual(["mcp", "offline_access"]);
    const { status, message } = await callTool(tokens.access_token, "whoami");
    expect(status).toBe(200);
    const result = message.result as { structuredContent: WhoamiResult; content: { text: string }[] };
    expect(result.structuredContent.user.email).toBe("ada@example.com");
    expect(result.structuredContent.user.issuer).toBe("https://idp.test");
    expect(result.structuredContent.user.subject).toBe("user-ada");
    expect(result.structuredContent.client.id).toBe(client.client_id);
    expect(result.structuredContent.client.name).toBe("Test Client");
    expect(result.structuredContent.authority.grants).toEqual([]);
    expect(result.content[0]?.text).toContain("ada@example.com");
  });

  it("rotates refresh tokens and rejects the old one once the new one is used", async () => {
    const { client, tokens } = await signedInClient(idp);
    const refresh = (token: string) =>
      tokenRequest({ grant_type: "refresh_token", client_id: client.client_id, refresh_token: token });
    const first = await refresh(tokens.refresh_token);
    expect(first.status).toBe(200);
    const rotated = (await first.json()) as { access_token: string; refresh_token: string };
    expect(rotated.refresh_token).not.toBe(tokens.refresh_token);
    expect((await callTool(rotated.access_token, "whoami")).status).toBe(200);
    const second = await refresh(rotated.refresh_token);
    expect(second.status).toBe(200);
    const replay = await refresh(tokens.refresh_token);
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: string }).error).toBe("invalid_grant");
  });
});
