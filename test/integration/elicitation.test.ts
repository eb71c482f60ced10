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

describe("URL elicitation on 2026-07-28: the decision", () => {
  it("holds a retry while the person has not decided, and wakes it with the approval", async () => {
    const who = await person();
    const mcp = await modernClient(who.token, {
      // A real client answers "accept" once it has opened the link, before the person decides.
      onElicit: async ({ url }) => {
        setTimeout(() => void decide(who, url, "approve"), 100);
        return "accept";
      },
    });
    const result = await mcp.call("call_integration_api", READ);
    expect(result.structuredContent).toMatchObject({ status: 200, provider: "github" });
    expect(seenAt(GH).filter((request) => request.url === `${GH}/user`)).toHaveLength(1);
  });

  it("answers a denial with access_denied and the person's note, sending nothing", async () => {
    const who = await person();
    const mcp = await modernClient(who.token, {
      onElicit: async ({ url }) => {
        await decide(who, url, "deny", { note: "not today" });
        return "accept";
      },
    });
    const error = errorOf(await mcp.call("call_integration_api", READ));
    expect(error?.code).toBe("access_denied");
    expect(error?.note).toBe("not today");
    expect(error?.message).toContain("not today");
    expect(seenAt(GH).filter((request) => request.url === `${GH}/user`)).toEqual([]);
  });

  it("answers expired when the request expires undecided, sending nothing and approving nothing", async () => {
    const who = await person();
    const mcp = await modernClient(who.token, {
      onElicit: async ({ url }) => {
        await rows(who.userId, "UPDATE grants SET pending_expires_at = 1 WHERE id = ?", idOf(url));
        return "accept";
      },
    });
    expect(errorOf(await mcp.call("call_integration_api", READ))?.code).toBe("expired");
    expect((await grantsOf(who)).map((grant) => grant.status)).not.toContain("approved");
    expect(seenAt(GH).filter((request) => request.url === `${GH}/user`)).toEqual([]);
  });

  it("makes a one-call approval for a write and runs exactly that call", async () => {
    const who = await person();
    const mcp = await modernClient(who.token, {
      onElicit: async ({ url }) => {
        await decide(who, url, "approve", { level: "write" });
        return "accept";
      },
    });
    const result = await mcp.call("call_integration_api", WRITE);
    expect(result.structuredContent).toMatchObject({ status: 200, access: "write" });
    expect((await grantsOf(who)).map((grant) => [grant.kind, grant.status])).toEqual([["call", "consumed"]]);
    expect(seenAt(GH).filter((request) => request.method === "POST")).toHaveLength(1);
  });

  it("never elicits when a never rule refuses: refused_by_rule, no request stored", async () => {
    const who = await person();
    const config = loadConfig(env);
    if (!config.ok) throw new Error("config");
    const csrf = await csrfToken(config.value, who.userId, "activity");
    const added = await who.browser.post("/activity/rules", {
      csrf,
      connection: "all",
      target: "github",
      rule: "never-read",
      hours: "8",
    });
    expect(added.status).toBe(303);
    let elicited = 0;
    const mcp = await modernClient(who.token, {
      onElicit: async () => {
        elicited++;
        return "accept";
      },
    });
    expect(errorOf(await mcp.call("call_integration_api", READ))?.code).toBe("refused_by_rule");
    expect(elicited).toBe(0);
    expect(await grantsOf(who)).toEqual([]);
    expect(await rows(who.userId, "SELECT * FROM elicitations")).toEqual([]);
  });

  it("gives a client without URL elicitation today's access_required, byte for byte, storing nothing", async () => {
    const who = await person();
    const mcp = await modernClient(who.token, { urlElicitation: false });
    const modern = await mcp.call("call_integration_api", READ);
    const legacy = await legacyCall(who.token, "call_integration_api", READ);
    expect(errorOf(modern)?.code).toBe("access_required");
    expect(modern.content).toEqual(legacy.result.content);
    expect(await grantsOf(who)).toEqual([]);
  });
});

/** A client whose retry is rewritten by `change` before it leaves (an attacker on its own wire). */
async function tamperedRetry(who: Person, change: (params: Message) => void, decision: "approve" | null = "approve") {
  const mcp = await modernClient(who.token, {
    onElicit: async ({ url }) => {
      if (decision) await decide(who, url, decision);
      return "accept";
    },
    rewrite: (message) => {
      if (message.method === "tools/call" && message.params?.requestState) change(message.params);
      return message;
    },
  });
  return mcp.call("call_integration_api", READ);
}

describe("URL elicitation on 2026-07-28: refused request states", () => {
  const flip = (state: string) => state.slice(0, -2) + (state.endsWith("AA") ? "BB" : "AA");
  const cases: [string, (params: Message) => void, string][] = [
    ["a flipped MAC", (p) => Object.assign(p, { requestState: flip(p.requestState) }), "mac"],
    ["garbage", (p) => Object.assign(p, { requestState: "not-a-state" }), "malformed"],
    ["an empty state", (p) => Object.assign(p, { requestState: "v1.." }), "malformed"],
    [
      "a body re-signed by nobody (request id swapped)",
      (p) => {
        const [v, body, mac] = (p.requestState as string).split(".");
        const json = JSON.parse(atob((body as string).replace(/-/g, "+").replace(/_/g, "/")));
        json.p.r = "req_AAAAAAAAAAAAAAAAAAAAAA";
        const forged = btoa(JSON.stringify(json)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
        p.requestState = `${v}.${forged}.${mac}`;
      },
      "mac",
    ],
  ];
  for (const [label, change, reason] of cases) {
    it(`refuses ${label} with request_state_invalid (${reason}); nothing sent`, async () => {
      const who = await person();
      const error = errorOf(await tamperedRetry(who, change));
      expect(error?.code).toBe("request_state_invalid");
      expect(error?.reason).toBe(reason);
      expect(seenAt(GH).filter((request) => request.url === `${GH}/user`)).toEqual([]);
      expect(await rows(who.userId, "SELECT used_at FROM elicitations")).toEqual([{ used_at: null }]);
    });
  }

  it("refuses a retry with other arguments (other_call): the approval is never used for it", async () => {
    const who = await person();
    const error = errorOf(
      await tamperedRetry(who, (params) => {
        params.arguments = { method: "GET", url: `${GH}/user/repos` };
      }),
    );
    expect(error?.code).toBe("request_state_invalid");
    expect(error?.reason).toBe("other_call");
    expect(seenAt(GH).filter((request) => request.url.startsWith(`${GH}/user`))).toEqual([]);
    expect(await rows(who.userId, "SELECT used_at FROM elicitations")).toEqual([{ used_at: null }]);
  });

  it("refuses another person's state (bind), approving nothing of either", async () => {
    const ada = await person("ada");
    const bob = await person("bob");
    let stolen = "";
    const adaClient = await modernClient(ada.token, {
      onElicit: async () => "decline",
      rewrite: (message) => message,
    });
    const first = await adaClient.call("call_integration_api", READ);
    expect(errorOf(first)?.reason).toBe("elicitation_declined");
    stolen = adaClient.received.find((message) => message.result?.requestState)?.result.requestState as string;
    expect(stolen).toMatch(/^v1\./);
    const error = errorOf(
      await tamperedRetry(
        bob,
        (params) => {
          params.requestState = stolen;
        },
        null,
      ),
    );
    expect(error?.code).toBe("request_state_invalid");
    expect(error?.reason).toBe("bind");
    expect((await grantsOf(ada)).map((grant) => grant.status)).toEqual(["pending"]);
    expect((await grantsOf(bob)).map((grant) => grant.status)).toEqual(["pending"]);
    expect(seenAt(GH).filter((request) => request.url === `${GH}/user`)).toEqual([]);
  });

  it("refuses a replayed state (replayed) once its call has run, sending nothing more", async () => {
    const who = await person();
    const mcp = await modernClient(who.token, {
      onElicit: async ({ url }) => {
        await decide(who, url, "approve");
        return "accept";
      },
    });
    expect(errorOf(await mcp.call("call_integration_api", READ))).toBeNull();
    const retry = mcp.sent.find((message) => message.method === "tools/call" && message.params?.requestState);
    expect(retry).toBeDefined();
    const replay = await modernClient(who.token, {
      rewrite: (message) =>
        message.method === "tools/call" ? { ...message, params: { ...message.params, ...pick(retry) } } : message,
    });
    const error = errorOf(await replay.call("call_integration_api", READ));
    expect(error?.code).toBe("request_state_invalid");
    expect(error?.reason).toBe("replayed");
    expect(seenAt(GH).filter((request) => request.url === `${GH}/user`)).toHaveLength(1);
  });
});

const pick = (message: Message | undefined) => ({
  requestState: message?.params.requestState,
  inputResponses: message?.params.inputResponses,
});

describe("URL elicitation on 2025-11-25", () => {
  it("answers -32042 with the approval link, and the client's retry of the same call runs it once approved", async () => {
    const who = await person();
    await legacyInitialize(who.token, { elicitation: { url: {} } });
    const first = await legacyCall(who.token, "call_integration_api", READ);
    expect(first.error?.code).toBe(-32042);
    const [elicitation] = (first.error?.data.elicitations ?? []) as {
      mode: string;
      url: string;
      elicitationId: string;
    }[];
    expect(elicitation?.mode).toBe("url");
    expect(elicitation?.url).toMatch(APPROVAL_LINK);
    expect(elicitation?.elicitationId).toBe(idOf(elicitation?.url as string));
    await decide(who, elicitation?.url as string, "approve");
    const retry = await legacyCall(who.token, "call_integration_api", READ);
    expect(retry.result.structuredContent).toMatchObject({ status: 200, provider: "github" });
    expect((await grantsOf(who)).map((grant) => grant.status)).toEqual(["approved"]);
  });

  it("finds the request again on a retry and answers the person's denial", async () => {
    const who = await person();
    await legacyInitialize(who.token, { elicitation: { url: {} } });
    const first = await legacyCall(who.token, "call_integration_api", READ);
    const url = first.error?.data.elicitations[0].url as string;
    await decide(who, url, "deny", { note: "use the API key instead" });
    const retry = await legacyCall(who.token, "call_integration_api", READ);
    const body = JSON.parse(retry.result.content[0].text).error;
    expect(body.code).toBe("access_denied");
    expect(body.note).toBe("use the API key instead");
    expect(seenAt(GH).filter((request) => request.url === `${GH}/user`)).toEqual([]);
  });

  it("a write retried with other arguments makes a new request and never uses the first approval", async () => {
    const who = await person();
    await legacyInitialize(who.token, { elicitation: { url: {} } });
    const first = await legacyCall(who.token, "call_integration_api", WRITE);
    const url = first.error?.data.elicitations[0].url as string;
    await decide(who, url, "approve", { level: "write" });
    const other = await legacyCall(who.token, "call_integration_api", { ...WRITE, body: '{"title":"other"}' });
    expect(other.error?.code).toBe(-32042);
    expect(other.error?.data.elicitations[0].url).not.toBe(url);
    expect(seenAt(GH).filter((request) => request.method === "POST")).toEqual([]);
    expect((await grantsOf(who)).map((grant) => [grant.kind, grant.status]).sort()).toEqual([
      ["call", "approved"],
      ["call", "pending"],
    ]);
  });

  it("keeps today's access_required for a connection that did not declare URL mode", async () => {
    const who = await person();
    await legacyInitialize(who.token, { elicitation: {} });
    const answer = await legacyCall(who.token, "call_integration_api", READ);
    expect(JSON.parse(answer.result.content[0].text).error.code).toBe("access_required");
    expect(await grantsOf(who)).toEqual([]);
    expect(await rows(who.userId, "SELECT url_elicitation FROM client_capabilities")).toEqual([{ url_elicitation: 0 }]);
  });
});
