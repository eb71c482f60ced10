// Glue shared by the SDK client tests (v1 and v2): a provider whose redirect hook drives the
// browser emulation, a way to make its access token stale so the SDK must refresh, and the
// checks every `whoami` answer must pass.
import assert from "node:assert/strict";
import { authorizeInBrowser } from "./browser-flow.mjs";
import { MemoryOAuthProvider } from "./memory-provider.mjs";
import { freePort } from "./util.mjs";

/**
 * A provider for one MCP client. When the SDK redirects to /authorize, the "person" signs in as
 * `email` and allows; the callback URL the server redirects to is recorded in `callbacks`.
 * The loopback redirect_uri names a free port that nobody listens on: the Location is read, never followed.
 * @param {{ origin: string, email: string, clientName: string }} options
 */
export async function browserDrivenProvider({ origin, email, clientName }) {
  const redirectUrl = `http://localhost:${await freePort()}/callback`;
  /** @type {URL[]} */
  const callbacks = [];
  const provider = new MemoryOAuthProvider({
    redirectUrl,
    clientName,
    onRedirect: async (authorizationUrl) => {
      const { callback } = await authorizeInBrowser({ origin, authorizationUrl, email });
      callbacks.push(callback);
    },
  });
  return { provider, callbacks, redirectUrl };
}

/**
 * Swap the stored access token for one the server never issued, in the server's own
 * `user:grant:secret` shape, the way an expired token looks: the next call gets a 401.
 * @param {MemoryOAuthProvider} provider
 */
export function staleAccessToken(provider) {
  const [userId, grantId] = provider.storedTokens.access_token.split(":");
  provider.storedTokens = { ...provider.storedTokens, access_token: `${userId}:${grantId}:expired-${Date.now()}` };
}

/** Check the callback the browser was sent to: code, our state, and the issuer (RFC 9207). */
export function assertCallback(callback, { redirectUrl, state, issuer }) {
  assert.equal(`${callback.origin}${callback.pathname}`, redirectUrl, "redirected to the registered redirect_uri");
  assert.ok(callback.searchParams.get("code"), "callback carries a code");
  assert.equal(callback.searchParams.get("state"), state, "state round-trips unchanged");
  assert.equal(callback.searchParams.get("iss"), issuer, "iss names the authorization server");
  assert.equal(callback.searchParams.get("error"), null);
}

/**
 * Check a `whoami` tool result against what the client and the person should see.
 * @param {any} result   the CallToolResult
 * @param {{ email: string, clientName: string, clientId: string, issuer: string }} expected
 */
export function assertWhoami(result, { email, clientName, clientId, issuer }) {
  assert.notEqual(result.isError, true, `whoami failed: ${JSON.stringify(result)}`);
  const who = result.structuredContent;
  assert.ok(who, "whoami returns structuredContent");
  assert.equal(who.user.email, email);
  assert.equal(who.user.subject, email);
  assert.equal(who.user.issuer, `${issuer}/signin/dev`);
  assert.match(who.user.id, /\S/);
  assert.equal(who.client.name, clientName, "client name is the registered client_name");
  assert.equal(who.client.id, clientId);
  assert.match(who.client.connection_id, /\S/);
  assert.ok(!Number.isNaN(Date.parse(who.client.connected_at)), "connected_at is a timestamp");
  assert.ok(who.scopes.includes("mcp"), `scopes include mcp: ${who.scopes}`);
  assert.deepEqual(who.authority.grants, []);
  assert.match(who.authority.summary, /\S/);
  const text = result.content.find((block) => block.type === "text")?.text ?? "";
  assert.ok(text.includes(email), "text content names the user");
  return who;
}
