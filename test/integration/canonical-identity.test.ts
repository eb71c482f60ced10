/**
 * Canonical request identity through the Worker (issue 13, part 1), with a fake GitHub at the
 * fetch boundary: tool arguments carrying prototype keys are refused before the SDK sees them
 * and never consume a one-call approval; ambiguous paths, path-override headers and GraphQL
 * spellings are refused or judged as writes. Each test asserts the code AND that nothing was
 * sent, allowed or consumed.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { PROTOTYPE_KEY_REASON } from "../../src/mcp/guard";
import { sessionFor, type UserSession } from "../../src/session/user-session";
import { FakeIdp } from "../helpers/fake-idp";
import { resetFetchRoutes, seenAt } from "../helpers/fetch-router";
import { decideOnPage, tool } from "../helpers/grants";
import { mcpJson, mcpRequest, signedInClient } from "../helpers/oauth";
import { callApi, connectOAuth, fakeApi, fakeTokenEndpoint, grantAccess } from "../helpers/providers";

const GH = "https://api.github.com";
let idp: FakeIdp;

beforeEach(async () => {
  resetFetchRoutes();
  idp = await FakeIdp.create();
  idp.install();
});

async function withGithub() {
  const client = await signedInClient(idp, `identity-${crypto.randomUUID()}`);
  const userId = (await tool(client.tokens.access_token, "whoami")).structured?.user.id as string;
  fakeTokenEndpoint("https://github.com");
  fakeApi(GH, () => Response.json({ ok: true }));
  await connectOAuth(client.browser, userId, "github");
  return { ...client, userId, token: client.tokens.access_token };
}

const auditEvents = (userId: string) =>
  runInDurableObject(sessionFor(env.SESSION, userId), (_instance: UserSession, state) =>
    state.storage.sql.exec<{ event: string }>("SELECT event FROM audit ORDER BY seq").toArray(),
  ).then((rows) => rows.map((row) => row.event));

describe("tool arguments with prototype keys", () => {
  const CALL = { method: "POST", url: `${GH}/repos/a/b/issues`, body: '{"title":"Bug"}' };

  it.each([
    ["__proto__", '"__proto__":{"body":"{}"}'],
    ["constructor", '"headers":{"constructor":"x"}'],
    ["prototype", '"extra":[{"prototype":1}]'],
  ])("refuses %s with -32602 and leaves the one-call approval unused", async (key, extra) => {
    const person = await withGithub();
    const asked = await tool(person.token, "request_elevated_access", { kind: "call", ...CALL, reason: "file it" });
    await decideOnPage(person.browser, asked.structured?.approval_url, "approve");
    const requestId = asked.structured?.request_id as string;
    const before = await auditEvents(person.userId);
    const args = `{"method":"POST","url":${JSON.stringify(CALL.url)},"body":${JSON.stringify(CALL.body)},"request_id":${JSON.stringify(requestId)},${extra}}`;
    const response = await mcpRequest(
      person.token,
      `{"jsonrpc":"2.0","id":41,"method":"tools/call","params":{"name":"call_integration_api","arguments":${args}}}`,
    );
    const message = await mcpJson(response);
    expect(message).toMatchObject({ id: 41, error: { code: -32602, data: { reason: PROTOTYPE_KEY_REASON, key } } });
    expect(seenAt(GH)).toEqual([]);
    expect(await auditEvents(person.userId)).toEqual(before);
    const status = await tool(person.token, "check_access_request", { request_id: requestId });
    expect(status.structured?.status).toBe("approved");
    // The approval is still there for the call that was approved, exactly once.
    const used = await callApi(person.token, { ...CALL, request_id: requestId });
    expect(used.structured?.status).toBe(200);
    expect(seenAt(GH)).toHaveLength(1);
  });
});

describe("call_integration_api with ambiguous spellings", () => {
  it.each([
    [`${GH}/repos/a/b/issues/..%2f..%2f..%2fuser`, "ambiguous_path"],
    [`${GH}/repos/a/b;x/issues`, "ambiguous_path"],
    [`${GH}/repos//a/b`, "ambiguous_path"],
    [`${GH}/repos/a/b\\..\\c`, "ambiguous_path"],
    // WHATWG would read `\` as `/`; a lenient server might not: refused, not normalised.
    ["https://api.github.com\\user", "ambiguous_path"],
  ])("refuses %s as %s and sends nothing, even under write access", async (url, reason) => {
    const person = await withGithub();
    await grantAccess(person.token, person.browser, ["github"], "write");
    const before = await auditEvents(person.userId);
    const result = await callApi(person.token, { method: "POST", url, body: "{}" });
    expect(result.error?.code).toBe("invalid_request");
    expect(JSON.parse(result.text as string).error.reason).toBe(reason);
    expect(seenAt(GH)).toEqual([]);
    expect(await auditEvents(person.userId)).toEqual(before);
  });

  it.each([
    ["X-Original-URL"],
    ["X-Rewrite-URL"],
    ["x_original_url"],
    ["X-Forwarded-Prefix"],
    ["X-Envoy-Original-Path"],
  ])("refuses the path-override header %s and sends nothing", async (header) => {
    const person = await withGithub();
    await grantAccess(person.token, person.browser, ["github"], "read");
    const result = await callApi(person.token, { method: "GET", url: `${GH}/user`, headers: { [header]: "/admin" } });
    expect(result.error?.code).toBe("invalid_request");
    expect(JSON.parse(result.text as string).error.reason).toBe("header_forbidden");
    expect(seenAt(GH)).toEqual([]);
  });

  it.each([["/graphql/"], ["/GraphQL"], ["/graphq%6C"]])(
    "judges a GraphQL mutation sent to %s as a write under read access and sends nothing",
    async (path) => {
      const person = await withGithub();
      await grantAccess(person.token, person.browser, ["github"], "read");
      const query = encodeURIComponent('mutation { addStar(input: {starrableId: "x"}) { clientMutationId } }');
      const result = await callApi(person.token, { method: "GET", url: `${GH}${path}?query=${query}` });
      expect(result.error?.code).toBe("access_required");
      expect(JSON.parse(result.text as string).error.reason).toBe("read_only");
      expect(seenAt(GH)).toEqual([]);
    },
  );
});
