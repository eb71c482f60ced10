/**
 * /activity for the signed-in person: what is pending and live, connected apps, history,
 * revoking, disconnecting an app (its MCP token stops working) and the JSON export.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { csrfToken } from "../../src/approvals/link";
import { loadConfig } from "../../src/config";
import { sessionFor, type UserSession } from "../../src/session/user-session";
import { location, TestBrowser } from "../helpers/browser";
import { FakeIdp } from "../helpers/fake-idp";
import { askSession, decideOnPage, tool } from "../helpers/grants";
import { mcpRequest, signedInClient } from "../helpers/oauth";

let idp: FakeIdp;
beforeEach(async () => {
  idp = await FakeIdp.create();
  idp.install();
});

async function personWithActivity() {
  const client = await signedInClient(idp, `act-${crypto.randomUUID()}`, "act@example.com");
  const pending = await askSession(client.tokens.access_token, { providers: ["github"], reason: "read the roadmap" });
  const live = await askSession(client.tokens.access_token, { providers: ["linear"], reason: "file the bug" });
  await decideOnPage(client.browser, live.approval_url, "approve", { providers: ["linear"] });
  const whoami = (await tool(client.tokens.access_token, "whoami")).structured;
  const config = loadConfig(env);
  if (!config.ok) throw new Error("config");
  const csrf = await csrfToken(config.value, whoami?.user.id, "activity");
  return {
    ...client,
    pending,
    live,
    csrf,
    connectionId: whoami?.client.connection_id as string,
    userId: whoami?.user.id as string,
    clientId: client.client.client_id,
  };
}

describe("/activity", () => {
  it("sends a signed-out visitor to sign in", async () => {
    const response = await new TestBrowser().get("/activity");
    expect(response.status).toBe(302);
    expect(location(response).searchParams.get("return_to")).toBe("/activity");
  });

  it("shows pending requests, live access with time left, connected apps and history", async () => {
    const { browser } = await personWithActivity();
    const response = await browser.get("/activity");
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain("read the roadmap");
    expect(html).toContain("file the bug");
    expect(html).toMatch(/\d+ min( \d+ s)? left/);
    expect(html).toContain("Test Client");
    for (const event of ["requested", "approved"]) expect(html).toContain(`<strong>${event}</strong>`);
    expect(response.headers.get("Cache-Control")).toContain("no-store");
  });

  it("revokes a live grant from the page", async () => {
    const { browser, tokens, live, csrf } = await personWithActivity();
    const response = await browser.post(`/activity/grants/${live.request_id}/revoke`, { csrf });
    expect(response.status).toBe(303);
    const status = await tool(tokens.access_token, "check_access_request", { request_id: live.request_id });
    expect(status.structured?.status).toBe("revoked");
    expect((await tool(tokens.access_token, "whoami")).structured?.authority.grants).toEqual([]);
  });

  it("refuses activity POSTs without the CSRF token or from another site", async () => {
    const { browser, tokens, live, csrf } = await personWithActivity();
    expect((await browser.post(`/activity/grants/${live.request_id}/revoke`, {})).status).toBe(403);
    expect(
      (await browser.post(`/activity/grants/${live.request_id}/revoke`, { csrf }, { Origin: "https://evil.test" }))
        .status,
    ).toBe(403);
    expect((await tool(tokens.access_token, "whoami")).structured?.authority.grants).toHaveLength(1);
  });

  it("disconnects an app: its grants end, its consent is forgotten and its token stops working", async () => {
    const { browser, tokens, connectionId, csrf, userId, clientId } = await personWithActivity();
    const before = await runInDurableObject(sessionFor(env.SESSION, userId), (instance: UserSession) =>
      instance.consentCovers(
        { clientId, redirectUri: "https://client.test/callback", resource: "https://countersign.test/mcp" },
        ["mcp"],
      ),
    );
    expect(before).toBe(true);
    const response = await browser.post(`/activity/connections/${connectionId}/revoke`, { csrf });
    expect(response.status).toBe(303);
    const after = await mcpRequest(tokens.access_token, { jsonrpc: "2.0", id: 1, method: "tools/list" });
    expect(after.status).toBe(401);
    const html = await (await browser.get("/activity")).text();
    expect(html).toContain("<strong>connection revoked</strong>");
    expect(html).not.toContain(`/activity/connections/${connectionId}/revoke`);
    expect(html).toContain("No requests are waiting.");
    const remembered = await runInDurableObject(sessionFor(env.SESSION, userId), (instance: UserSession) =>
      instance.consentCovers(
        { clientId, redirectUri: "https://client.test/callback", resource: "https://countersign.test/mcp" },
        ["mcp"],
      ),
    );
    expect(remembered).toBe(false);
    expect(html).toContain("No assistant holds any access right now.");
  });

  it("exports everything as a JSON attachment without secrets", async () => {
    const { browser, tokens, live } = await personWithActivity();
    const response = await browser.get("/activity/export.json");
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Disposition")).toContain("attachment");
    const text = await response.text();
    const data = JSON.parse(text) as { grants: { id: string }[]; audit: unknown[]; connections: unknown[] };
    expect(data.grants.map((grant) => grant.id)).toContain(live.request_id);
    expect(data.audit.length).toBeGreaterThanOrEqual(3);
    expect(data.connections).toHaveLength(1);
    expect(text).not.toContain(tokens.access_token);
    expect(text).not.toContain(new URL(live.approval_url).searchParams.get("t") as string);
    expect(text).not.toContain("link_token_hash");
    expect(text).not.toContain("linkTokenHash");
  });
});
