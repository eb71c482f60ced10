/**
 * The audit log keeps time order (issue 13 part 3), through the Worker: a one-call approval's
 * `consumed` entry and the `call_allowed` entry after it come from one clock reading, and across
 * 200 mixed calls, approvals, denials, refusals and revokes `at` never decreases in `seq` order.
 * The clock is a spy on `Date.now` that moves 1 ms on every reading, so any step that reads it
 * twice for one call shows up as two different times.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { sessionFor, type UserSession } from "../../src/session/user-session";
import { FakeIdp } from "../helpers/fake-idp";
import { resetFetchRoutes, seenAt } from "../helpers/fetch-router";
import { decideOnPage, tool } from "../helpers/grants";
import { signedInClient } from "../helpers/oauth";
import { callApi, connectOAuth, fakeApi, fakeTokenEndpoint, grantAccess } from "../helpers/providers";

const GH = "https://api.github.com";

let idp: FakeIdp;
beforeEach(async () => {
  resetFetchRoutes();
  idp = await FakeIdp.create();
  idp.install();
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** From now on every `Date.now()` reading is 1 ms later than the one before. */
function tickingClock() {
  let now = Date.now();
  vi.spyOn(Date, "now").mockImplementation(() => now++);
}

async function withGithub() {
  const client = await signedInClient(idp, `order-${crypto.randomUUID()}`);
  const whoami = (await tool(client.tokens.access_token, "whoami")).structured;
  const userId = whoami?.user.id as string;
  fakeTokenEndpoint("https://github.com");
  fakeApi(GH, () => Response.json({ ok: true }));
  await connectOAuth(client.browser, userId, "github");
  return { ...client, userId, token: client.tokens.access_token };
}

type Row = { seq: number; at: number; event: string; grant_id: string | null };

const auditOf = (userId: string) =>
  runInDurableObject(sessionFor(env.SESSION, userId), (_instance: UserSession, state) =>
    state.storage.sql.exec<Row>("SELECT seq, at, event, grant_id FROM audit ORDER BY seq").toArray(),
  );

const endedAt = (userId: string, grantId: string) =>
  runInDurableObject(sessionFor(env.SESSION, userId), (_instance: UserSession, state) =>
    state.storage.sql.exec<{ ended_at: number }>("SELECT ended_at FROM grants WHERE id = ?", grantId).one(),
  );

/** Ask for one exact write and let the person approve (or deny) it on the approval page. */
async function oneCall(person: Awaited<ReturnType<typeof withGithub>>, title: string, decision: "approve" | "deny") {
  const call = { method: "POST", url: `${GH}/repos/a/b/issues`, body: JSON.stringify({ title }) };
  const asked = await tool(person.token, "request_elevated_access", { kind: "call", ...call, reason: "file it" });
  expect(asked.error).toBeUndefined();
  const decided = await decideOnPage(person.browser, asked.structured?.approval_url, decision);
  expect(decided.status).toBe(200);
  return { ...call, request_id: asked.structured?.request_id as string };
}

describe("audit log time order", () => {
  it("stamps a one-call approval's consumed entry and its call_allowed entry from one clock reading", async () => {
    const person = await withGithub();
    const call = await oneCall(person, "Bug", "approve");
    tickingClock();
    const used = await callApi(person.token, call);
    expect(used.structured?.status).toBe(200);
    const entries = (await auditOf(person.userId)).filter((row) => row.grant_id === call.request_id);
    const consumed = entries.find((row) => row.event === "consumed");
    const allowed = entries.find((row) => row.event === "call_allowed");
    if (!consumed || !allowed) throw new Error("missing consumed or call_allowed entry");
    expect(allowed.seq).toBe(consumed.seq + 1);
    expect(allowed.at).toBe(consumed.at);
    // The same reading the transition was judged at: the grant's own end time.
    expect(consumed.at).toBe((await endedAt(person.userId, call.request_id)).ended_at);
    expect(seenAt(GH)).toHaveLength(1);
  });

  it("never lets at decrease in seq order across 200 mixed calls, approvals, denials and revokes", async () => {
    const person = await withGithub();
    await grantAccess(person.token, person.browser, ["github"], "read");
    tickingClock();
    // 14 rounds of 14 calls, plus 5 denied ones: 201 calls from 23 requests, inside the
    // per-connection window of 30 requests.
    let calls = 0;
    for (let round = 0; round < 14; round++) {
      const used = await oneCall(person, `issue ${round}`, "approve");
      // Eleven reads in parallel under the session grant and the approved write among them.
      const results = await Promise.all([
        ...Array.from({ length: 11 }, (_, i) => callApi(person.token, { method: "GET", url: `${GH}/user?i=${i}` })),
        callApi(person.token, used),
      ]);
      expect(results.every((result) => result.structured?.status === 200)).toBe(true);
      // A replay of the used approval, and a write no grant covers.
      expect((await callApi(person.token, used)).error?.code).toBe("expired");
      const uncovered = await callApi(person.token, { method: "DELETE", url: `${GH}/repos/a/b` });
      expect(uncovered.error?.code).toBe("access_required");
      calls += 14;
      if (round % 3 === 0) {
        const denied = await oneCall(person, `denied ${round}`, "deny");
        expect((await callApi(person.token, denied)).error?.code).toBe("access_denied");
        calls += 1;
      }
      if (round % 4 === 3) {
        const pending = await tool(person.token, "request_elevated_access", {
          kind: "call",
          method: "POST",
          url: `${GH}/repos/a/b/issues`,
          body: JSON.stringify({ title: `withdrawn ${round}` }),
          reason: "changed my mind",
        });
        const withdrawn = await tool(person.token, "revoke_access", { request_id: pending.structured?.request_id });
        expect(withdrawn.structured?.revoked).toHaveLength(1);
      }
    }
    expect(calls).toBeGreaterThanOrEqual(200);
    const rows = await auditOf(person.userId);
    expect(rows.filter((row) => row.event === "consumed")).toHaveLength(14);
    expect(rows.filter((row) => row.event === "call_completed")).toHaveLength(14 * 12);
    expect(rows.filter((row) => row.event === "revoked")).toHaveLength(3);
    const inversions = rows.filter((row, i) => i > 0 && row.at < (rows[i - 1] as Row).at);
    expect(inversions).toEqual([]);
    for (const consumed of rows.filter((row) => row.event === "consumed")) {
      const allowed = rows.find((row) => row.seq === consumed.seq + 1);
      expect(allowed).toMatchObject({ event: "call_allowed", grant_id: consumed.grant_id, at: consumed.at });
    }
  });
});
