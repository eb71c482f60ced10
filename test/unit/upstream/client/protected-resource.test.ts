/**
 * discoverProtectedResource: RFC 9728 protected resource metadata, found through the challenge
 * or the well-known URLs, with every URL in it vetted and nothing fetched from a hostile one
 * (docs/threat-model.md B, E).
 */
import { beforeEach, describe, expect, it } from "vitest";
import { discoverProtectedResource } from "../../../../src/upstream/client/discovery";
import { resetFetchRoutes, routeFetch, seen, seenAt } from "../../../helpers/fetch-router";
import {
  EVIL_ORIGIN,
  fetchedUrls,
  HOSTILE_ENDPOINTS,
  ISSUER,
  json,
  never,
  originOf,
  paths,
  redirectTo,
  SERVER_ORIGIN,
  SERVER_URL,
  serve,
  trapHostile,
  trappedRequests,
} from "./fixtures";

const options = { allowLoopback: false };
const PRM_PATH = "/.well-known/oauth-protected-resource";
const prm = (overrides: Record<string, unknown> = {}) => ({
  resource: SERVER_URL,
  authorization_servers: [ISSUER],
  scopes_supported: ["files:read", "files:write"],
  ...overrides,
});

beforeEach(() => {
  resetFetchRoutes();
  trapHostile();
});

describe("discoverProtectedResource", () => {
  it("reads the resource_metadata URL from the challenge and nothing else", async () => {
    serve(SERVER_ORIGIN, { "/meta/prm.json": () => json(prm()) });
    const result = await discoverProtectedResource(
      SERVER_URL,
      { resourceMetadata: `${SERVER_ORIGIN}/meta/prm.json` },
      options,
    );
    expect(result).toEqual({
      ok: true,
      value: {
        resource: SERVER_URL,
        authorizationServers: [ISSUER],
        scopesSupported: ["files:read", "files:write"],
        metadataUrl: `${SERVER_ORIGIN}/meta/prm.json`,
      },
    });
    expect(paths(SERVER_ORIGIN)).toEqual(["/meta/prm.json"]);
    expect(seenAt(SERVER_ORIGIN)[0]?.method).toBe("GET");
  });

  it("tries the path-inserted well-known URL, then the root one", async () => {
    serve(SERVER_ORIGIN, { [PRM_PATH]: () => json(prm()) });
    const result = await discoverProtectedResource(SERVER_URL, null, options);
    expect(result.ok).toBe(true);
    expect(paths(SERVER_ORIGIN)).toEqual([`${PRM_PATH}/mcp`, PRM_PATH]);
  });

  it("stops at the path-inserted document when it exists", async () => {
    serve(SERVER_ORIGIN, { [`${PRM_PATH}/mcp`]: () => json(prm()) });
    const result = await discoverProtectedResource(SERVER_URL, {}, options);
    expect(result).toMatchObject({ ok: true, value: { metadataUrl: `${SERVER_ORIGIN}${PRM_PATH}/mcp` } });
    expect(paths(SERVER_ORIGIN)).toEqual([`${PRM_PATH}/mcp`]);
  });

  it("asks only the root well-known URL for a server at the root", async () => {
    serve(SERVER_ORIGIN, { [PRM_PATH]: () => json(prm({ resource: `${SERVER_ORIGIN}/` })) });
    const result = await discoverProtectedResource(`${SERVER_ORIGIN}/`, null, options);
    expect(result.ok).toBe(true);
    expect(paths(SERVER_ORIGIN)).toEqual([PRM_PATH]);
  });

  it("answers metadata_not_found when every well-known URL is 404", async () => {
    serve(SERVER_ORIGIN, {});
    const result = await discoverProtectedResource(SERVER_URL, null, options);
    expect(result).toEqual({ ok: false, error: { code: "metadata_not_found", field: "resource_metadata" } });
  });

  it("does not fall back from a challenge's resource_metadata that is missing", async () => {
    serve(SERVER_ORIGIN, { [PRM_PATH]: () => json(prm()) });
    const result = await discoverProtectedResource(SERVER_URL, { resourceMetadata: `${SERVER_ORIGIN}/gone` }, options);
    expect(result).toMatchObject({ ok: false, error: { code: "metadata_not_found" } });
    expect(paths(SERVER_ORIGIN)).toEqual(["/gone"]);
  });

  it("answers metadata_unavailable on a 5xx without trying further URLs", async () => {
    serve(SERVER_ORIGIN, { [`${PRM_PATH}/mcp`]: () => new Response("oops", { status: 503 }) });
    const result = await discoverProtectedResource(SERVER_URL, null, options);
    expect(result).toEqual({
      ok: false,
      error: { code: "metadata_unavailable", field: "resource_metadata", status: 503 },
    });
    expect(paths(SERVER_ORIGIN)).toHaveLength(1);
  });

  it.each(HOSTILE_ENDPOINTS)("refuses a challenge resource_metadata of %j with %s", async (raw, code) => {
    const result = await discoverProtectedResource(SERVER_URL, { resourceMetadata: raw }, options);
    expect(result).toMatchObject({ ok: false, error: { code, field: "resource_metadata" } });
    expect(trappedRequests()).toEqual([]);
    expect(fetchedUrls()).toEqual([]);
  });

  it.each(HOSTILE_ENDPOINTS)("refuses a server URL of %j with %s", async (raw, code) => {
    const result = await discoverProtectedResource(raw, null, options);
    expect(result).toMatchObject({ ok: false, error: { code, field: "server_url" } });
    expect(fetchedUrls()).toEqual([]);
  });

  it.each(HOSTILE_ENDPOINTS)("refuses a document whose authorization server is %j", async (raw, code) => {
    serve(SERVER_ORIGIN, { [`${PRM_PATH}/mcp`]: () => json(prm({ authorization_servers: [ISSUER, raw] })) });
    const result = await discoverProtectedResource(SERVER_URL, null, options);
    expect(result).toEqual({ ok: false, error: { code, field: "authorization_servers" } });
    expect(trappedRequests()).toEqual([]);
    expect(seen.map((request) => originOf(request.url))).toEqual([SERVER_ORIGIN]);
  });

  it.each(HOSTILE_ENDPOINTS)("refuses a document whose resource is %j", async (raw, code) => {
    serve(SERVER_ORIGIN, { [`${PRM_PATH}/mcp`]: () => json(prm({ resource: raw })) });
    const result = await discoverProtectedResource(SERVER_URL, null, options);
    expect(result).toEqual({ ok: false, error: { code, field: "resource" } });
    expect(trappedRequests()).toEqual([]);
  });

  it.each([
    ["https://other.example.com/mcp"],
    ["https://mcp.example.com:8443/mcp"],
    ["https://api.mcp.example.com/mcp"],
    ["https://mcp.example.com/other"],
    ["https://mcp.example.com/mc"],
    ["https://mcp.example.com/mcp/v2"],
    ["https://mcp.example.com/MCP"],
  ])("refuses a document whose resource %j does not cover the server", async (resource) => {
    serve(SERVER_ORIGIN, { [`${PRM_PATH}/mcp`]: () => json(prm({ resource })) });
    const result = await discoverProtectedResource(SERVER_URL, null, options);
    expect(result).toEqual({ ok: false, error: { code: "resource_mismatch", field: "resource" } });
  });

  it.each([
    ["https://mcp.example.com/mcp"],
    ["https://mcp.example.com/mcp/"],
    ["https://mcp.example.com/"],
    ["https://mcp.example.com"],
    ["https://MCP.example.com/mcp"],
  ])("accepts a resource %j that covers the server, returning it verbatim", async (resource) => {
    serve(SERVER_ORIGIN, { [`${PRM_PATH}/mcp`]: () => json(prm({ resource })) });
    const result = await discoverProtectedResource(SERVER_URL, null, options);
    expect(result).toMatchObject({ ok: true, value: { resource } });
  });

  it.each([
    ["no authorization_servers", { authorization_servers: undefined }, "authorization_servers"],
    ["an empty list", { authorization_servers: [] }, "authorization_servers"],
    ["a string instead of a list", { authorization_servers: ISSUER }, "authorization_servers"],
    ["too many servers", { authorization_servers: Array(9).fill(ISSUER) }, "authorization_servers"],
    ["no resource", { resource: undefined }, "resource"],
    ["scopes that are not a list", { scopes_supported: "a b" }, "scopes_supported"],
  ])("refuses a document with %s", async (_name, overrides, field) => {
    serve(SERVER_ORIGIN, { [`${PRM_PATH}/mcp`]: () => json(prm(overrides)) });
    const result = await discoverProtectedResource(SERVER_URL, null, options);
    expect(result).toEqual({ ok: false, error: { code: "metadata_invalid", field } });
  });

  it("refuses a body that is not a JSON object", async () => {
    serve(SERVER_ORIGIN, { [`${PRM_PATH}/mcp`]: () => new Response("<html>hi</html>") });
    const result = await discoverProtectedResource(SERVER_URL, null, options);
    expect(result).toEqual({ ok: false, error: { code: "metadata_invalid", field: "resource_metadata" } });
  });

  it("drops scope values that are not scope tokens", async () => {
    serve(SERVER_ORIGIN, {
      [`${PRM_PATH}/mcp`]: () => json(prm({ scopes_supported: ["ok", "has space", 'quote"', 7, ""] })),
    });
    const result = await discoverProtectedResource(SERVER_URL, null, options);
    expect(result).toMatchObject({ ok: true, value: { scopesSupported: ["ok"] } });
  });

  it.each([301, 302, 307, 308])("refuses a %i from the metadata URL and never visits the target", async (status) => {
    serve(SERVER_ORIGIN, { [`${PRM_PATH}/mcp`]: () => redirectTo(status) });
    const result = await discoverProtectedResource(SERVER_URL, null, options);
    expect(result).toEqual({ ok: false, error: { code: "redirect_refused", field: "resource_metadata", status } });
    expect(seenAt(EVIL_ORIGIN)).toEqual([]);
    expect(paths(SERVER_ORIGIN)).toHaveLength(1);
  });

  it("refuses oversized metadata", async () => {
    serve(SERVER_ORIGIN, { [`${PRM_PATH}/mcp`]: () => json(prm({ pad: "x".repeat(70_000) })) });
    const result = await discoverProtectedResource(SERVER_URL, null, options);
    expect(result).toEqual({ ok: false, error: { code: "too_large", field: "resource_metadata" } });
  });

  it("times out on a metadata server that never answers", async () => {
    routeFetch(SERVER_ORIGIN, never);
    const result = await discoverProtectedResource(SERVER_URL, null, { ...options, timeoutMs: 50 });
    expect(result).toEqual({ ok: false, error: { code: "timeout", field: "resource_metadata" } });
  });

  it("accepts a loopback server and metadata only when dev loopback is allowed", async () => {
    const dev = "http://127.0.0.1:8787";
    serve(dev, { [`${PRM_PATH}/mcp`]: () => json(prm({ resource: `${dev}/mcp`, authorization_servers: [dev] })) });
    const refused = await discoverProtectedResource(`${dev}/mcp`, null, options);
    expect(refused).toMatchObject({ ok: false, error: { code: "scheme_not_allowed" } });
    expect(seenAt(dev)).toEqual([]);
    const allowed = await discoverProtectedResource(`${dev}/mcp`, null, { allowLoopback: true });
    expect(allowed).toMatchObject({ ok: true, value: { resource: `${dev}/mcp`, authorizationServers: [dev] } });
  });
});
