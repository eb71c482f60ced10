/**
 * discoverAuthorizationServer: RFC 8414 / OIDC discovery metadata, with the issuer checked and
 * every endpoint vetted, nothing fetched from a hostile one (docs/threat-model.md B, E).
 */
import { beforeEach, describe, expect, it } from "vitest";
import { discoverAuthorizationServer } from "../../../../src/upstream/client/discovery";
import { resetFetchRoutes, routeFetch, seen, seenAt } from "../../../helpers/fetch-router";
import {
  asDocument,
  EVIL_ORIGIN,
  fetchedUrls,
  HOSTILE_ENDPOINTS,
  ISSUER,
  json,
  never,
  originOf,
  paths,
  redirectTo,
  serve,
  trapHostile,
  trappedRequests,
} from "./fixtures";

const options = { allowLoopback: false };

beforeEach(() => {
  resetFetchRoutes();
  trapHostile();
});

describe("discoverAuthorizationServer", () => {
  it("reads RFC 8414 metadata and returns vetted endpoints", async () => {
    serve(ISSUER, { "/.well-known/oauth-authorization-server": () => json(asDocument()) });
    const result = await discoverAuthorizationServer(ISSUER, options);
    expect(result).toEqual({
      ok: true,
      value: {
        issuer: ISSUER,
        authorizationEndpoint: `${ISSUER}/authorize`,
        tokenEndpoint: `${ISSUER}/token`,
        registrationEndpoint: `${ISSUER}/register`,
        revocationEndpoint: `${ISSUER}/revoke`,
        codeChallengeMethodsSupported: ["S256"],
        tokenEndpointAuthMethodsSupported: ["none", "client_secret_basic"],
        clientIdMetadataDocumentSupported: false,
        authorizationResponseIssParameterSupported: false,
        metadataUrl: `${ISSUER}/.well-known/oauth-authorization-server`,
      },
    });
    expect(paths(ISSUER)).toEqual(["/.well-known/oauth-authorization-server"]);
  });

  it("falls back to OpenID Connect discovery for an issuer at the root", async () => {
    serve(ISSUER, { "/.well-known/openid-configuration": () => json(asDocument()) });
    const result = await discoverAuthorizationServer(ISSUER, options);
    expect(result).toMatchObject({ ok: true, value: { metadataUrl: `${ISSUER}/.well-known/openid-configuration` } });
    expect(paths(ISSUER)).toEqual(["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]);
  });

  it("tries the three URLs of an issuer with a path, in the MCP spec's order", async () => {
    const issuer = `${ISSUER}/tenant1`;
    serve(ISSUER, { "/tenant1/.well-known/openid-configuration": () => json(asDocument({ issuer })) });
    const result = await discoverAuthorizationServer(issuer, options);
    expect(result).toMatchObject({ ok: true, value: { issuer } });
    expect(paths(ISSUER)).toEqual([
      "/.well-known/oauth-authorization-server/tenant1",
      "/.well-known/openid-configuration/tenant1",
      "/tenant1/.well-known/openid-configuration",
    ]);
  });

  it("answers metadata_not_found when no URL has a document", async () => {
    serve(ISSUER, {});
    const result = await discoverAuthorizationServer(ISSUER, options);
    expect(result).toMatchObject({ ok: false, error: { code: "metadata_not_found" } });
  });

  it.each([
    ["another host", { issuer: "https://evil.example" }, ISSUER],
    ["a sub-domain", { issuer: "https://login.auth.example.com" }, ISSUER],
    ["a path", { issuer: `${ISSUER}/other` }, ISSUER],
    ["a trailing slash on a path", { issuer: `${ISSUER}/tenant1/` }, `${ISSUER}/tenant1`],
    ["another tenant", { issuer: `${ISSUER}/tenant2` }, `${ISSUER}/tenant1`],
    ["a port", { issuer: "https://auth.example.com:444" }, ISSUER],
  ])("refuses metadata naming %s as issuer", async (_name, overrides, requested) => {
    routeFetch(ISSUER, () => json(asDocument(overrides)));
    const result = await discoverAuthorizationServer(requested, options);
    expect(result).toEqual({ ok: false, error: { code: "issuer_mismatch", field: "issuer" } });
    expect(seenAt(ISSUER)).toHaveLength(1); // a bad document ends discovery; no OIDC retry
  });

  it("refuses metadata without an issuer", async () => {
    routeFetch(ISSUER, () => json(asDocument({ issuer: undefined })));
    const result = await discoverAuthorizationServer(ISSUER, options);
    expect(result).toEqual({ ok: false, error: { code: "metadata_invalid", field: "issuer" } });
  });

  it("accepts an issuer that differs only by the empty root path", async () => {
    routeFetch(ISSUER, () => json(asDocument({ issuer: `${ISSUER}/` })));
    const result = await discoverAuthorizationServer(ISSUER, options);
    expect(result).toMatchObject({ ok: true, value: { issuer: ISSUER } });
  });

  it.each(
    ["issuer", "authorization_endpoint", "token_endpoint", "registration_endpoint", "revocation_endpoint"].flatMap(
      (field) => HOSTILE_ENDPOINTS.map(([raw, code]) => [field, raw, code] as const),
    ),
  )("refuses metadata whose %s is %j", async (field, raw, code) => {
    routeFetch(ISSUER, () => json(asDocument({ [field]: raw })));
    const result = await discoverAuthorizationServer(ISSUER, options);
    expect(result).toEqual({ ok: false, error: { code, field } });
    expect(trappedRequests()).toEqual([]);
    expect(seen.map((request) => originOf(request.url))).toEqual([ISSUER]);
  });

  it.each(HOSTILE_ENDPOINTS)("refuses the issuer %j before fetching anything", async (raw, code) => {
    const result = await discoverAuthorizationServer(raw, options);
    expect(result).toEqual({ ok: false, error: { code, field: "issuer" } });
    expect(fetchedUrls()).toEqual([]);
  });

  it("refuses an issuer with a query", async () => {
    const result = await discoverAuthorizationServer(`${ISSUER}?tenant=1`, options);
    expect(result).toEqual({ ok: false, error: { code: "metadata_invalid", field: "issuer" } });
    expect(fetchedUrls()).toEqual([]);
  });

  it.each([
    ["authorization_endpoint", { authorization_endpoint: undefined }],
    ["token_endpoint", { token_endpoint: undefined }],
  ])("refuses metadata without %s", async (field, overrides) => {
    routeFetch(ISSUER, () => json(asDocument(overrides)));
    const result = await discoverAuthorizationServer(ISSUER, options);
    expect(result).toEqual({ ok: false, error: { code: "metadata_invalid", field } });
  });

  it("omits optional endpoints the server does not list", async () => {
    routeFetch(ISSUER, () => json(asDocument({ registration_endpoint: undefined, revocation_endpoint: undefined })));
    const result = await discoverAuthorizationServer(ISSUER, options);
    if (!result.ok) throw new Error(result.error.code);
    expect(result.value).not.toHaveProperty("registrationEndpoint");
    expect(result.value).not.toHaveProperty("revocationEndpoint");
  });

  it.each([
    [["plain"], "pkce_unsupported"],
    [[], "pkce_unsupported"],
    [["s256"], "pkce_unsupported"],
    ["S256", "metadata_invalid"],
    [["plain", "S256"], "ok"],
    [undefined, "ok"],
  ])("with code_challenge_methods_supported %j answers %s", async (methods, expected) => {
    routeFetch(ISSUER, () => json(asDocument({ code_challenge_methods_supported: methods })));
    const result = await discoverAuthorizationServer(ISSUER, options);
    expect(result.ok ? "ok" : result.error.code).toBe(expected);
  });

  it("notes Client ID Metadata Document and RFC 9207 iss support", async () => {
    routeFetch(ISSUER, () =>
      json(
        asDocument({
          client_id_metadata_document_supported: true,
          authorization_response_iss_parameter_supported: true,
        }),
      ),
    );
    const result = await discoverAuthorizationServer(ISSUER, options);
    expect(result).toMatchObject({
      ok: true,
      value: { clientIdMetadataDocumentSupported: true, authorizationResponseIssParameterSupported: true },
    });
  });

  it("does not take a truthy non-boolean as CIMD support", async () => {
    routeFetch(ISSUER, () => json(asDocument({ client_id_metadata_document_supported: "true" })));
    const result = await discoverAuthorizationServer(ISSUER, options);
    expect(result).toMatchObject({ ok: true, value: { clientIdMetadataDocumentSupported: false } });
  });

  it.each([301, 302, 303, 307, 308])(
    "refuses a %i from the metadata URL and never visits the target",
    async (status) => {
      serve(ISSUER, { "/.well-known/oauth-authorization-server": () => redirectTo(status) });
      const result = await discoverAuthorizationServer(ISSUER, options);
      expect(result).toEqual({
        ok: false,
        error: { code: "redirect_refused", field: "authorization_server_metadata", status },
      });
      expect(seenAt(EVIL_ORIGIN)).toEqual([]);
      expect(paths(ISSUER)).toEqual(["/.well-known/oauth-authorization-server"]);
    },
  );

  it("refuses oversized metadata", async () => {
    routeFetch(ISSUER, () => json(asDocument({ pad: "x".repeat(70_000) })));
    const result = await discoverAuthorizationServer(ISSUER, options);
    expect(result).toMatchObject({ ok: false, error: { code: "too_large" } });
  });

  it("times out on a metadata server that never answers", async () => {
    routeFetch(ISSUER, never);
    const result = await discoverAuthorizationServer(ISSUER, { ...options, timeoutMs: 50 });
    expect(result).toMatchObject({ ok: false, error: { code: "timeout" } });
  });
});
