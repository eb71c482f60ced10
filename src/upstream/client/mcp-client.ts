/**
 * Countersign as an MCP client of a user's upstream server: list its tools or call one, through
 * the MCP SDK's own client, over Streamable HTTP (protocol 2026-07-28 or 2025) or the legacy
 * HTTP+SSE transport. Each call is one bounded operation: connect (or resume the saved
 * session), do the work, close.
 *
 * Invariants: every request the SDK makes goes through `Operation.fetch` (./operation.ts): the
 * URL has the server's origin (so a legacy SSE `endpoint` event cannot send us elsewhere) and passes
 * `parseEndpoint`; redirects are refused, never followed; one deadline covers the whole
 * operation (connect, retry, request, close) and at most `maxBytes` are read in total, counted
 * as they arrive, so an endless SSE stream stops; nothing outlives the operation (every stream
 * is cancelled at its end). The only credentials sent are `options.headers`. Errors are a code
 * with at most a status, a JSON-RPC code and the parsed challenge: never upstream text, headers
 * or tokens. Nothing is logged. A request is sent twice only after a 404 to a resumed session
 * (MCP 2025-06-18, Session Management: the session is gone, so the request never ran).
 */
import {
  Client,
  type DiscoverResult,
  ProtocolError,
  preloadSchemas,
  SdkError,
  SdkErrorCode,
  SdkHttpError,
  SSEClientTransport,
  SseError,
  type StandardSchemaV1,
  StreamableHTTPClientTransport,
  type Transport,
} from "@modelcontextprotocol/client";
import { err, ok, type Result } from "../../lib/result";
import { type FetchLike, raceAbort } from "../../lib/streams";
import { isJsonObject } from "../../providers/strict-json";
import { parseEndpoint } from "./endpoint";
import type { McpClientError } from "./errors";
import { Failure, Operation } from "./operation";

export type UpstreamTransport = "streamable-http" | "sse";

/** What is persisted per (user, server) between calls, in SQL, as plain JSON. */
export interface UpstreamSessionState {
  transport: UpstreamTransport;
  /** Era verdict of the last Streamable HTTP connect; null for SSE or before the first connect. */
  era: { kind: "legacy" } | { kind: "modern"; discover: Record<string, unknown> } | null;
  /** Streamable HTTP session id the server issued (legacy era), reused across calls. */
  sessionId: string | null;
  /** Negotiated protocol version, sent as MCP-Protocol-Version on reuse. */
  protocolVersion: string | null;
}

export interface UpstreamTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema: Record<string, unknown>;
  annotations?: {
    title?: string;
    readOnlyHint?: boolean;
    destructiveHint?: boolean;
    idempotentHint?: boolean;
    openWorldHint?: boolean;
  };
}

export interface UpstreamCallResult {
  /** As the server sent it. */
  content: unknown[];
  structuredContent?: Record<string, unknown>;
  isError: boolean;
}

export interface McpClientOptions {
  /** Dev only; passed to parseEndpoint on every fetch. */
  allowLoopback: boolean;
  /** Sent on every request to the server, e.g. `{ Authorization: "Bearer …" }` or an API-key header. */
  headers?: Record<string, string>;
  /** Whole operation deadline (connect + request), default 30 s. */
  timeoutMs?: number;
  /** Cap on the bytes read from upstream during the operation, default 1 MiB; over it → too_large. */
  maxBytes?: number;
  fetcher?: FetchLike;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_BYTES = 1_048_576;
export const MAX_TOOL_PAGES = 10;
export const MAX_TOOLS = 500;

const CLIENT_INFO = { name: "Countersign", version: "1.0.0" };
/** MCP 2025-03-26 backwards compatibility: an old HTTP+SSE server answers a POST with one of these. */
const SSE_FALLBACK_STATUSES = new Set([400, 404, 405]);
/** One operation must not reopen a stream behind our back: no SDK reconnection timers. */
const NO_RECONNECTION = {
  maxRetries: 0,
  initialReconnectionDelay: 0,
  maxReconnectionDelay: 0,
  reconnectionDelayGrowFactor: 1,
};

// The client package's own Workers shim builds its wire schemas at load; the one wrangler.toml
// swaps in (./sdk-shims.ts) does not, so they are built here, still at load, not in a request.
preloadSchemas();

/** Marks an error thrown while connecting, where a 4xx means "not an MCP server" rather than a bad request. */
class HandshakeError extends Error {
  constructor(cause: unknown) {
    super("upstream handshake failed", { cause });
  }
}

interface Done<T> {
  value: T;
  state: UpstreamSessionState;
  serverName?: string;
}

type Work<T> = (client: Client, op: Operation) => Promise<T>;

/** Connect (reusing `state` when given), list every tool (follow nextCursor, at most 10 pages and 500 tools), return the state to persist. */
export async function listUpstreamTools(
  url: string,
  state: UpstreamSessionState | null,
  options: McpClientOptions,
): Promise<Result<{ tools: UpstreamTool[]; state: UpstreamSessionState; serverName?: string }, McpClientError>> {
  const done = await operate(url, state, options, listTools);
  if (!done.ok) return done;
  const { value, ...rest } = done.value;
  return ok({ tools: value, ...rest });
}

/** Connect (reusing `state`), call one tool once, return its result and the state to persist. */
export async function callUpstreamTool(
  url: string,
  state: UpstreamSessionState | null,
  name: string,
  args: Record<string, unknown>,
  options: McpClientOptions,
): Promise<Result<{ result: UpstreamCallResult; state: UpstreamSessionState }, McpClientError>> {
  const done = await operate(url, state, options, (client, op) => callTool(client, op, name, args));
  if (!done.ok) return done;
  return ok({ result: done.value.value, state: done.value.state });
}

async function operate<T>(
  url: string,
  state: UpstreamSessionState | null,
  options: McpClientOptions,
  work: Work<T>,
): Promise<Result<Done<T>, McpClientError>> {
  const server = parseEndpoint(url, options);
  if (!server.ok) return err({ code: server.error.code });
  const op = new Operation(server.value, {
    allowLoopback: options.allowLoopback,
    headers: options.headers ?? {},
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxBytes: options.maxBytes ?? DEFAULT_MAX_BYTES,
    fetcher: options.fetcher ?? ((request: Request) => fetch(request)),
  });
  try {
    if (state?.transport === "sse") return ok(await viaSse(op, work));
    try {
      return ok(await viaStreamableHttp(op, state, work));
    } catch (error) {
      // Only while no era verdict is saved: a server that once spoke Streamable HTTP stays on it.
      const status = handshakeStatus(error);
      if (state?.era || op.fatal || status === undefined || !SSE_FALLBACK_STATUSES.has(status)) throw error;
    }
    return ok(await viaSse(op, work));
  } catch (error) {
    return err(toError(error, op));
  } finally {
    op.end();
  }
}

/** The saved legacy session to resume, if any (a modern-era connection has none). */
function resumable(state: UpstreamSessionState | null): { sessionId: string; protocolVersion: string | null } | null {
  if (state?.era?.kind !== "legacy" || !state.sessionId) return null;
  return { sessionId: state.sessionId, protocolVersion: state.protocolVersion };
}

async function viaStreamableHttp<T>(
  op: Operation,
  state: UpstreamSessionState | null,
  work: Work<T>,
): Promise<Done<T>> {
  try {
    return await streamableAttempt(op, state, work);
  } catch (error) {
    if (!state || !resumable(state) || op.fatal || httpStatus(error) !== 404) throw error;
  }
  // MCP 2025-06-18, Session Management: a 404 to a request carrying a session id means the
  // session is gone (the request never ran); start a new one, once. A second 404 is a
  // protocol error, not a loop.
  try {
    return await streamableAttempt(op, { ...state, sessionId: null }, work);
  } catch (error) {
    if (!op.fatal && httpStatus(error) === 404) throw new Failure({ code: "protocol_error", status: 404 });
    throw error;
  }
}

async function streamableAttempt<T>(
  op: Operation,
  state: UpstreamSessionState | null,
  work: Work<T>,
): Promise<Done<T>> {
  const era = state?.era ?? null;
  const resume = resumable(state);
  const transport = new StreamableHTTPClientTransport(op.server, {
    fetch: op.fetch,
    requestInit: { headers: op.options.headers, redirect: "manual" },
    reconnectionOptions: NO_RECONNECTION,
    ...(resume ? { sessionId: resume.sessionId } : {}),
    ...(resume?.protocolVersion ? { protocolVersion: resume.protocolVersion } : {}),
  });
  // A saved verdict skips the probe: `prior` legacy with a session id makes no request at all.
  const client = new Client(CLIENT_INFO, era ? {} : { versionNegotiation: { mode: "auto" } });
  const prior = era?.kind === "modern" ? { kind: "modern" as const, discover: era.discover as DiscoverResult } : era;
  return attempt(op, client, transport, work, { ...(prior ? { prior } : {}) }, () => {
    const discover = client.getDiscoverResult();
    return {
      transport: "streamable-http",
      era: discover ? { kind: "modern", discover: JSON.parse(JSON.stringify(discover)) } : { kind: "legacy" },
      sessionId: transport.sessionId ?? null,
      protocolVersion: transport.protocolVersion ?? client.getNegotiatedProtocolVersion() ?? null,
    };
  });
}

/** Legacy HTTP+SSE: GET the stream, wait for its `endpoint` event, POST there. Nothing is reused between calls. */
function viaSse<T>(op: Operation, work: Work<T>): Promise<Done<T>> {
  const transport = new SSEClientTransport(op.server, {
    fetch: op.fetch,
    requestInit: { headers: op.options.headers, redirect: "manual" },
  });
  const client = new Client(CLIENT_INFO);
  return attempt(op, client, transport, work, {}, () => ({
    transport: "sse",
    era: null,
    sessionId: null,
    protocolVersion: null,
  }));
}

/** Connect, work, and close whatever happens; bounded by the operation even where the SDK takes no signal. */
async function attempt<T>(
  op: Operation,
  client: Client,
  transport: Transport,
  work: Work<T>,
  connectOptions: Parameters<Client["connect"]>[1],
  nextState: () => UpstreamSessionState,
): Promise<Done<T>> {
  try {
    const value = await raceAbort(
      (async () => {
        try {
          await client.connect(transport, { ...connectOptions, ...op.requestOptions() });
        } catch (error) {
          throw new HandshakeError(error);
        }
        return work(client, op);
      })(),
      op.signal,
    );
    const name = client.getServerVersion()?.name;
    return {
      value,
      state: nextState(),
      ...(typeof name === "string" && name.length <= 256 ? { serverName: name } : {}),
    };
  } finally {
    // The client closes only a transport it attached; a failed probe or SSE start may leave one.
    await client.close().catch(() => {});
    await transport.close().catch(() => {});
  }
}

/** The SDK's validation is bypassed on purpose: one malformed tool must not hide the others. */
const ANY_OBJECT: StandardSchemaV1<unknown, Record<string, unknown>> = {
  "~standard": {
    version: 1,
    vendor: "countersign",
    validate: (value) => (isJsonObject(value) ? { value } : { issues: [{ message: "expected an object" }] }),
  },
};

async function listTools(client: Client, op: Operation): Promise<UpstreamTool[]> {
  const tools: UpstreamTool[] = [];
  const cursors = new Set<string>();
  let cursor: string | undefined;
  for (let page = 0; page < MAX_TOOL_PAGES && tools.length < MAX_TOOLS; page++) {
    const request = cursor === undefined ? { method: "tools/list" } : { method: "tools/list", params: { cursor } };
    const result = await client.request(request, ANY_OBJECT, op.requestOptions());
    if (!Array.isArray(result.tools)) throw new Failure({ code: "protocol_error" });
    for (const entry of result.tools) {
      const tool = parseTool(entry);
      if (tool && tools.length < MAX_TOOLS) tools.push(tool);
    }
    const next = result.nextCursor;
    if (typeof next !== "string" || next === "" || cursors.has(next)) break;
    cursors.add(next);
    cursor = next;
  }
  return tools;
}

async function callTool(
  client: Client,
  op: Operation,
  name: string,
  args: Record<string, unknown>,
): Promise<UpstreamCallResult> {
  const request = { method: "tools/call", params: { name, arguments: args } };
  const result = await client.request(request, ANY_OBJECT, op.requestOptions());
  if (!Array.isArray(result.content)) throw new Failure({ code: "protocol_error" });
  return {
    content: result.content,
    ...(isJsonObject(result.structuredContent) ? { structuredContent: result.structuredContent } : {}),
    isError: result.isError === true,
  };
}

const HINTS = ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"] as const;

/** A tool entry as we keep it, or null when its name or input schema is unusable. */
function parseTool(entry: unknown): UpstreamTool | null {
  if (!isJsonObject(entry) || typeof entry.name !== "string" || entry.name === "" || !isJsonObject(entry.inputSchema)) {
    return null;
  }
  const tool: UpstreamTool = { name: entry.name, inputSchema: entry.inputSchema };
  if (typeof entry.title === "string") tool.title = entry.title;
  if (typeof entry.description === "string") tool.description = entry.description;
  if (isJsonObject(entry.annotations)) {
    const source = entry.annotations;
    const annotations: NonNullable<UpstreamTool["annotations"]> = {};
    if (typeof source.title === "string") annotations.title = source.title;
    for (const hint of HINTS) {
      const value = source[hint];
      if (typeof value === "boolean") annotations[hint] = value;
    }
    if (Object.keys(annotations).length > 0) tool.annotations = annotations;
  }
  return tool;
}

/** The HTTP status behind an SDK error, when the transport reported one. */
function httpStatus(error: unknown): number | undefined {
  const inner = error instanceof HandshakeError ? error.cause : error;
  return inner instanceof SdkHttpError ? inner.status : undefined;
}

function handshakeStatus(error: unknown): number | undefined {
  return error instanceof HandshakeError ? httpStatus(error) : undefined;
}

function findFailure(error: unknown): McpClientError | null {
  for (let depth = 0; depth < 5 && error instanceof Error; depth++) {
    if (error instanceof Failure) return error.failure;
    error = error.cause;
  }
  return null;
}

/**
 * Turn whatever the SDK threw into a code, from the most to the least specific evidence. Only
 * statuses and codes cross over: SDK messages can quote upstream bodies and are never kept.
 */
function toError(error: unknown, op: Operation): McpClientError {
  if (op.fatal) return op.fatal;
  const handshake = error instanceof HandshakeError;
  const cause = handshake ? error.cause : error;
  if (cause instanceof ProtocolError) return { code: "protocol_error", rpcCode: cause.code };
  const failure = findFailure(cause);
  if (failure) return failure;
  const status = cause instanceof SdkHttpError ? cause.status : cause instanceof SseError ? cause.code : undefined;
  if (status === 401 || status === 403) return op.denied ?? { code: "unauthorized", status };
  if (op.denied) return op.denied;
  if (status !== undefined && status >= 500) return { code: "unreachable", status };
  if (status !== undefined) return { code: handshake ? "not_mcp" : "protocol_error", status };
  if (cause instanceof SdkError && cause.code === SdkErrorCode.RequestTimeout) return { code: "timeout" };
  // The SDK's own same-origin check of a legacy SSE `endpoint` event (SSEClientTransport) runs
  // before our fetch could see the URL; its wording is the only signal it gives.
  if (cause instanceof Error && cause.message.startsWith("Endpoint origin does not match")) {
    return { code: "origin_mismatch" };
  }
  if (op.unreachable) return { code: "unreachable" };
  return { code: handshake ? "not_mcp" : "protocol_error" };
}
