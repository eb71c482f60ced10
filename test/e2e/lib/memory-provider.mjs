// An in-memory OAuthClientProvider for the MCP SDK clients (v1 and v2 share the shape). Its
// redirectToAuthorization hook hands the URL to a callback, which the tests use to drive the
// browser emulation and record where the person was sent back to.
import { randomBytes } from "node:crypto";

export class MemoryOAuthProvider {
  /**
   * @param {object} options
   * @param {string} options.redirectUrl     loopback callback registered via DCR
   * @param {string} options.clientName
   * @param {(url: URL) => Promise<void>} options.onRedirect
   */
  constructor({ redirectUrl, clientName, onRedirect }) {
    this.redirectUrlValue = redirectUrl;
    this.clientName = clientName;
    this.onRedirect = onRedirect;
    /** @type {any} */ this.client = undefined;
    /** @type {any} */ this.storedTokens = undefined;
    /** @type {string | undefined} */ this.verifier = undefined;
    /** @type {string | undefined} */ this.lastState = undefined;
    /** @type {any} */ this.discovery = undefined;
    /** @type {URL[]} */ this.authorizationUrls = [];
    /** every token set the SDK saved, oldest first */
    this.tokenHistory = [];
  }

  get redirectUrl() {
    return this.redirectUrlValue;
  }

  get clientMetadata() {
    return {
      client_name: this.clientName,
      redirect_uris: [this.redirectUrlValue],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }

  state() {
    this.lastState = randomBytes(16).toString("base64url");
    return this.lastState;
  }

  clientInformation() {
    return this.client;
  }

  saveClientInformation(info) {
    this.client = info;
  }

  tokens() {
    return this.storedTokens;
  }

  saveTokens(tokens) {
    this.storedTokens = tokens;
    this.tokenHistory.push(tokens);
  }

  async redirectToAuthorization(url) {
    this.authorizationUrls.push(new URL(url));
    await this.onRedirect(new URL(url));
  }

  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }

  codeVerifier() {
    if (!this.verifier) throw new Error("no PKCE verifier saved");
    return this.verifier;
  }

  saveDiscoveryState(state) {
    this.discovery = state;
  }

  discoveryState() {
    return this.discovery;
  }

  invalidateCredentials(scope) {
    if (scope === "all" || scope === "tokens") this.storedTokens = undefined;
    if (scope === "all" || scope === "client") this.client = undefined;
    if (scope === "all" || scope === "verifier") this.verifier = undefined;
    if (scope === "all" || scope === "discovery") this.discovery = undefined;
  }
}
