/**
 * A one-call approval that expires right before its call (docs/threat-model.md D), through the
 * Worker with a moved clock (a spy on `Date.now`): the call is refused as `expired`, the provider
 * receives nothing, and the grant is not consumed. Once with the clock moved before the call, once
 * with it moved while the call's credential is being refreshed, between the first look at the
 * grants and the decision taken with consuming.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { sessionFor, type UserSession } from "../../src/session/user-session";
import { FakeIdp } from "../helpers/fake-idp";
import { resetFetchRoutes, routeFetch, seenAt } from "../helpers/fetch-router";
import { decideOnPage, tool } from "../helpers/grants";
import { signedInClient } from "../helpers/oauth";
import { CANARY, callApi, connectOAuth, fakeApi, fakeTokenEndpoint } from "../helpers/providers";

const GH = "https://api.github.com";
const GOOGLE_API = "https://www.googleapis.com";
const APPROVED_FOR_MS = 300_000;

let idp: FakeIdp;
/** How far the clock is moved ahead of the real one. */
let ahead = 0;
beforeEach(async () => {
  resetFetchRoutes();
  idp = await FakeIdp.create();
  idp.install();
  ahead = 0;
  const realNow = Date.now;
  vi.spyOn(Date, "now").mockImplementation(() => realNow() + ahead);
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function signedIn(label: string) {
  const client = await signedInClient(idp, `${label}-${crypto.randomUUID()}`);
  const userId = (await tool(client.tokens.access_token, "whoami")).structured?.user.id as string;
  return { ...client, userId, token: client.tokens.access_token };
}

/** Ask for one exact call and approve it for five minutes on the approval page. */
async function approveOneCall(
  person: Awaited<ReturnType<typeof signedIn>>,
  call: Record<string, string>,
  provider: string,
) {
  const asked = await tool(person.token, "request_elevated_access", { kind: "call", ...call, reason: "do it once" });
  expect(asked.error).toBeUndefined();
  const decided = await decideOnPage(person.browser, asked.structured?.approval_url, "approve", {
    providers: [provider],
    duration: String(APPROVED_FOR_MS / 1000),
  });
  expect(decided.status).toBe(200);
  return asked.structured?.request_id as string;
}

/** The grant's stored status and the audit events that name it. */
const grantRecord = (userId: string, grantId: string) =>
  runInDurableObject(sessionFor(env.SESSION, userId), (_instance: UserSession, state) => {
    const sql = state.storage.sql;
    return {
      status: sql.exec<{ status: string }>("SELECT status FROM grants WHERE id = ?", grantId).one().status,
      events: sql
        .exec<{ event: string; detail: string }>(
          "SELECT event, detail FROM audit WHERE grant_id = ? ORDER BY seq",
          grantId,
        )
        .toArray()
        .map((row) => ({ event: row.event, reason: (JSON.parse(row.detail) as { reason?: string }).reason })),
    };
  });

describe("a one-call approval that expires right before its call", () => {
  it("refuses the call as expired once the clock passed its expiry: nothing sent, not consumed", async () => {
    const person = await signedIn("expiry");
    fakeTokenEndpoint("https://github.com");
    fakeApi(GH);
    await connectOAuth(person.browser, person.userId, "github");
    const call = { method: "POST", url: `${GH}/repos/a/b/issues`, body: '{"title":"Bug"}' };
    const grantId = await approveOneCall(person, call, "github");
    ahead = APPROVED_FOR_MS + 1;
    const result = await callApi(person.token, { ...call, request_id: grantId });
    expect(result.error?.code).toBe("expired");
    expect(seenAt(GH)).toEqual([]);
    const record = await grantRecord(person.userId, grantId);
    expect(record.status).not.toBe("consumed");
    expect(record.events).toEqual([
      { event: "requested", reason: undefined },
      { event: "approved", reason: undefined },
      { event: "call_denied", reason: "expired" },
    ]);
  });

  it("refuses the call as expired when the clock passes its expiry during the credential refresh", async () => {
    const person = await signedIn("expiry-refresh");
    const now = Date.now();
    await runInDurableObject(sessionFor(env.SESSION, person.userId), (instance: UserSession) =>
      instance.connectProvider("google", {
        kind: "oauth2",
        accessToken: CANARY,
        refreshToken: "google-refresh",
        expiresAt: now - 1000,
        obtainedAt: now - 3_600_000,
      }),
    );
    const refreshes: string[] = [];
    routeFetch("https://oauth2.googleapis.com", (_request, body) => {
      refreshes.push(new URLSearchParams(body).get("grant_type") ?? "");
      // The approval runs out while the token endpoint answers.
      ahead = APPROVED_FOR_MS + 1;
      return Response.json({ access_token: `${CANARY}-refreshed`, token_type: "bearer", expires_in: 3600 });
    });
    fakeApi(GOOGLE_API);
    const call = {
      method: "POST",
      url: `${GOOGLE_API}/calendar/v3/calendars/primary/events`,
      body: '{"summary":"Standup"}',
    };
    const grantId = await approveOneCall(person, call, "google");
    const result = await callApi(person.token, { ...call, request_id: grantId });
    expect(refreshes).toEqual(["refresh_token"]);
    expect(result.error?.code).toBe("expired");
    expect(seenAt(GOOGLE_API)).toEqual([]);
    const record = await grantRecord(person.userId, grantId);
    expect(record.status).not.toBe("consumed");
    expect(record.events.map((entry) => entry.event)).not.toContain("consumed");
    expect(record.events.at(-1)).toEqual({ event: "call_denied", reason: "expired" });
  });
});
