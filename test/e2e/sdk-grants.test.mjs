// Grants end to end, each claim once per SDK client (v1 @modelcontextprotocol/sdk and v2
// @modelcontextprotocol/client): ask for access, the person approves through the fetch-based
// browser (same user's sign-in cookie, hidden t and csrf, our Origin), check_access_request sees
// it; re-POST is a 409; revoke_access ends it; a one-call request; and the input errors (unknown
// provider, bad durations, unknown id). One dev server; each SDK signs in as its own person.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { decideByFetch, decisionBody, pageTitle, signedInBrowser, structured, toolErrorBody } from "./lib/approval.mjs";
import { startDevServer } from "./lib/fixture.mjs";
import { connectClient, SDKS } from "./lib/sdk-connect.mjs";

const STEP = { timeout: 60_000 };
const HOOK = { timeout: 90_000 };
const PEOPLE = {
  v1: { email: "grace.grants@example.com", clientName: "E2E v1 grants client" },
  v2: { email: "ada.grants@example.com", clientName: "E2E v2 grants client" },
};

/** @type {import("./lib/fixture.mjs").DevServer} */
let server;

before(async () => {
  server = await startDevServer({ label: "sdk-grants" });
}, HOOK);

after(async () => {
  await server?.stop();
});

for (const sdk of SDKS) {
  const { email, clientName } = PEOPLE[sdk.name];

  describe(`grants with the ${sdk.name} SDK client and a fetch-based approver`, { timeout: 240_000 }, () => {
    /** @type {Awaited<ReturnType<typeof connectClient>>} */
    let mcp;
    /** @type {import("./lib/browser-flow.mjs").BrowserSession} */
    let owner;
    /** @type {string} */
    let sessionGrantId;

    before(async () => {
      mcp = await connectClient(sdk, server, { email, clientName });
      owner = await signedInBrowser(server.origin, email);
    }, HOOK);

    after(async () => {
      await mcp?.client.close().catch(() => {});
    });

    const request = async (args) => structured(await mcp.call("request_elevated_access", args), "request");
    const check = async (id, wait = 0) =>
      structured(await mcp.call("check_access_request", { request_id: id, wait_seconds: wait }), "check");
    const whoami = async () => structured(await mcp.call("whoami"), "whoami");

    test("a broad request, approved through the link, is approved for the client", STEP, async () => {
      const asked = await request({ kind: "broad", level: "read", providers: ["github"], reason: "Read my issues" });
      assert.equal(asked.status, "pending");
      assert.equal(asked.coalesced, false);
      assert.match(asked.request_id, /^req_/);
      const link = new URL(asked.approval_url);
      assert.equal(link.origin, server.origin);
      assert.equal(link.pathname, `/approve/${asked.request_id}`);
      assert.ok(link.searchParams.get("t"), "the link carries its token");
      assert.ok(Date.parse(asked.expires_at) > Date.now());
      assert.equal((await check(asked.request_id)).status, "pending");

      const decided = await decideByFetch(owner, asked.approval_url, { decision: "approve" });
      assert.equal(decided.status, 200, decided.html.slice(0, 300));
      assert.equal(pageTitle(decided.html).startsWith("Approved"), true, pageTitle(decided.html));
      assert.deepEqual(decided.form.offeredProviders, ["github"]);
      assert.deepEqual(decided.form.levels, ["read"], "write is not offered when read was asked");

      const view = await check(asked.request_id);
      assert.equal(view.status, "approved");
      assert.equal(view.kind, "broad");
      assert.equal(view.level, "read");
      assert.deepEqual(view.providers, ["github"]);
      assert.ok(view.seconds_left > 0 && view.seconds_left <= 300, `seconds_left ${view.seconds_left}`);
      assert.equal(view.note, null);
      assert.match(view.instructions, /Approved/);
      const grants = (await whoami()).authority.grants;
      assert.deepEqual(
        grants.map((grant) => grant.request_id),
        [asked.request_id],
      );
      sessionGrantId = asked.request_id;

      // The same form, sent again, finds the request already decided.
      const again = await owner.post(decided.form.action, decisionBody(decided.form, { decision: "deny" }));
      const html = await again.text();
      assert.equal(again.status, 409, html.slice(0, 300));
      assert.equal((await check(asked.request_id)).status, "approved", "the second decision changed nothing");
    });

    test("revoke_access ends the grant: check says revoked, whoami holds nothing", STEP, async () => {
      assert.ok(sessionGrantId, "the previous test approved a grant");
      const revoked = structured(await mcp.call("revoke_access", { request_id: sessionGrantId }), "revoke");
      assert.deepEqual(
        revoked.revoked.map((grant) => [grant.request_id, grant.status]),
        [[sessionGrantId, "revoked"]],
      );
      const view = await check(sessionGrantId);
      assert.equal(view.status, "revoked");
      assert.equal(view.seconds_left, 0);
      assert.deepEqual((await whoami()).authority.grants, []);
      const twice = structured(await mcp.call("revoke_access", { request_id: sessionGrantId }), "revoke again");
      assert.deepEqual(twice.revoked, [], "revoking twice is a no-op");
    });

    test("a one-call request for GET https://api.github.com/user is approved as kind call", STEP, async () => {
      const asked = await request({
        kind: "call",
        method: "GET",
        url: "https://api.github.com/user",
        reason: "Look up my GitHub login",
      });
      const decided = await decideByFetch(owner, asked.approval_url, { decision: "approve" });
      assert.equal(decided.status, 200, decided.html.slice(0, 300));
      assert.deepEqual(decided.form.offeredProviders, [], "a one-call request offers no provider choice");

      const view = await check(asked.request_id, 5);
      assert.equal(view.status, "approved");
      assert.equal(view.kind, "call");
      assert.deepEqual(view.call, {
        method: "GET",
        url: "https://api.github.com/user",
        body_sha256: null,
        body_bytes: 0,
        header_names: [],
      });
      assert.deepEqual(view.providers, ["github"]);
      assert.equal(view.level, "read");
      const grants = (await whoami()).authority.grants;
      assert.ok(grants.some((grant) => grant.request_id === asked.request_id && grant.kind === "call"));
      structured(await mcp.call("revoke_access", {}), "revoke all");
      assert.deepEqual((await whoami()).authority.grants, []);
    });

    test("unknown providers and hosts are tool errors with code unknown_provider", STEP, async () => {
      const provider = toolErrorBody(
        await mcp.call("request_elevated_access", { kind: "broad", providers: ["myspace"], reason: "x" }),
      );
      assert.equal(provider.error.code, "unknown_provider");
      assert.ok(provider.error.providers.includes("github"), "the error lists the known providers");
      const host = toolErrorBody(
        await mcp.call("request_elevated_access", {
          kind: "call",
          method: "GET",
          url: "https://evil.example/",
          reason: "x",
        }),
      );
      assert.equal(host.error.code, "unknown_provider");
    });

    test("duration_minutes of 0, -1 and 1e12 are refused and create no request", STEP, async () => {
      const before = await grantCount();
      for (const duration of [0, -1, 1e12]) {
        const args = { kind: "broad", providers: ["linear"], duration_minutes: duration, reason: "Too long" };
        const outcome = await mcp.call("request_elevated_access", args).then(
          (result) => ({ result }),
          (error) => ({ error }),
        );
        if (outcome.error) {
          assert.ok(outcome.error instanceof sdk.ProtocolError, String(outcome.error));
          assert.equal(outcome.error.code, -32602, `duration ${duration}: ${outcome.error.message}`);
          continue;
        }
        // Schema failures (0, -1) come back as the SDK's "Input validation error" tool result;
        // a whole number above the policy maximum (1e12) as our own invalid_request.
        const body = toolErrorBody(outcome.result);
        const invalid =
          body.error.code === "invalid_request" ||
          /^Input validation error:.*duration_minutes/.test(body.error.message);
        assert.ok(invalid, `duration ${duration}: ${JSON.stringify(body)}`);
        if (duration === 1e12) assert.equal(body.error.code, "invalid_request");
      }
      assert.equal(await grantCount(), before, "no request was created");
    });

    test("the person can only narrow: wider providers, level or duration are refused", STEP, async () => {
      const widenings = [
        { level: "write" },
        { providers: ["github", "slack"] },
        { providers: [] },
        { duration: "86400" },
      ];
      for (const [i, widen] of widenings.entries()) {
        const asked = await request({
          kind: "broad",
          level: "read",
          providers: ["github"],
          duration_minutes: i + 1, // distinct, so no request coalesces with an earlier one
          reason: `Narrowing case ${i}`,
        });
        const decided = await decideByFetch(owner, asked.approval_url, { decision: "approve", ...widen });
        assert.equal(decided.status, 400, `${JSON.stringify(widen)}: ${decided.html.slice(0, 300)}`);
        assert.equal((await check(asked.request_id)).status, "pending", `${JSON.stringify(widen)} decided nothing`);
        structured(await mcp.call("revoke_access", { request_id: asked.request_id }), "withdraw");
      }
    });

    // A hand-made form with a level that does not exist is refused, and nothing is stored.
    test("an unknown level in the approval POST is refused", STEP, async () => {
      const asked = await request({ kind: "broad", level: "read", providers: ["sentry"], reason: "Level check" });
      const decided = await decideByFetch(owner, asked.approval_url, { decision: "approve", level: "admin" });
      try {
        assert.equal(decided.status, 400, "level=admin must not be accepted");
        assert.equal((await check(asked.request_id)).status, "pending");
      } finally {
        await mcp.call("revoke_access", { request_id: asked.request_id });
      }
      assert.notEqual((await mcp.call("whoami")).isError, true, "whoami still works");
    });

    test("check_access_request for an id this client never got is not_found", STEP, async () => {
      const body = toolErrorBody(await mcp.call("check_access_request", { request_id: "req_doesnotexist" }));
      assert.equal(body.error.code, "not_found");
    });

    /** Grants the person's export holds (any status). */
    async function grantCount() {
      const res = await owner.get("/activity/export.json");
      assert.equal(res.status, 200);
      const data = await res.json();
      return data.grants.length;
    }
  });
}
