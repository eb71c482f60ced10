// Black-box security checks against wrangler dev: browser Origin pinning on /mcp, RFC 7009
// revocation taking effect at once (and only for the token's own client), and that no
// credential (token, code, cookie, COOKIE_SECRET) ever reaches the server's log.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startDevServer } from "./lib/fixture.mjs";
import { postToolCall, rawWhoami } from "./lib/mcp-raw.mjs";
import { fetchServerMetadata, refreshGrant, revokeToken, signInRawClient, tokenEndpoint } from "./lib/oauth.mjs";
import { fetchWithTimeout, sleep } from "./lib/util.mjs";

const STEP = { timeout: 60_000 };
const HOOK = { timeout: 90_000 };

describe("security, black-box against wrangler dev", { timeout: 240_000 }, () => {
  /** @type {import("./lib/fixture.mjs").DevServer} */
  let server;
  /** @type {string} */
  let revocationEndpoint;
  /** Every credential this file saw; none may appear in the log. @type {Map<string, string>} */
  const secrets = new Map();

  /** Sign a raw client in and remember its credentials for the log check. */
  async function signIn(email, clientName) {
    const signedIn = await signInRawClient(server.origin, { email, clientName });
    const label = `${clientName} (${email})`;
    secrets.set(`${label} authorization code`, signedIn.code);
    secrets.set(`${label} PKCE verifier`, signedIn.verifier);
    rememberTokens(label, signedIn.tokens);
    for (const [i, cookie] of signedIn.browser.jar.values().entries()) secrets.set(`${label} cookie #${i}`, cookie);
    return signedIn;
  }

  function rememberTokens(label, tokens) {
    secrets.set(`${label} access token`, tokens.access_token);
    secrets.set(`${label} refresh token`, tokens.refresh_token);
  }

  before(async () => {
    server = await startDevServer({ label: "security" });
    secrets.set("COOKIE_SECRET", server.cookieSecret);
    secrets.set("VAULT_KEYS", server.vaultKeys.split(":")[1]);
    const metadata = await fetchServerMetadata(server.origin);
    revocationEndpoint = metadata.revocation_endpoint;
    assert.ok(revocationEndpoint, "the metadata advertises a revocation_endpoint");
  }, HOOK);

  after(async () => {
    await server?.stop();
  });

  test("POST /mcp from a foreign browser Origin is refused even with a valid token", STEP, async () => {
    const { tokens } = await signIn("mallory-target@example.com", "Origin check client");
    const accessToken = tokens.access_token;

    const foreign = await postToolCall(server.origin, { accessToken, headers: { Origin: "https://evil.example" } });
    await foreign.arrayBuffer();
    assert.equal(foreign.status, 403, "a page on another site cannot use the token through the browser");

    const own = await postToolCall(server.origin, { accessToken, headers: { Origin: server.origin } });
    await own.arrayBuffer();
    assert.equal(own.status, 200, "our own origin is allowed");
    const who = await rawWhoami(server.origin, accessToken);
    assert.equal(who.user.email, "mallory-target@example.com", "a non-browser client (no Origin) works");
  });

  test("cross-site form POSTs (login CSRF) are refused without a sign-in cookie", STEP, async () => {
    const form = new URLSearchParams({ email: "csrf@example.com", return_to: "/" });
    for (const origin of ["https://evil.example", undefined]) {
      const res = await fetchWithTimeout(`${server.origin}/signin/dev`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", ...(origin ? { Origin: origin } : {}) },
        body: form,
        redirect: "manual",
      });
      await res.arrayBuffer();
      assert.equal(res.status, 403, `Origin ${origin ?? "(none)"} is refused`);
      assert.deepEqual(res.headers.getSetCookie(), [], "no sign-in cookie is set");
    }
  });

  test("a revoked access token is refused at /mcp at once", STEP, async () => {
    const { clientId, tokens } = await signIn("rev@example.com", "Revocation client");
    assert.equal((await rawWhoami(server.origin, tokens.access_token)).user.email, "rev@example.com");

    assert.equal(await revokeToken(revocationEndpoint, { clientId, token: tokens.access_token }), 200);
    const res = await postToolCall(server.origin, { accessToken: tokens.access_token });
    await res.arrayBuffer();
    assert.equal(res.status, 401);
    assert.match(res.headers.get("WWW-Authenticate") ?? "", /^Bearer /);
  });

  test("revoking the refresh token ends the whole grant", STEP, async () => {
    const { clientId, tokens } = await signIn("grant-end@example.com", "Grant revocation client");
    const hint = "refresh_token";
    assert.equal(await revokeToken(revocationEndpoint, { clientId, token: tokens.refresh_token, hint }), 200);

    const refreshed = await refreshGrant(server.origin, { clientId, refreshToken: tokens.refresh_token });
    assert.equal(refreshed.status, 400);
    assert.equal(refreshed.body.error, "invalid_grant");
    const res = await postToolCall(server.origin, { accessToken: tokens.access_token });
    await res.arrayBuffer();
    assert.equal(res.status, 401, "the grant's access token died with it");
  });

  test("a client cannot revoke another client's token", STEP, async () => {
    const victim = await signIn("victim@example.com", "Victim client");
    const attacker = await signIn("attacker@example.com", "Attacker client");

    const status = await revokeToken(revocationEndpoint, {
      clientId: attacker.clientId,
      token: victim.tokens.access_token,
    });
    assert.equal(status, 200, "RFC 7009: the answer does not reveal whether the token existed");
    assert.equal((await rawWhoami(server.origin, victim.tokens.access_token)).user.email, "victim@example.com");
    const refreshed = await refreshGrant(server.origin, {
      clientId: victim.clientId,
      refreshToken: victim.tokens.refresh_token,
    });
    assert.equal(refreshed.status, 200, "the victim's grant is intact");
    rememberTokens("Victim client (refreshed)", refreshed.body);
  });

  test("replaying an authorization code or a bogus token fails without echoing it", STEP, async () => {
    const { clientId, code, verifier, redirectUri } = await signIn("replay@example.com", "Replay client");
    const replay = await tokenEndpoint(server.origin, {
      grant_type: "authorization_code",
      client_id: clientId,
      code,
      code_verifier: verifier,
      redirect_uri: redirectUri,
    });
    assert.equal(replay.status, 400);
    assert.equal(replay.body.error, "invalid_grant");
    assert.ok(!JSON.stringify(replay.body).includes(code), "the error does not echo the code");

    const [userId, grantId] = code.split(":");
    const bogus = `${userId}:${grantId}:not-a-real-token-0123456789abcdef`;
    secrets.set("bogus bearer token", bogus);
    const res = await postToolCall(server.origin, { accessToken: bogus });
    const body = await res.text();
    assert.equal(res.status, 401);
    assert.ok(!body.includes(bogus) && !(res.headers.get("WWW-Authenticate") ?? "").includes(bogus));
  });

  test("the wrangler log never contains a token, code, cookie or COOKIE_SECRET", STEP, async () => {
    await sleep(500); // let the last request lines reach the captured output
    const log = server.logs();
    assert.ok(log.includes("POST /oauth/token"), "the log captured this file's requests");
    assert.ok(secrets.size >= 20, `collected ${secrets.size} credentials`);
    for (const [label, value] of secrets) {
      assert.ok(value && value.length >= 16, `${label} is a real credential`);
      assert.ok(!log.includes(value), `${label} leaked into ${server.logPath}`);
      // Tokens and codes are user:grant:secret; the secret part alone must not leak either.
      const secretPart = value.split(":").at(-1) ?? "";
      if (secretPart.length >= 16 && secretPart !== value) {
        assert.ok(!log.includes(secretPart), `the secret part of ${label} leaked into ${server.logPath}`);
      }
    }
  });
});
