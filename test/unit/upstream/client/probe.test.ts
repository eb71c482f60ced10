/** probeServer: one unauthenticated MCP initialize, classified (docs/threat-model.md B, E). */
import { beforeEach, describe, expect, it } from "vitest";
import { probeServer } from "../../../../src/upstream/client/probe";
import { resetFetchRoutes, routeFetch, seenAt } from "../../../helpers/fetch-router";
import {
  EVIL_ORIGIN,
  fetchedUrls,
  HOSTILE_ENDPOINTS,
  json,
  never,
  redirectTo,
  SERVER_ORIGIN,
  SERVER_URL,
  trapHostile,
  trappedRequests,
} from "./fixtures";

const options = { allowLoopback: false };
const RM = `${SERVER_ORIGIN}/.well-known/oauth-protected-resource/mcp`;
const initializeResult = { jsonrpc: "2.0", id: 1, result: { protocolVersion: "2025-06-18", capabilities: {} } };
const status = (code: number, headers: Record<string, string> = {}) => new Response("", { status: code, headers });

beforeEach(() => {
  resetFetchRoutes();
  trapHostile();
});

describe("probeServer", () => {
  it("sends an unauthenticated initialize with the MCP headers", async () => {
    routeFetch(SERVER_ORIGIN, () => json(initializeResult));
    await probeServer(SERVER_URL, options);
    const [request] = seenAt(SERVER_ORIGIN);
    expect(request?.url).toBe(SERVER_URL);
    expect(request?.method).toBe("POST");
    expect(request?.headers).toMatchObject({
      accept: "application/json, text/event-stream",
      "content-type": "application/json",
      "mcp-protocol-version": "2025-06-18",
    });
    expect(request?.headers.authorization).toBeUndefined();
    expect(request?.headers.cookie).toBeUndefined();
    expect(JSON.parse(request?.body ?? "")).toMatchObject({
      jsonrpc: "2.0",
      method: "initialize",
      params: { protocolVersion: "2025-06-18", clientInfo: { name: "Countersign" } },
    });
  });

  it("answers a 200 JSON initialize as open streamable HTTP, with its session id", async () => {
    routeFetch(SERVER_ORIGIN, () => json(initializeResult, 200, { "mcp-session-id": "sess-1a2b" }));
    expect(await probeServer(SERVER_URL, options)).toEqual({
      ok: true,
      value: { auth: "none", transport: "streamable-http", sessionId: "sess-1a2b" },
    });
  });

  it("answers an SSE initialize that never closes without waiting for it", async () => {
    routeFetch(SERVER_ORIGIN, () => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(`event: message\ndata: ${JSON.stringify(initializeResult)}\n\n`));
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream; charset=utf-8" } });
    });
    const result = await probeServer(SERVER_URL, { ...options, timeoutMs: 300 });
    expect(result).toEqual({ ok: true, value: { auth: "none", transport: "streamable-http" } });
  });

  it("drops a session id that is not visible ASCII of sane length", async () => {
    routeFetch(SERVER_ORIGIN, () => json(initializeResult, 200, { "mcp-session-id": "x".repeat(300) }));
    expect(await probeServer(SERVER_URL, options)).toEqual({
      ok: true,
      value: { auth: "none", transport: "streamable-http" },
    });
  });

  it("does not take a 200 web page for an MCP server", async () => {
    routeFetch(SERVER_ORIGIN, () => new Response("<html></html>", { headers: { "content-type": "text/html" } }));
    expect(await probeServer(SERVER_URL, options)).toEqual({ ok: false, error: { code: "not_mcp", status: 200 } });
  });

  it("answers a 401 with resource_metadata as OAuth, with the parsed challenge", async () => {
    routeFetch(SERVER_ORIGIN, () =>
      status(401, { "www-authenticate": `Bearer resource_metadata="${RM}", scope="files:read"` }),
    );
    expect(await probeServer(SERVER_URL, options)).toEqual({
      ok: true,
      value: { auth: "oauth", challenge: { bearer: true, resourceMetadata: RM, scope: "files:read" } },
    });
    expect(seenAt(SERVER_ORIGIN)).toHaveLength(1); // the metadata URL is for discovery, not fetched here
  });

  it("answers a 403 with a scope challenge as OAuth", async () => {
    routeFetch(SERVER_ORIGIN, () =>
      status(403, { "www-authenticate": 'Bearer error="insufficient_scope", scope="admin"' }),
    );
    expect(await probeServer(SERVER_URL, options)).toEqual({
      ok: true,
      value: { auth: "oauth", challenge: { bearer: true, scope: "admin", error: "insufficient_scope" } },
    });
  });

  it("answers a plain Bearer challenge as OAuth (discovery then uses the well-known URLs)", async () => {
    routeFetch(SERVER_ORIGIN, () => status(401, { "www-authenticate": 'Bearer realm="mcp"' }));
    expect(await probeServer(SERVER_URL, options)).toEqual({
      ok: true,
      value: { auth: "oauth", challenge: { bearer: true } },
    });
  });

  it.each([
    ["no challenge", {}],
    ["a Basic challenge", { "www-authenticate": 'Basic realm="x"' }],
    ["a junk challenge", { "www-authenticate": '=="Bearer"' }],
  ])("answers a 401 with %s as probe_failed", async (_name, headers) => {
    routeFetch(SERVER_ORIGIN, () => status(401, headers));
    expect(await probeServer(SERVER_URL, options)).toEqual({ ok: false, error: { code: "probe_failed", status: 401 } });
  });

  it.each([400, 404, 405])("answers a %i as a legacy SSE candidate", async (code) => {
    routeFetch(SERVER_ORIGIN, () => status(code));
    expect(await probeServer(SERVER_URL, options)).toEqual({
      ok: true,
      value: { auth: "unknown", transport: "sse-candidate" },
    });
  });

  it.each([500, 502, 429, 410, 406])("answers a %i as probe_failed with the status", async (code) => {
    routeFetch(SERVER_ORIGIN, () => status(code));
    expect(await probeServer(SERVER_URL, options)).toEqual({
      ok: false,
      error: { code: "probe_failed", status: code },
    });
  });

  it.each([301, 302, 307, 308])("refuses a %i and never visits the target", async (code) => {
    routeFetch(SERVER_ORIGIN, () => redirectTo(code));
    expect(await probeServer(SERVER_URL, options)).toEqual({
      ok: false,
      error: { code: "redirect_refused", status: code },
    });
    expect(seenAt(EVIL_ORIGIN)).toEqual([]);
  });

  it.each(HOSTILE_ENDPOINTS)("refuses the server URL %j (%s) before sending anything", async (raw, code) => {
    expect(await probeServer(raw, options)).toEqual({ ok: false, error: { code } });
    expect(trappedRequests()).toEqual([]);
    expect(fetchedUrls()).toEqual([]);
  });

  it("times out on a server that never answers", async () => {
    routeFetch(SERVER_ORIGIN, never);
    expect(await probeServer(SERVER_URL, { ...options, timeoutMs: 50 })).toEqual({
      ok: false,
      error: { code: "timeout" },
    });
  });

  it("probes a loopback dev server only when allowed", async () => {
    routeFetch("http://localhost:8788", () => json(initializeResult));
    expect(await probeServer("http://localhost:8788/mcp", options)).toEqual({
      ok: false,
      error: { code: "scheme_not_allowed" },
    });
    expect(seenAt("http://localhost:8788")).toEqual([]);
    expect(await probeServer("http://localhost:8788/mcp", { allowLoopback: true })).toMatchObject({
      ok: true,
      value: { auth: "none" },
    });
  });
});
