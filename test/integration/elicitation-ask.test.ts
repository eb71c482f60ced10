/**
 * request_elevated_access offered as a URL elicitation (issue 14 part 1), through the Worker with
 * real tokens: the SDK v2 client pinned to 2026-07-28 and raw 2025-11-25 messages. A client that
 * declared URL mode gets the request's approval link as an elicitation and the tool's result is
 * the decision (approved, denied with the note, expired) under `decision`; a client without the
 * capability gets today's pending result, byte for byte. Every refused retry asserts its code AND
 * that no second request was stored and nothing was approved.
 */
import { env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { sessionFor, type UserSession } from "../../src/session/user-session";
import { errorOf, legacyCall, legacyInitialize, type Message, modernClient } from "../helpers/elicitation";
import { FakeIdp } from "../helpers/fake-idp";
import { resetFetchRoutes } from "../helpers/fetch-router";
import { decideOnPage, tool } from "../helpers/grants";
import { signedInClient } from "../helpers/oauth";
import { connectOAuth, fakeTokenEndpoint } from "../helpers/providers";

const ASK = { kind: "broad", level: "read", providers: ["github"], reason: "Read my profile" };
const APPROVAL_LINK = /^https:\/\/countersign\.test\/approve\/(req_[A-Za-z0-9_-]{22})\?t=[A-Za-z0-9_-]{43}$/;
const TODAY_KEYS = ["request_id", "approval_url", "status", "expires_at", "coalesced"];

let idp: FakeIdp;
beforeEach(async () => {
  resetFetchRoutes();
  idp = await FakeIdp.create();
  idp.install();
});

async function person(label = "ask") {
  const client = await signedInClient(idp, `${label}-${crypto.randomUUID()}`);
  const whoami = (await tool(client.tokens.access_token, "whoami")).structured;
  return { ...client, userId: whoami?.user.id as string, token: client.tokens.access_token };
}
type Person = Awaited<ReturnType<typeof person>>;

function rows(userId: string, query: string, ...bindings: unknown[]) {
  return runInDurableObject(sessionFor(env.SESSION, userId), (_instance: UserSession, state) =>
    state.storage.sql.exec(query, ...bindings).toArray(),
  );
}

const grantsOf = (who: Person) => rows(who.userId, "SELECT id, status FROM grants");
const idOf = (url: string) => APPROVAL_LINK.exec(url)?.[1] as string;

async function decide(who: Person, url: string, decision: "approve" | "deny", fields: Record<string, string> = {}) {
  const response = await decideOnPage(who.browser, url, decision, { providers: ["github"], level: "read", ...fields });
  expect(response.status).toBe(200);
}

/** A v2 client whose URL prompt runs `onLink` (the person's side) and then answers `action`. */
function askingClient(who: Person, onLink: (url: string) => Promise<unknown>, action: "accept" | "decline" = "accept") {
  const links: string[] = [];
  const client = modernClient(who.token, {
    onElicit: async ({ url, message }) => {
      links.push(url);
      expect(message).toContain("read access to github");
      await onLink(url);
      return action;
    },
  });
  return { links, client };
}

describe("request_elevated_access as a URL elicitation on 2026-07-28", () => {
  it("returns the approval itself: status approved and check_access_request's view under decision", async () => {
    const who = await person();
    const { links, client } = askingClient(who, (url) => decide(who, url, "approve"));
    const result = await (await client).call("request_elevated_access", ASK);
    expect(errorOf(result)).toBeNull();
    expect(links).toHaveLength(1);
    const id = idOf(links[0] as string);
    const out = result.structuredContent as Message;
    expect(out).toMatchObject({ request_id: id, approval_url: links[0], status: "approved", coalesced: false });
    expect(out.decision).toMatchObject({
      request_id: id,
      kind: "broad",
      status: "approved",
      level: "read",
      providers: ["github"],
      note: null,
    });
    expect(out.decision.instructions).toContain("Approved.");
    expect(await grantsOf(who)).toEqual([{ id, status: "approved" }]);
  });

  it("holds the retry while the person has not decided, and wakes it with the decision", async () => {
    const who = await person();
    const { client } = askingClient(who, async (url) => {
      setTimeout(() => void decide(who, url, "approve"), 100);
    });
    const out = (await (await client).call("request_elevated_access", ASK)).structuredContent as Message;
    expect(out.status).toBe("approved");
    expect(out.decision.status).toBe("approved");
  });

  it("returns a denial as the decided view with the person's note, approving nothing", async () => {
    const who = await person();
    const { client } = askingClient(who, (url) => decide(who, url, "deny", { note: "ask for linear instead" }));
    const result = await (await client).call("request_elevated_access", ASK);
    const out = result.structuredContent as Message;
    expect(out.status).toBe("denied");
    expect(out.decision).toMatchObject({ status: "denied", note: "ask for linear instead" });
    expect((result.content as { text: string }[])[0]?.text).toContain("ask for linear instead");
    expect((await grantsOf(who)).map((grant) => grant.status)).toEqual(["denied"]);
  });

  it("returns expired when the request lapses undecided, approving nothing", async () => {
    const who = await person();
    const { client } = askingClient(who, (url) =>
      rows(who.userId, "UPDATE grants SET pending_expires_at = 1 WHERE id = ?", idOf(url)),
    );
    const out = (await (await client).call("request_elevated_access", ASK)).structuredContent as Message;
    expect(out.status).toBe("expired");
    expect(out.decision.status).toBe("expired");
    expect((await grantsOf(who)).map((grant) => grant.status)).not.toContain("approved");
  });

  it("falls back to today's pending result when the person closes the prompt, the request left open", async () => {
    const who = await person();
    const { links, client } = askingClient(who, async () => {}, "decline");
    const out = (await (await client).call("request_elevated_access", ASK)).structuredContent as Message;
    expect(Object.keys(out)).toEqual(TODAY_KEYS);
    expect(out).toMatchObject({ request_id: idOf(links[0] as string), status: "pending" });
    expect((await grantsOf(who)).map((grant) => grant.status)).toEqual(["pending"]);
  });

  it("gives a client without URL elicitation today's result byte for byte, and a valid tools/list", async () => {
    const ada = await person("plain-ada");
    const bob = await person("plain-bob");
    const mcp = await modernClient(ada.token, { urlElicitation: false });
    const modern = await mcp.call("request_elevated_access", ASK);
    const today = await tool(bob.token, "request_elevated_access", ASK);
    const normal = (value: unknown, out: Message) =>
      JSON.stringify(value)
        .replaceAll(out.approval_url, "URL")
        .replaceAll(out.request_id, "ID")
        .replaceAll(out.expires_at, "AT");
    const out = modern.structuredContent as Message;
    expect(Object.keys(out)).toEqual(TODAY_KEYS);
    expect(normal(modern.content, out)).toBe(normal([{ type: "text", text: today.text }], today.structured as Message));
    expect(normal(out, out)).toBe(normal(today.structured, today.structured as Message));
    const listed = (await mcp.client.listTools()).tools.find((entry) => entry.name === "request_elevated_access");
    const schema = listed?.outputSchema as Message;
    expect(schema.properties.status.enum).toContain("pending");
    expect(schema.required).not.toContain("decision");
    expect(await grantsOf(ada)).toHaveLength(1);
  });
});

/** A v2 client whose retry is rewritten by `change` before it leaves; the person approves first. */
async function tamperedAsk(who: Person, change: (params: Message) => void) {
  const mcp = await modernClient(who.token, {
    onElicit: async ({ url }) => {
      await decide(who, url, "approve");
      return "accept";
    },
    rewrite: (message) => {
      if (message.method === "tools/call" && message.params?.requestState) change(message.params);
      return message;
    },
  });
  return mcp.call("request_elevated_access", ASK);
}

describe("request_elevated_access on 2026-07-28: refused request states", () => {
  const flip = (state: string) => state.slice(0, -2) + (state.endsWith("AA") ? "BB" : "AA");
  const cases: [string, (params: Message) => void, string][] = [
    ["a flipped MAC", (p) => Object.assign(p, { requestState: flip(p.requestState) }), "mac"],
    ["garbage", (p) => Object.assign(p, { requestState: "not-a-state" }), "malformed"],
    ["other arguments", (p) => Object.assign(p, { arguments: { ...p.arguments, level: "write" } }), "other_call"],
    ["another reason", (p) => Object.assign(p, { arguments: { ...p.arguments, reason: "x" } }), "other_call"],
  ];
  for (const [label, change, reason] of cases) {
    it(`refuses a retry with ${label} (${reason}), storing no second request and reporting nothing`, async () => {
      const who = await person();
      const error = errorOf(await tamperedAsk(who, change));
      expect(error?.code).toBe("request_state_invalid");
      expect(error?.reason).toBe(reason);
      expect(await grantsOf(who)).toHaveLength(1);
      expect(await rows(who.userId, "SELECT used_at FROM elicitations")).toEqual([{ used_at: null }]);
    });
  }

  it("refuses a call_integration_api state on a request_elevated_access retry (other_call)", async () => {
    const who = await person();
    fakeTokenEndpoint("https://github.com");
    await connectOAuth(who.browser, who.userId, "github");
    const caller = await modernClient(who.token, { onElicit: async () => "decline" });
    await caller.call("call_integration_api", { method: "GET", url: "https://api.github.com/user" });
    const stolen = caller.received.find((message) => message.result?.requestState)?.result.requestState as string;
    expect(stolen).toMatch(/^v1\./);
    const error = errorOf(
      await tamperedAsk(who, (params) => {
        params.requestState = stolen;
      }),
    );
    expect(error?.code).toBe("request_state_invalid");
    expect(error?.reason).toBe("other_call");
    // Both asked for read on GitHub, so they share one request (coalesced): even naming the very
    // request just approved, the call's state reports nothing to the ask, and neither link is used.
    expect((await grantsOf(who)).map((grant) => grant.status)).toEqual(["approved"]);
    expect(await rows(who.userId, "SELECT used_at FROM elicitations")).toEqual([{ used_at: null }, { used_at: null }]);
  });
});

describe("request_elevated_access as a URL elicitation on 2025-11-25", () => {
  it("answers -32042 with the link; the retry of the same ask returns the approval", async () => {
    const who = await person();
    await legacyInitialize(who.token, { elicitation: { url: {} } });
    const first = await legacyCall(who.token, "request_elevated_access", ASK);
    expect(first.error?.code).toBe(-32042);
    const [elicitation] = (first.error?.data.elicitations ?? []) as {
      mode: string;
      url: string;
      elicitationId: string;
    }[];
    expect(elicitation?.mode).toBe("url");
    expect(elicitation?.url).toMatch(APPROVAL_LINK);
    const id = idOf(elicitation?.url as string);
    expect(elicitation?.elicitationId).toBe(id);
    await decide(who, elicitation?.url as string, "approve");
    const retry = await legacyCall(who.token, "request_elevated_access", ASK);
    expect(retry.result.structuredContent).toMatchObject({ request_id: id, status: "approved", coalesced: true });
    expect(retry.result.structuredContent.decision).toMatchObject({ status: "approved", level: "read" });
    expect(await grantsOf(who)).toEqual([{ id, status: "approved" }]);
  });

  it("holds a retry made before the decision and answers the denial with the note", async () => {
    const who = await person();
    await legacyInitialize(who.token, { elicitation: { url: {} } });
    const first = await legacyCall(who.token, "request_elevated_access", ASK);
    const url = first.error?.data.elicitations[0].url as string;
    setTimeout(() => void decide(who, url, "deny", { note: "not now" }), 100);
    const retry = await legacyCall(who.token, "request_elevated_access", ASK);
    expect(retry.result.structuredContent).toMatchObject({ status: "denied" });
    expect(retry.result.structuredContent.decision.note).toBe("not now");
    expect((await grantsOf(who)).map((grant) => grant.status)).toEqual(["denied"]);
  });

  it("keeps today's pending result for a connection that did not declare URL mode", async () => {
    const who = await person();
    await legacyInitialize(who.token, { elicitation: {} });
    const answer = await legacyCall(who.token, "request_elevated_access", ASK);
    expect(Object.keys(answer.result.structuredContent)).toEqual(TODAY_KEYS);
    expect(answer.result.structuredContent.status).toBe("pending");
    expect(await rows(who.userId, "SELECT * FROM elicitations")).toEqual([]);
  });
});

describe("elicitation state in the person's object", () => {
  it("leaves the person's object evictable after every use (initialize, elicited call, ask)", async () => {
    const who = await person("evictable");
    fakeTokenEndpoint("https://github.com");
    await connectOAuth(who.browser, who.userId, "github");
    await legacyInitialize(who.token, { elicitation: { url: {} } });
    const call = await legacyCall(who.token, "call_integration_api", {
      method: "GET",
      url: "https://api.github.com/user",
    });
    expect(call.error?.code).toBe(-32042);
    const mcp = await modernClient(who.token, { onElicit: async () => "decline" });
    expect((await mcp.call("request_elevated_access", ASK)).structuredContent).toMatchObject({ status: "pending" });
    // An RPC stub left open would pin the object: eviction would never finish. The elicitation
    // methods are plain RPC methods (no RpcTarget is handed out), and this stays the check.
    await evictDurableObject(sessionFor(env.SESSION, who.userId));
    expect(await rows(who.userId, "SELECT COUNT(*) AS n FROM elicitations")).toEqual([{ n: 2 }]);
  });
});
