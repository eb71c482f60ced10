/**
 * The vault stale-read guard through a call (docs/threat-model.md F6): when KV serves a copy of
 * the token record older than the token the person's Durable Object last stored (KV is
 * eventually consistent across locations), the call answers `provider_unavailable`, sends
 * nothing, refreshes nothing, and never puts the old token in use.
 */
import { env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { sessionFor, type UserSession } from "../../src/session/user-session";
import { VaultStore } from "../../src/vault/store";
import { FakeIdp } from "../helpers/fake-idp";
import { resetFetchRoutes, seenAt } from "../helpers/fetch-router";
import { tool } from "../helpers/grants";
import { signedInClient } from "../helpers/oauth";
import { CANARY, callApi, fakeApi, fakeTokenEndpoint, grantAccess } from "../helpers/providers";

const API = "https://www.googleapis.com";
const STALE = "STALE-access-token-0123456789";

let idp: FakeIdp;
beforeEach(async () => {
  resetFetchRoutes();
  idp = await FakeIdp.create();
  idp.install();
});

function vault(): VaultStore {
  const config = loadConfig(env);
  if (!config.ok) throw new Error("config");
  return new VaultStore(env.VAULT_KV, config.value.vault);
}

describe("vault stale-read guard through a call", () => {
  it("answers provider_unavailable for a KV copy older than the stored token, sending and refreshing nothing", async () => {
    const client = await signedInClient(idp, `stale-${crypto.randomUUID()}`);
    const token = client.tokens.access_token;
    const userId = (await tool(token, "whoami")).structured?.user.id as string;
    const endpoint = fakeTokenEndpoint("https://oauth2.googleapis.com");
    fakeApi(API);
    const obtainedAt = Date.now();
    await runInDurableObject(sessionFor(env.SESSION, userId), (instance: UserSession) =>
      instance.connectProvider("google", {
        kind: "oauth2",
        accessToken: CANARY,
        refreshToken: "google-refresh",
        obtainedAt,
        expiresAt: obtainedAt + 3_600_000,
      }),
    );
    await grantAccess(token, client.browser, ["google"], "read");
    // KV answers with an older record (a still valid token, obtained a minute before), and the
    // object has forgotten its copy in memory.
    await vault().put(userId, "google", {
      kind: "oauth2",
      accessToken: STALE,
      refreshToken: "old-refresh",
      obtainedAt: obtainedAt - 60_000,
      expiresAt: obtainedAt + 3_600_000,
    });
    await evictDurableObject(sessionFor(env.SESSION, userId));
    const result = await callApi(token, { method: "GET", url: `${API}/calendar/v3/users/me/calendarList` });
    expect(result.error?.code).toBe("provider_unavailable");
    expect(result.text).not.toContain(STALE);
    expect(seenAt(API)).toEqual([]);
    expect(endpoint.counts).toEqual({ code: 0, refresh: 0, revoke: 0 });
    const audit = await runInDurableObject(sessionFor(env.SESSION, userId), (_instance: UserSession, state) =>
      state.storage.sql
        .exec<{ event: string; detail: string }>("SELECT event, detail FROM audit ORDER BY seq DESC LIMIT 1")
        .one(),
    );
    expect(audit.event).toBe("call_denied");
    expect(JSON.parse(audit.detail).reason).toBe("provider_unavailable");
    // The link still points at the newer token: nothing was marked or rewritten.
    const links = await runInDurableObject(sessionFor(env.SESSION, userId), (instance: UserSession) =>
      instance.providerLinks(),
    );
    expect(links.find((link) => link.providerId === "google")).toMatchObject({
      status: "connected",
      tokenObtainedAt: obtainedAt,
    });
  });
});
