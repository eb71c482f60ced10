/**
 * listUpstreamTools / callUpstreamTool against real SDK servers (modern 2026-07-28 through
 * createMcpHandler, a stateful 2025 Streamable HTTP server) and hand-rolled fakes (a stateless
 * 2025 JSON server, a legacy HTTP+SSE server), all in-process as the injected fetcher.
 */
import { createMcpHandler, McpServer, WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/server";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { FetchLike } from "../../../../src/lib/streams";
import {
  callUpstreamTool,
  listUpstreamTools,
  type McpClientOptions,
  type UpstreamSessionState,
} from "../../../../src/upstream/client/mcp-client";
import {
  BOMB_BYTES,
  EVIL_ORIGIN,
  gzipped,
  HOSTILE_ENDPOINTS,
  inflating,
  json,
  never,
  redirectTo,
  SERVER_ORIGIN,
  SERVER_URL,
} from "./fixtures";

const TOKEN = "Bearer upstream-token-abc123";

// ---------------------------------------------------------------------------------------------
// Servers

function echoServer(): McpServer {
  const server = new McpServer({ name: "echo-server", version: "1.0.0" });
  server.registerTool(
    "echo",
    {
      title: "Echo",
      description: "Says it back",
      inputSchema: z.object({ text: z.string() }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ text }) => ({ content: [{ type: "text", text }] }),
  );
  server.registerTool("fail", { inputSchema: z.object({}) }, async () => ({
    content: [{ type: "text", text: "it broke" }],
    isError: true,
  }));
  return server;
}

/** A 2026-07-28 server (with the SDK's stateless 2025 fallback). */
const modernServer = (): FetchLike => {
  const handler = createMcpHandler(echoServer);
  return (request) => handler.fetch(request);
};

/** A stateful 2025 Streamable HTTP server; `restart` forgets every session (the next use answers 404). */
function statefulServer(options: { rejectEverySession?: boolean } = {}) {
  const sessions = new Map<string, WebStandardStreamableHTTPServerTransport>();
  const fetch: FetchLike = async (request) => {
    const id = request.headers.get("mcp-session-id");
    if (id !== null) {
      const transport = options.rejectEverySession ? undefined : sessions.get(id);
      if (!transport)
        return json({ jsonrpc: "2.0", id: null, error: { code: -32001, message: "Session not found" } }, 404);
      return transport.handleRequest(request);
    }
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      onsessioninitialized: (sessionId) => {
        sessions.set(sessionId, transport);
      },
    });
    await echoServer().connect(transport);
    return transport.handleRequest(request);
  };
  return { fetch, restart: () => sessions.clear() };
}

type Answer = { result: unknown } | { error: { code: number; message: string } } | Response;
type Handlers = Record<string, (params: Record<string, unknown>) => Answer>;

const BASE_HANDLERS: Handlers = {
  initialize: (params) => ({
    result: {
      protocolVersion: params.protocolVersion,
      capabilities: { tools: {} },
      serverInfo: { name: "fake-2025", version: "1.0.0" },
    },
  }),
  "tools/list": () => ({ result: { tools: [{ name: "echo", inputSchema: { type: "object" } }] } }),
  "tools/call": () => ({ result: { content: [{ type: "text", text: "done" }] } }),
};

interface RpcMessage {
  id?: number | string;
  method: string;
  params?: Record<string, unknown>;
}

/** The JSON-RPC answer of the fake servers, or null for a notification. */
function answer(message: RpcMessage, handlers: Handlers): Response | Record<string, unknown> | null {
  if (message.id === undefined) return null;
  const handler = { ...BASE_HANDLERS, ...handlers }[message.method];
  if (!handler) return { jsonrpc: "2.0", id: message.id, error: { code: -32601, message: "Method not found" } };
  const reply = handler(message.params ?? {});
  return reply instanceof Response ? reply : { jsonrpc: "2.0", id: message.id, ...reply };
}

/** A stateless 2025 Streamable HTTP server answering JSON; `server/discover` is an unknown method to it. */
function jsonServer(handlers: Handlers = {}): FetchLike {
  return async (request) => {
    if (request.method !== "POST") return new Response(null, { status: 405 });
    const reply = answer((await request.json()) as RpcMessage, handlers);
    if (reply === null) return new Response(null, { status: 202 });
    return reply instanceof Response ? reply : json(reply);
  };
}

/**
 * A stateless 2025 JSON server whose answer to `method` is gzipped JSON-RPC with `padding` "0"s
 * inside a string, handed on decompressed as a runtime's fetch would (see `inflating`).
 */
function gzipServer(method: "tools/list" | "tools/call", padding: number) {
  const base = jsonServer();
  const [open, close] =
    method === "tools/list"
      ? ['{"tools":[{"name":"echo","inputSchema":{"type":"object"},"description":"', '"}]}']
      : ['{"content":[{"type":"text","text":"', '"}]}'];
  let wire = 0;
  let inflated = () => 0;
  const fetch: FetchLike = async (request) => {
    if (request.method !== "POST") return base(request);
    const message = (await request.clone().json()) as RpcMessage;
    if (message.method !== method) return base(request);
    const bytes = await gzipped(
      `{"jsonrpc":"2.0","id":${JSON.stringify(message.id)},"result":${open}`,
      padding,
      `${close}}`,
    );
    wire = bytes.byteLength;
    const answer = inflating(bytes);
    inflated = answer.decoded;
    return answer.response;
  };
  return { fetch, wireBytes: () => wire, inflated: () => inflated() };
}

const encode = (text: string) => new TextEncoder().encode(text);
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * A legacy HTTP+SSE server: GET the server URL opens the stream, whose first event names the
 * endpoint; POSTs there are answered 202 and their replies pushed on the stream. A POST to the
 * server URL itself gets `postStatus`.
 */
function sseServer(options: { postStatus?: number; endpoint?: string; handlers?: Handlers } = {}) {
  const streams: ReadableStreamDefaultController<Uint8Array>[] = [];
  let cancelled = 0;
  const fetch: FetchLike = async (request) => {
    const url = new URL(request.url);
    if (request.method === "GET" && url.pathname === "/mcp") {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          streams.push(controller);
          controller.enqueue(encode(`event: endpoint\ndata: ${options.endpoint ?? "/messages?sessionId=abc"}\n\n`));
        },
        cancel() {
          cancelled++;
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    }
    if (request.method === "POST" && url.pathname === "/messages") {
      const reply = answer((await request.json()) as RpcMessage, options.handlers ?? {});
      if (reply instanceof Response) return reply;
      if (reply !== null) streams.at(-1)?.enqueue(encode(`event: message\ndata: ${JSON.stringify(reply)}\n\n`));
      return new Response("Accepted", { status: 202 });
    }
    if (request.method === "POST" && url.pathname === "/mcp") {
      return new Response("Method Not Allowed", { status: options.postStatus ?? 405 });
    }
    return new Response("not found", { status: 404 });
  };
  return { fetch, cancelled: () => cancelled };
}

// ---------------------------------------------------------------------------------------------
// The fetch boundary: what was sent, and whether every response body was closed.

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** The JSON-RPC method of a POST, or the HTTP method. */
  what: string;
}

function record(server: FetchLike) {
  const seen: Seen[] = [];
  const open = new Set<symbol>();
  const fetcher: FetchLike = async (request) => {
    let what = request.method;
    if (request.method === "POST") {
      try {
        what = (JSON.parse(await request.clone().text()) as RpcMessage).method;
      } catch {
        what = "POST";
      }
    }
    seen.push({ method: request.method, url: request.url, headers: Object.fromEntries(request.headers), what });
    const response = await server(request);
    if (!response.body) return response;
    const id = Symbol(what);
    open.add(id);
    const reader = response.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const chunk = await reader.read();
        if (chunk.done) {
          open.delete(id);
          controller.close();
        } else {
          controller.enqueue(chunk.value);
        }
      },
      cancel(reason) {
        open.delete(id);
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
  const count = (what: string) => seen.filter((request) => request.what === what).length;
  return { fetcher, seen, open, count, whats: () => seen.map((request) => request.what) };
}

const options = (fetcher: FetchLike, extra: Partial<McpClientOptions> = {}): McpClientOptions => ({
  allowLoopback: false,
  headers: { Authorization: TOKEN },
  fetcher,
  ...extra,
});

function unwrap<T>(result: { ok: true; value: T } | { ok: false; error: unknown }): T {
  if (!result.ok) throw new Error(`expected ok, got ${JSON.stringify(result.error)}`);
  return result.value;
}

const ECHO_TOOL = {
  name: "echo",
  title: "Echo",
  description: "Says it back",
  inputSchema: expect.objectContaining({ type: "object", properties: { text: { type: "string" } } }),
  annotations: { readOnlyHint: true, openWorldHint: false },
};

// ---------------------------------------------------------------------------------------------

describe("mcp-client against a 2026-07-28 server", () => {
  it("discovers the modern era, lists the tools and persists the discover result", async () => {
    const server = record(modernServer());
    const { tools, state, serverName } = unwrap(await listUpstreamTools(SERVER_URL, null, options(server.fetcher)));
    expect(tools).toEqual([ECHO_TOOL, { name: "fail", inputSchema: expect.objectContaining({ type: "object" }) }]);
    expect(serverName).toBe("echo-server");
    expect(state).toEqual({
      transport: "streamable-http",
      era: { kind: "modern", discover: expect.objectContaining({ supportedVersions: ["2026-07-28"] }) },
      sessionId: null,
      protocolVersion: "2026-07-28",
    });
    expect(server.whats()).toEqual(["server/discover", "tools/list"]);
    expect(JSON.parse(JSON.stringify(state))).toEqual(state); // plain JSON, storable as is
    expect(server.open.size).toBe(0);
  });

  it("reuses the saved verdict: a call is one request, no probe and no initialize", async () => {
    const server = record(modernServer());
    const { state } = unwrap(await listUpstreamTools(SERVER_URL, null, options(server.fetcher)));
    server.seen.length = 0;
    const called = unwrap(
      await callUpstreamTool(SERVER_URL, state, "echo", { text: "hello" }, options(server.fetcher)),
    );
    expect(called.result).toEqual({ content: [{ type: "text", text: "hello" }], isError: false });
    expect(called.state).toEqual(state);
    expect(server.whats()).toEqual(["tools/call"]);
    expect(server.seen[0]?.headers["mcp-protocol-version"]).toBe("2026-07-28");
  });

  it("passes an isError result through as an ok result", async () => {
    const server = record(modernServer());
    const called = unwrap(await callUpstreamTool(SERVER_URL, null, "fail", {}, options(server.fetcher)));
    expect(called.result).toEqual({ content: [{ type: "text", text: "it broke" }], isError: true });
  });
});

describe("mcp-client against a stateful 2025 server", () => {
  it("falls back to initialize and persists the session id and protocol version", async () => {
    const upstream = statefulServer();
    const server = record(upstream.fetch);
    const { tools, state, serverName } = unwrap(await listUpstreamTools(SERVER_URL, null, options(server.fetcher)));
    expect(tools).toEqual([ECHO_TOOL, { name: "fail", inputSchema: expect.objectContaining({ type: "object" }) }]);
    expect(serverName).toBe("echo-server");
    expect(state).toEqual({
      transport: "streamable-http",
      era: { kind: "legacy" },
      sessionId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      protocolVersion: "2025-11-25",
    });
    expect(server.count("server/discover")).toBe(1);
    expect(server.count("initialize")).toBe(1);
    expect(server.count("tools/list")).toBe(1);
    const listed = server.seen.find((request) => request.what === "tools/list");
    expect(listed?.headers["mcp-session-id"]).toBe(state.sessionId);
    expect(server.open.size).toBe(0); // the standalone GET stream was closed with the operation
  });

  it("reuses the session: no probe, no initialize, the saved headers", async () => {
    const upstream = statefulServer();
    const server = record(upstream.fetch);
    const { state } = unwrap(await listUpstreamTools(SERVER_URL, null, options(server.fetcher)));
    server.seen.length = 0;
    const called = unwrap(
      await callUpstreamTool(SERVER_URL, state, "echo", { text: "again" }, options(server.fetcher)),
    );
    expect(called.result).toEqual({ content: [{ type: "text", text: "again" }], isError: false });
    expect(called.state).toEqual(state);
    expect(server.whats()).toEqual(["tools/call"]);
    expect(server.seen[0]?.headers).toMatchObject({
      "mcp-session-id": state.sessionId,
      "mcp-protocol-version": "2025-11-25",
    });
  });

  it("re-initialises once and retries once when the saved session answers 404", async () => {
    const upstream = statefulServer();
    const server = record(upstream.fetch);
    const first = unwrap(await listUpstreamTools(SERVER_URL, null, options(server.fetcher)));
    upstream.restart();
    server.seen.length = 0;
    const called = unwrap(
      await callUpstreamTool(SERVER_URL, first.state, "echo", { text: "x" }, options(server.fetcher)),
    );
    expect(called.result).toEqual({ content: [{ type: "text", text: "x" }], isError: false });
    expect(server.count("tools/call")).toBe(2);
    expect(server.count("initialize")).toBe(1);
    expect(server.count("server/discover")).toBe(0);
    expect(server.seen[0]?.headers["mcp-session-id"]).toBe(first.state.sessionId);
    expect(called.state.sessionId).toEqual(expect.any(String));
    expect(called.state.sessionId).not.toBe(first.state.sessionId);
    expect(called.state.era).toEqual({ kind: "legacy" });
    expect(server.open.size).toBe(0);
  });

  it("answers a second 404 as protocol_error without a second retry", async () => {
    const upstream = statefulServer({ rejectEverySession: true });
    const server = record(upstream.fetch);
    const stale: UpstreamSessionState = {
      transport: "streamable-http",
      era: { kind: "legacy" },
      sessionId: "gone",
      protocolVersion: "2025-11-25",
    };
    const result = await callUpstreamTool(SERVER_URL, stale, "echo", { text: "x" }, options(server.fetcher));
    expect(result).toEqual({ ok: false, error: { code: "protocol_error", status: 404 } });
    expect(server.count("tools/call")).toBe(1);
    expect(server.count("initialize")).toBe(1);
  });

  it.each([
    [500, { code: "unreachable", status: 500 }],
    [400, { code: "protocol_error", status: 400 }],
    [410, { code: "protocol_error", status: 410 }],
  ])("never retries a resumed session on %i", async (status, error) => {
    const server = record(async () => new Response("upstream says: secret detail", { status }));
    const saved: UpstreamSessionState = {
      transport: "streamable-http",
      era: { kind: "legacy" },
      sessionId: "s-1",
      protocolVersion: "2025-11-25",
    };
    expect(await callUpstreamTool(SERVER_URL, saved, "echo", {}, options(server.fetcher))).toEqual({
      ok: false,
      error,
    });
    expect(server.whats()).toEqual(["tools/call"]);
  });

  it("does not retry a 404 when no session was resumed", async () => {
    const server = record(jsonServer({ "tools/call": () => new Response("gone", { status: 404 }) }));
    const result = await callUpstreamTool(SERVER_URL, null, "echo", {}, options(server.fetcher));
    expect(result).toEqual({ ok: false, error: { code: "protocol_error", status: 404 } });
    expect(server.count("tools/call")).toBe(1);
    expect(server.count("initialize")).toBe(1);
  });
});

describe("mcp-client legacy HTTP+SSE fallback", () => {
  it.each([405, 404, 400])("falls back to SSE when the POST answers %i, and persists transport sse", async (status) => {
    const upstream = sseServer({ postStatus: status });
    const server = record(upstream.fetch);
    const { tools, state, serverName } = unwrap(await listUpstreamTools(SERVER_URL, null, options(server.fetcher)));
    expect(tools).toEqual([{ name: "echo", inputSchema: { type: "object" } }]);
    expect(serverName).toBe("fake-2025");
    expect(state).toEqual({ transport: "sse", era: null, sessionId: null, protocolVersion: null });
    expect(server.whats()).toEqual([
      "server/discover",
      "initialize",
      "GET",
      "initialize",
      "notifications/initialized",
      "tools/list",
    ]);
    expect(server.seen.slice(3).map((request) => request.url)).toEqual([
      `${SERVER_ORIGIN}/messages?sessionId=abc`,
      `${SERVER_ORIGIN}/messages?sessionId=abc`,
      `${SERVER_ORIGIN}/messages?sessionId=abc`,
    ]);
    expect(upstream.cancelled()).toBe(1);
    expect(server.open.size).toBe(0);
  });

  it("goes straight to SSE with saved sse state, and closes the stream", async () => {
    const upstream = sseServer({ handlers: { "tools/call": () => ({ result: { content: [], isError: true } }) } });
    const server = record(upstream.fetch);
    const state: UpstreamSessionState = { transport: "sse", era: null, sessionId: null, protocolVersion: null };
    const called = unwrap(await callUpstreamTool(SERVER_URL, state, "echo", {}, options(server.fetcher)));
    expect(called).toEqual({ result: { content: [], isError: true }, state });
    expect(server.whats()).toEqual(["GET", "initialize", "notifications/initialized", "tools/call"]);
    expect(upstream.cancelled()).toBe(1);
    expect(server.open.size).toBe(0);
  });

  it.each([
    `${EVIL_ORIGIN}/messages?sessionId=abc`,
    "https://mcp.example.com:8443/messages",
    "http://mcp.example.com/messages",
    "//evil.example/messages",
  ])("refuses an endpoint event pointing to %s and sends nothing there", async (endpoint) => {
    const upstream = sseServer({ endpoint });
    const server = record(upstream.fetch);
    const state: UpstreamSessionState = { transport: "sse", era: null, sessionId: null, protocolVersion: null };
    expect(await listUpstreamTools(SERVER_URL, state, options(server.fetcher))).toEqual({
      ok: false,
      error: { code: "origin_mismatch" },
    });
    expect(server.whats()).toEqual(["GET"]);
    expect(server.open.size).toBe(0);
  });

  it("falls back to SSE from a state that has no era verdict yet", async () => {
    const upstream = sseServer();
    const server = record(upstream.fetch);
    const fresh: UpstreamSessionState = {
      transport: "streamable-http",
      era: null,
      sessionId: null,
      protocolVersion: null,
    };
    const { state } = unwrap(await listUpstreamTools(SERVER_URL, fresh, options(server.fetcher)));
    expect(state.transport).toBe("sse");
  });

  it("does not fall back to SSE once a Streamable HTTP verdict is saved", async () => {
    const upstream = sseServer();
    const server = record(upstream.fetch);
    const saved: UpstreamSessionState = {
      transport: "streamable-http",
      era: { kind: "legacy" },
      sessionId: null,
      protocolVersion: "2025-11-25",
    };
    expect(await listUpstreamTools(SERVER_URL, saved, options(server.fetcher))).toEqual({
      ok: false,
      error: { code: "not_mcp", status: 405 },
    });
    expect(server.whats()).toEqual(["initialize"]);
  });

  it("answers not_mcp when neither transport answers like MCP", async () => {
    const server = record(async () => new Response("<html>nope</html>", { status: 404 }));
    expect(await listUpstreamTools(SERVER_URL, null, options(server.fetcher))).toEqual({
      ok: false,
      error: { code: "not_mcp", status: 404 },
    });
    expect(server.whats()).toEqual(["server/discover", "initialize", "GET"]);
  });

  it("does not fall back to SSE on a status outside 400, 404 and 405", async () => {
    const server = record(async () => new Response("no", { status: 406 }));
    expect(await listUpstreamTools(SERVER_URL, null, options(server.fetcher))).toEqual({
      ok: false,
      error: { code: "not_mcp", status: 406 },
    });
    expect(server.count("GET")).toBe(0);
  });
});

describe("mcp-client guarded fetch", () => {
  it.each([301, 302, 303, 307, 308])("refuses a %i redirect and never follows it", async (status) => {
    const server = record(async () => redirectTo(status));
    expect(await listUpstreamTools(SERVER_URL, null, options(server.fetcher))).toEqual({
      ok: false,
      error: { code: "redirect_refused", status },
    });
    expect(server.seen.map((request) => request.url)).toEqual([SERVER_URL]);
  });

  it("refuses a redirect in the middle of a resumed session", async () => {
    const server = record(async () => redirectTo(307, `${SERVER_ORIGIN}/elsewhere`));
    const state: UpstreamSessionState = {
      transport: "streamable-http",
      era: { kind: "legacy" },
      sessionId: "s-1",
      protocolVersion: "2025-11-25",
    };
    expect(await callUpstreamTool(SERVER_URL, state, "echo", {}, options(server.fetcher))).toEqual({
      ok: false,
      error: { code: "redirect_refused", status: 307 },
    });
    expect(server.seen).toHaveLength(1);
  });

  it.each([401, 403])("answers %i as unauthorized with the parsed challenge and no upstream text", async (status) => {
    const metadata = `${SERVER_ORIGIN}/.well-known/oauth-protected-resource/mcp`;
    const server = record(
      async () =>
        new Response(`{"error":"invalid_token","detail":"${TOKEN}"}`, {
          status,
          headers: { "www-authenticate": `Bearer resource_metadata="${metadata}", error="invalid_token"` },
        }),
    );
    expect(await listUpstreamTools(SERVER_URL, null, options(server.fetcher))).toEqual({
      ok: false,
      error: {
        code: "unauthorized",
        status,
        challenge: { bearer: true, resourceMetadata: metadata, error: "invalid_token" },
      },
    });
    expect(server.count("GET")).toBe(0); // no SSE fallback on an auth failure
  });

  it("answers a 401 to a resumed call as unauthorized", async () => {
    const upstream = modernServer();
    const { state } = unwrap(await listUpstreamTools(SERVER_URL, null, options(upstream)));
    const server = record(async () => new Response(null, { status: 401, headers: { "www-authenticate": "Bearer" } }));
    expect(await callUpstreamTool(SERVER_URL, state, "echo", { text: "x" }, options(server.fetcher))).toEqual({
      ok: false,
      error: { code: "unauthorized", status: 401, challenge: { bearer: true } },
    });
    expect(server.whats()).toEqual(["tools/call"]);
  });

  it("times out on a server that never sends headers", async () => {
    const server = record(never);
    const result = await listUpstreamTools(SERVER_URL, null, options(server.fetcher, { timeoutMs: 100 }));
    expect(result).toEqual({ ok: false, error: { code: "timeout" } });
    expect(server.seen).toHaveLength(1);
  });

  it("times out on a server that opens a stream and never answers on it", async () => {
    const silent = () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } });
    const server = record(jsonServer({ "tools/call": silent }));
    const result = await callUpstreamTool(SERVER_URL, null, "echo", {}, options(server.fetcher, { timeoutMs: 200 }));
    expect(result).toEqual({ ok: false, error: { code: "timeout" } });
    expect(server.open.size).toBe(0);
  });

  it("times out on a legacy SSE stream that never names its endpoint", async () => {
    const server = record(
      async () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } }),
    );
    const state: UpstreamSessionState = { transport: "sse", era: null, sessionId: null, protocolVersion: null };
    const result = await listUpstreamTools(SERVER_URL, state, options(server.fetcher, { timeoutMs: 100 }));
    expect(result).toEqual({ ok: false, error: { code: "timeout" } });
    expect(server.open.size).toBe(0);
  });

  it("stops an endless SSE answer at maxBytes", async () => {
    const endless = () =>
      new Response(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            await tick(); // as from a network: the deadline stays able to fire
            controller.enqueue(encode(`: ${"x".repeat(1000)}\n\n`));
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
    const server = record(jsonServer({ "tools/list": endless }));
    const result = await listUpstreamTools(
      SERVER_URL,
      null,
      options(server.fetcher, { maxBytes: 16_384, timeoutMs: 5000 }),
    );
    expect(result).toEqual({ ok: false, error: { code: "too_large" } });
    expect(server.open.size).toBe(0);
  });

  it("stops an endless legacy SSE stream at maxBytes", async () => {
    const endless = async () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(encode("event: endpoint\ndata: /messages\n\n"));
          },
          async pull(controller) {
            await tick(); // as from a network: the deadline stays able to fire
            controller.enqueue(encode(`: ${"x".repeat(1000)}\n\n`));
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
    const server = record(async (request) =>
      request.method === "GET" ? endless() : new Response(null, { status: 202 }),
    );
    const state: UpstreamSessionState = { transport: "sse", era: null, sessionId: null, protocolVersion: null };
    const result = await listUpstreamTools(
      SERVER_URL,
      state,
      options(server.fetcher, { maxBytes: 16_384, timeoutMs: 5000 }),
    );
    expect(result).toEqual({ ok: false, error: { code: "too_large" } });
    expect(server.open.size).toBe(0);
  });

  it.each([
    ["streamed without a length", false],
    ["declaring its length", true],
  ])("refuses a huge JSON answer %s", async (_name, declared) => {
    const huge = JSON.stringify({ jsonrpc: "2.0", id: 1, result: { tools: [], pad: "y".repeat(100_000) } });
    const body = declared ? huge : new Blob([huge]).stream();
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (declared) headers["content-length"] = String(huge.length);
    const server = record(jsonServer({ "tools/list": () => new Response(body, { headers }) }));
    const result = await listUpstreamTools(SERVER_URL, null, options(server.fetcher, { maxBytes: 16_384 }));
    expect(result).toEqual({ ok: false, error: { code: "too_large" } });
  });

  it("counts bytes across the whole operation, not per response", async () => {
    const page = (cursor: number) => ({
      result: {
        tools: [{ name: `t${cursor}`, inputSchema: {}, description: "d".repeat(4000) }],
        nextCursor: `${cursor + 1}`,
      },
    });
    const server = record(jsonServer({ "tools/list": (params) => page(Number(params.cursor ?? 0)) }));
    const result = await listUpstreamTools(SERVER_URL, null, options(server.fetcher, { maxBytes: 10_000 }));
    expect(result).toEqual({ ok: false, error: { code: "too_large" } });
    expect(server.count("tools/list")).toBe(3); // about 4 KB a page: the third crosses 10 000 bytes
  });

  const GZIP_CAP = 64 * 1024;
  const gzipMethods: ["tools/list" | "tools/call"][] = [["tools/list"], ["tools/call"]];

  it.each(gzipMethods)(
    "counts the decoded bytes of a gzip %s answer: a 10 MiB bomb is too_large, inflated no further than near the cap",
    async (method) => {
      const bomb = gzipServer(method, BOMB_BYTES);
      const server = record(bomb.fetch);
      const result =
        method === "tools/list"
          ? await listUpstreamTools(SERVER_URL, null, options(server.fetcher, { maxBytes: GZIP_CAP }))
          : await callUpstreamTool(SERVER_URL, null, "echo", {}, options(server.fetcher, { maxBytes: GZIP_CAP }));
      expect(result).toEqual({ ok: false, error: { code: "too_large" } });
      // On the wire the bomb is well under the cap (its declared length too): only the decoded count stops it.
      expect(bomb.wireBytes()).toBeLessThan(GZIP_CAP);
      // Read up to the cap (less what the handshake already counted), and then no further.
      expect(bomb.inflated()).toBeGreaterThan(GZIP_CAP / 2);
      expect(bomb.inflated()).toBeLessThan(1024 * 1024);
      expect(server.open.size).toBe(0);
    },
  );

  it.each(gzipMethods)(
    "reads a gzip %s answer under the cap as its decoded JSON (the bomb above can fail)",
    async (method) => {
      const small = gzipServer(method, 1000);
      const server = record(small.fetch);
      if (method === "tools/list") {
        const listed = unwrap(
          await listUpstreamTools(SERVER_URL, null, options(server.fetcher, { maxBytes: GZIP_CAP })),
        );
        expect(listed.tools).toEqual([
          { name: "echo", description: "0".repeat(1000), inputSchema: { type: "object" } },
        ]);
      } else {
        const called = unwrap(
          await callUpstreamTool(SERVER_URL, null, "echo", {}, options(server.fetcher, { maxBytes: GZIP_CAP })),
        );
        expect(called.result).toEqual({ content: [{ type: "text", text: "0".repeat(1000) }], isError: false });
      }
      expect(small.inflated()).toBeGreaterThan(1000);
    },
  );

  it("answers a network failure as unreachable", async () => {
    const server = record(async () => {
      throw new TypeError("connection refused to 10.1.2.3");
    });
    expect(await listUpstreamTools(SERVER_URL, null, options(server.fetcher))).toEqual({
      ok: false,
      error: { code: "unreachable" },
    });
  });

  it("answers a 5xx with its status only", async () => {
    const server = record(async () => new Response(`internal error near ${TOKEN}`, { status: 502 }));
    expect(await listUpstreamTools(SERVER_URL, null, options(server.fetcher))).toEqual({
      ok: false,
      error: { code: "unreachable", status: 502 },
    });
  });

  it("answers a web page as not_mcp", async () => {
    const server = record(async () => new Response("<html></html>", { headers: { "content-type": "text/html" } }));
    expect(await listUpstreamTools(SERVER_URL, null, options(server.fetcher))).toEqual({
      ok: false,
      error: { code: "not_mcp" },
    });
  });

  it.each(HOSTILE_ENDPOINTS)("refuses the server URL %j (%s) before any fetch", async (raw, code) => {
    const server = record(modernServer());
    expect(await listUpstreamTools(raw, null, options(server.fetcher))).toEqual({ ok: false, error: { code } });
    expect(await callUpstreamTool(raw, null, "echo", {}, options(server.fetcher))).toEqual({
      ok: false,
      error: { code },
    });
    expect(server.seen).toEqual([]);
  });

  it("reaches http://127.0.0.1 only when loopback is allowed (dev)", async () => {
    const server = record(modernServer());
    const local = "http://127.0.0.1:8787/mcp";
    expect(await listUpstreamTools(local, null, options(server.fetcher))).toEqual({
      ok: false,
      error: { code: "scheme_not_allowed" },
    });
    expect(server.seen).toEqual([]);
    const allowed = unwrap(await listUpstreamTools(local, null, options(server.fetcher, { allowLoopback: true })));
    expect(allowed.tools.map((tool) => tool.name)).toEqual(["echo", "fail"]);
    expect(new Set(server.seen.map((request) => new URL(request.url).origin))).toEqual(
      new Set(["http://127.0.0.1:8787"]),
    );
  });

  it.each([
    ["the modern server", () => modernServer()],
    ["the stateful 2025 server", () => statefulServer().fetch],
    ["the legacy SSE server", () => sseServer().fetch],
  ])("sends the configured headers on every request to %s, and no other credential", async (_name, make) => {
    const server = record(make());
    const listed = unwrap(
      await listUpstreamTools(SERVER_URL, null, options(server.fetcher, { headers: { Authorization: TOKEN } })),
    );
    unwrap(await callUpstreamTool(SERVER_URL, listed.state, "echo", { text: "t" }, options(server.fetcher)));
    expect(server.seen.length).toBeGreaterThan(2);
    for (const request of server.seen) {
      expect(request.headers.authorization).toBe(TOKEN);
      expect(request.headers.cookie).toBeUndefined();
      expect(request.headers["proxy-authorization"]).toBeUndefined();
    }
  });

  it("sends an API-key header as given, and no Authorization without one", async () => {
    const server = record(modernServer());
    unwrap(await listUpstreamTools(SERVER_URL, null, options(server.fetcher, { headers: { "X-Api-Key": "k-1" } })));
    for (const request of server.seen) {
      expect(request.headers["x-api-key"]).toBe("k-1");
      expect(request.headers.authorization).toBeUndefined();
    }
  });
});

describe("mcp-client answers", () => {
  it("answers a JSON-RPC error to tools/call as protocol_error with its code, not its message", async () => {
    const server = record(
      jsonServer({ "tools/call": () => ({ error: { code: -32602, message: `bad arguments ${TOKEN}` } }) }),
    );
    expect(await callUpstreamTool(SERVER_URL, null, "echo", {}, options(server.fetcher))).toEqual({
      ok: false,
      error: { code: "protocol_error", rpcCode: -32602 },
    });
    expect(server.count("tools/call")).toBe(1);
  });

  it.each([
    ["no content", { isError: false }],
    ["content that is not an array", { content: "text" }],
    ["a null content", { content: null }],
  ])("answers a tools/call result with %s as protocol_error", async (_name, result) => {
    const server = record(jsonServer({ "tools/call": () => ({ result }) }));
    expect(await callUpstreamTool(SERVER_URL, null, "echo", {}, options(server.fetcher))).toEqual({
      ok: false,
      error: { code: "protocol_error" },
    });
  });

  it("keeps content as sent and an object structuredContent", async () => {
    const content = [
      { type: "text", text: "a" },
      { type: "future-kind", data: 1 },
    ];
    const server = record(
      jsonServer({ "tools/call": () => ({ result: { content, structuredContent: { n: 1 }, isError: false } }) }),
    );
    const called = unwrap(await callUpstreamTool(SERVER_URL, null, "echo", { a: 1 }, options(server.fetcher)));
    expect(called.result).toEqual({ content, structuredContent: { n: 1 }, isError: false });
    expect(called.state).toEqual({
      transport: "streamable-http",
      era: { kind: "legacy" },
      sessionId: null,
      protocolVersion: "2025-11-25",
    });
  });

  it("drops tools whose name or input schema is unusable and keeps the rest", async () => {
    const tools = [
      { name: "good", inputSchema: { type: "object" }, annotations: { destructiveHint: true, junk: 1, title: 5 } },
      { name: 42, inputSchema: {} },
      { inputSchema: {} },
      { name: "", inputSchema: {} },
      { name: "no-schema" },
      { name: "array-schema", inputSchema: [] },
      { name: "string-schema", inputSchema: "object" },
      null,
      "tool",
      { name: "also-good", inputSchema: {}, title: 7, description: "fine" },
    ];
    const server = record(jsonServer({ "tools/list": () => ({ result: { tools } }) }));
    const listed = unwrap(await listUpstreamTools(SERVER_URL, null, options(server.fetcher)));
    expect(listed.tools).toEqual([
      { name: "good", inputSchema: { type: "object" }, annotations: { destructiveHint: true } },
      { name: "also-good", inputSchema: {}, description: "fine" },
    ]);
  });

  it("answers a tools/list without a tools array as protocol_error", async () => {
    const server = record(jsonServer({ "tools/list": () => ({ result: { tools: "none" } }) }));
    expect(await listUpstreamTools(SERVER_URL, null, options(server.fetcher))).toEqual({
      ok: false,
      error: { code: "protocol_error" },
    });
  });

  it("follows nextCursor and sends each cursor back", async () => {
    const pages: Record<string, { tools: unknown[]; nextCursor?: string }> = {
      "": { tools: [{ name: "a", inputSchema: {} }], nextCursor: "p2" },
      p2: { tools: [{ name: "b", inputSchema: {} }], nextCursor: "p3" },
      p3: { tools: [{ name: "c", inputSchema: {} }] },
    };
    const cursors: unknown[] = [];
    const server = record(
      jsonServer({
        "tools/list": (params) => {
          cursors.push(params.cursor);
          return { result: pages[String(params.cursor ?? "")] };
        },
      }),
    );
    const listed = unwrap(await listUpstreamTools(SERVER_URL, null, options(server.fetcher)));
    expect(listed.tools.map((tool) => tool.name)).toEqual(["a", "b", "c"]);
    expect(cursors).toEqual([undefined, "p2", "p3"]);
  });

  it("stops after 10 pages of a cursor that never ends", async () => {
    const server = record(
      jsonServer({
        "tools/list": (params) => {
          const n = Number(params.cursor ?? 0);
          return { result: { tools: [{ name: `t${n}`, inputSchema: {} }], nextCursor: String(n + 1) } };
        },
      }),
    );
    const listed = unwrap(await listUpstreamTools(SERVER_URL, null, options(server.fetcher)));
    expect(listed.tools).toHaveLength(10);
    expect(server.count("tools/list")).toBe(10);
  });

  it("stops when a cursor repeats", async () => {
    const server = record(
      jsonServer({ "tools/list": () => ({ result: { tools: [{ name: "a", inputSchema: {} }], nextCursor: "same" } }) }),
    );
    const listed = unwrap(await listUpstreamTools(SERVER_URL, null, options(server.fetcher)));
    expect(listed.tools).toHaveLength(2);
    expect(server.count("tools/list")).toBe(2);
  });

  it("keeps at most 500 tools", async () => {
    const page = (n: number) => Array.from({ length: 300 }, (_, i) => ({ name: `t${n}-${i}`, inputSchema: {} }));
    const server = record(
      jsonServer({
        "tools/list": (params) => {
          const n = Number(params.cursor ?? 0);
          return { result: { tools: page(n), nextCursor: String(n + 1) } };
        },
      }),
    );
    const listed = unwrap(await listUpstreamTools(SERVER_URL, null, options(server.fetcher)));
    expect(listed.tools).toHaveLength(500);
    expect(listed.tools.at(-1)?.name).toBe("t1-199");
    expect(server.count("tools/list")).toBe(2);
  });
});
