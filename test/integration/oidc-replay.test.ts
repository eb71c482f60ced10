/**
 * Parallel replays of the OIDC sign-in callback (docs/threat-model.md A6), through the Worker:
 * one sign-in transaction (state, binding cookie) signs in exactly once however many callbacks
 * race, whether they carry the same code or codes the IdP would each accept.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { userIdFor } from "../../src/identity/user";
import { sha256Hex } from "../../src/lib/crypto";
import { signinKey } from "../../src/lib/storage-keys";
import { sessionFor, type UserSession } from "../../src/session/user-session";
import { location, TestBrowser } from "../helpers/browser";
import { FakeIdp, IDP_ISSUER } from "../helpers/fake-idp";
import { resetFetchRoutes } from "../helpers/fetch-router";
import { addedKeys, kvKeys } from "../helpers/storage";

const SESSION_COOKIE = "__Host-cs_session=";
const SUB = "replayed";
const PARALLEL = 8;

let idp: FakeIdp;
beforeEach(async () => {
  resetFetchRoutes();
  idp = await FakeIdp.create();
  idp.install();
});

async function startSignIn(browser: TestBrowser) {
  const response = await browser.get("/signin?return_to=/activity");
  expect(response.status).toBe(302);
  const url = location(response);
  return {
    state: url.searchParams.get("state") as string,
    nonce: url.searchParams.get("nonce") as string,
    // The binding cookie as it stands now: every racer (and the late replay) presents it.
    cookie: browser.cookieHeader(),
  };
}

/** Send every callback at once from the same browser (same binding cookie). */
async function race(browser: TestBrowser, cookie: string, queries: URLSearchParams[]) {
  const responses = await Promise.all(
    queries.map((query) => browser.get(`/signin/callback?${query}`, { Cookie: cookie })),
  );
  return Promise.all(
    responses.map(async (response) => ({
      status: response.status,
      signedIn: response.headers.getSetCookie().some((line) => line.startsWith(SESSION_COOKIE)),
      text: await response.text(),
    })),
  );
}

/** After the race: the transaction is gone from KV, nothing was added, and the state is claimed once. */
async function expectStoredOnce(before: Set<string>, state: string) {
  const stateHash = await sha256Hex(state);
  expect(await env.OAUTH_KV.get(signinKey(stateHash))).toBeNull();
  expect(await addedKeys(before)).toEqual([]);
  const userId = await userIdFor(IDP_ISSUER, SUB);
  const claims = await runInDurableObject(sessionFor(env.SESSION, userId), (_instance: UserSession, state) =>
    state.storage.sql.exec("SELECT state_hash FROM connect_claims WHERE state_hash = ?", stateHash).toArray(),
  );
  expect(claims).toHaveLength(1);
}

/** A later callback of the same state, with the binding cookie and a fresh code, signs nobody in. */
async function expectBurned(browser: TestBrowser, cookie: string, state: string, nonce: string) {
  const [late] = await race(browser, cookie, [
    new URLSearchParams({ code: idp.issueCode({ sub: SUB, nonce }), state, iss: IDP_ISSUER }),
  ]);
  expect(late).toMatchObject({ status: 400, signedIn: false });
  expect(late?.text).toContain("transaction_expired");
}

describe("GET /signin/callback replayed in parallel", () => {
  it("signs in once when the same callback arrives many times at once", async () => {
    const browser = new TestBrowser();
    const { state, nonce, cookie } = await startSignIn(browser);
    const query = new URLSearchParams({ code: idp.issueCode({ sub: SUB, nonce }), state, iss: IDP_ISSUER });
    const before = await kvKeys();
    const results = await race(
      browser,
      cookie,
      Array.from({ length: PARALLEL }, () => query),
    );
    expect(results.filter((result) => result.status === 302 && result.signedIn)).toHaveLength(1);
    const refused = results.filter((result) => result.status !== 302);
    expect(refused).toHaveLength(PARALLEL - 1);
    for (const result of refused) {
      expect(result.status).toBe(400);
      expect(result.signedIn).toBe(false);
      expect(result.text).toMatch(/transaction_expired|token_exchange_failed/);
    }
    await expectStoredOnce(before, state);
    await expectBurned(browser, cookie, state, nonce);
  });

  it("signs in once when parallel callbacks of one state carry codes the IdP would each accept", async () => {
    const browser = new TestBrowser();
    const { state, nonce, cookie } = await startSignIn(browser);
    const queries = Array.from(
      { length: PARALLEL },
      () => new URLSearchParams({ code: idp.issueCode({ sub: SUB, nonce }), state, iss: IDP_ISSUER }),
    );
    const before = await kvKeys();
    const results = await race(browser, cookie, queries);
    expect(results.filter((result) => result.status === 302 && result.signedIn)).toHaveLength(1);
    const refused = results.filter((result) => result.status !== 302);
    expect(refused).toHaveLength(PARALLEL - 1);
    for (const result of refused) {
      expect(result.status).toBe(400);
      expect(result.signedIn).toBe(false);
      expect(result.text).toContain("transaction_expired");
    }
    await expectStoredOnce(before, state);
    await expectBurned(browser, cookie, state, nonce);
  });
});
