/** Client identity at an upstream authorization server: pre-registered, CIMD, or RFC 7591 DCR. */
import { beforeEach, describe, expect, it } from "vitest";
import {
  chooseClientRegistration,
  clientMetadataDocument,
  clientMetadataUrl,
  mcpCallbackUrl,
  registerClient,
} from "../../../../src/upstream/client/registration";
import { resetFetchRoutes, routeFetch, seenAt } from "../../../helpers/fetch-router";
import {
  AUTHORIZATION_SERVER,
  EVIL_ORIGIN,
  fetchedUrls,
  HOSTILE_ENDPOINTS,
  ISSUER,
  json,
  never,
  redirectTo,
  trapHostile,
  trappedRequests,
} from "./fixtures";

const PUBLIC = "https://countersign.test";
const CALLBACK = `${PUBLIC}/connections/mcp/callback`;
const options = { allowLoopback: false };
const register = () => registerClient(AUTHORIZATION_SERVER, { redirectUri: CALLBACK }, options);

beforeEach(() => {
  resetFetchRoutes();
  trapHostile();
});

describe("clientMetadataDocument", () => {
  it("describes a public client whose client_id is the document's own URL", () => {
    expect(clientMetadataDocument(PUBLIC)).toEqual({
      client_id: `${PUBLIC}/oauth/client-metadata.json`,
      client_name: "Countersign",
      client_uri: PUBLIC,
      redirect_uris: [CALLBACK],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    });
  });

  it("builds the same URLs from an origin with a trailing slash or a path", () => {
    expect(clientMetadataUrl(`${PUBLIC}/`)).toBe(`${PUBLIC}/oauth/client-metadata.json`);
    expect(mcpCallbackUrl(`${PUBLIC}/some/path`)).toBe(CALLBACK);
    expect(clientMetadataDocument(`${PUBLIC}/`).client_id).toBe(clientMetadataUrl(PUBLIC));
  });
});

describe("chooseClientRegistration", () => {
  const cimd = { clientIdMetadataDocumentSupported: true };
  const plain = { clientIdMetadataDocumentSupported: false };

  it("prefers a pre-registered client, even when CIMD is advertised", () => {
    expect(chooseClientRegistration(cimd, { publicOrigin: PUBLIC, clientId: "abc", clientSecret: "s3" })).toEqual({
      kind: "preregistered",
      clientId: "abc",
      clientSecret: "s3",
    });
    expect(chooseClientRegistration(plain, { publicOrigin: PUBLIC, clientId: "abc" })).toEqual({
      kind: "preregistered",
      clientId: "abc",
    });
  });

  it("uses our metadata document URL as client_id when the server supports CIMD", () => {
    expect(chooseClientRegistration(cimd, { publicOrigin: PUBLIC })).toEqual({
      kind: "cimd",
      clientId: `${PUBLIC}/oauth/client-metadata.json`,
    });
  });

  it("falls back to dynamic registration", () => {
    expect(chooseClientRegistration(plain, { publicOrigin: PUBLIC })).toEqual({ kind: "dcr" });
    // A loopback dev origin cannot serve a metadata document the upstream could fetch.
    expect(chooseClientRegistration(cimd, { publicOrigin: "http://localhost:8787" })).toEqual({ kind: "dcr" });
  });

  it("treats an empty configured client id as none", () => {
    expect(chooseClientRegistration(plain, { publicOrigin: PUBLIC, clientId: "", clientSecret: "s" })).toEqual({
      kind: "dcr",
    });
  });
});

describe("registerClient", () => {
  it("posts RFC 7591 metadata for a public client and returns the client_id", async () => {
    routeFetch(ISSUER, () => json({ client_id: "client-123", redirect_uris: [CALLBACK] }, 201));
    const result = await register();
    expect(result).toEqual({ ok: true, value: { clientId: "client-123", authMethod: "none" } });
    const [request] = seenAt(ISSUER);
    expect(request?.url).toBe(`${ISSUER}/register`);
    expect(request?.method).toBe("POST");
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(request?.headers.authorization).toBeUndefined();
    expect(JSON.parse(request?.body ?? "")).toEqual({
      client_name: "Countersign",
      redirect_uris: [CALLBACK],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    });
  });

  it("keeps a client secret the server chose to issue", async () => {
    routeFetch(ISSUER, () =>
      json({ client_id: "c", client_secret: "issued-secret", client_secret_expires_at: 0 }, 200),
    );
    const result = await register();
    expect(result).toEqual({
      ok: true,
      value: {
        clientId: "c",
        clientSecret: "issued-secret",
        authMethod: "client_secret_basic",
        clientSecretExpiresAt: 0,
      },
    });
  });

  it("honours the token endpoint auth method the server assigned", async () => {
    routeFetch(ISSUER, () =>
      json({ client_id: "c", client_secret: "s", token_endpoint_auth_method: "client_secret_post" }, 201),
    );
    const result = await register();
    expect(result).toMatchObject({ ok: true, value: { authMethod: "client_secret_post" } });
  });

  it.each([
    ["no client_id", { client_name: "Countersign" }],
    ["an empty client_id", { client_id: "" }],
    ["a numeric client_id", { client_id: 42 }],
    ["a client_id with spaces", { client_id: "a b" }],
    ["a client_id with a newline", { client_id: "a\nb" }],
    ["an oversized client_id", { client_id: "a".repeat(513) }],
    ["a non-string secret", { client_id: "c", client_secret: 1 }],
    ["an auth method we cannot use", { client_id: "c", token_endpoint_auth_method: "private_key_jwt" }],
    ["a secret method without a secret", { client_id: "c", token_endpoint_auth_method: "client_secret_basic" }],
    ["redirect URIs without ours", { client_id: "c", redirect_uris: [`${EVIL_ORIGIN}/cb`] }],
    ["redirect URIs that are not a list", { client_id: "c", redirect_uris: CALLBACK }],
  ])("refuses a registration answer with %s", async (_name, body) => {
    routeFetch(ISSUER, () => json(body, 201));
    const result = await register();
    expect(result).toEqual({ ok: false, error: { code: "registration_invalid" } });
  });

  it("refuses a registration answer that is not JSON", async () => {
    routeFetch(ISSUER, () => new Response("<html>", { status: 201 }));
    expect(await register()).toEqual({ ok: false, error: { code: "registration_invalid" } });
  });

  it("reports a refused registration with its OAuth error code and no free text", async () => {
    routeFetch(ISSUER, () =>
      json({ error: "invalid_redirect_uri", error_description: "redirect https://countersign.test rejected" }, 400),
    );
    const result = await register();
    expect(result).toEqual({
      ok: false,
      error: { code: "registration_failed", status: 400, error: "invalid_redirect_uri" },
    });
  });

  it("drops an unregistered error string", async () => {
    routeFetch(ISSUER, () => json({ error: "<b>nope</b>" }, 403));
    expect(await register()).toEqual({ ok: false, error: { code: "registration_failed", status: 403 } });
  });

  it("answers registration_unsupported, sending nothing, when there is no registration endpoint", async () => {
    const result = await registerClient({ registrationEndpoint: undefined }, { redirectUri: CALLBACK }, options);
    expect(result).toEqual({ ok: false, error: { code: "registration_unsupported" } });
    expect(fetchedUrls()).toEqual([]);
  });

  it.each([301, 302, 303, 307, 308])("refuses a %i from the registration endpoint", async (status) => {
    routeFetch(ISSUER, () => redirectTo(status));
    expect(await register()).toEqual({ ok: false, error: { code: "redirect_refused", status } });
    expect(seenAt(EVIL_ORIGIN)).toEqual([]);
  });

  it.each(HOSTILE_ENDPOINTS)("re-vets a stored registration endpoint %j (%s)", async (raw, code) => {
    const result = await registerClient({ registrationEndpoint: raw }, { redirectUri: CALLBACK }, options);
    expect(result).toEqual({ ok: false, error: { code } });
    expect(trappedRequests()).toEqual([]);
    expect(fetchedUrls()).toEqual([]);
  });

  it("times out on a registration endpoint that never answers", async () => {
    routeFetch(ISSUER, never);
    const result = await registerClient(AUTHORIZATION_SERVER, { redirectUri: CALLBACK }, { ...options, timeoutMs: 50 });
    expect(result).toEqual({ ok: false, error: { code: "timeout" } });
  });
});
