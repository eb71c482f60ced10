// An upstream MCP server that only speaks the deprecated HTTP+SSE transport (protocol 2024-11-05),
// without auth, built on the v1 SDK's SSEServerTransport:
//   GET  /sse                      opens the event stream; its first event, `endpoint`, names
//                                  /messages?sessionId=… for this stream
//   POST /messages?sessionId=…     delivers one JSON-RPC message; the answer arrives on the stream
//   POST /sse                      405 (Allow: GET): what a Streamable HTTP client tries first,
//                                  and the signal to fall back (MCP 2025-03-26 "Backwards Compatibility")
// Tools: legacy_echo {text} (readOnlyHint) and legacy_write {text} (no hints). stats() counts
// streams opened and still open, so a test can tell that the proxy closed its stream.
import { createServer } from "node:http";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { SSEServerTransport } from "@modelcontextprotocol/sdk/server/sse.js";
import * as z from "zod";
import { freePort } from "./util.mjs";

/**
 * @typedef {object} LegacyToolCall
 * @property {string} name
 * @property {Record<string, unknown>} args
 * @property {string | null} sessionId   the SSE session the call arrived on
 * @property {number} at
 */

/**
 * @typedef {object} LegacySseStats
 * @property {number} connectionsOpened   GET /sse streams ever opened
 * @property {number} openStreams         GET /sse streams still open
 * @property {number} postsRejected       POST /sse answered 405
 * @property {LegacyToolCall[]} toolCalls
 */

/**
 * @typedef {object} LegacySseMcp
 * @property {number} port
 * @property {string} origin   `http://127.0.0.1:<port>`
 * @property {string} sseUrl   `<origin>/sse`
 * @property {() => LegacySseStats} stats   a snapshot
 * @property {() => Promise<void>} close
 */

/** @returns {Promise<LegacySseMcp>} */
export async function startLegacySseMcp() {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  /** @type {Map<string, SSEServerTransport>} */
  const transports = new Map();
  let connectionsOpened = 0;
  let postsRejected = 0;
  /** @type {LegacyToolCall[]} */
  const toolCalls = [];

  const buildServer = () => {
    const server = new McpServer({ name: "legacy-sse-upstream", version: "1.0.0" });
    /** @param {string} name @param {(text: string) => string} answer */
    const handler =
      (name, answer) =>
      /** @param {{ text: string }} args @param {{ sessionId?: string }} extra */
      async (args, extra) => {
        toolCalls.push({ name, args: { ...args }, sessionId: extra.sessionId ?? null, at: Date.now() });
        return { content: [{ type: /** @type {const} */ ("text"), text: answer(args.text) }] };
      };
    server.registerTool(
      "legacy_echo",
      {
        description: "Echo the text back.",
        inputSchema: { text: z.string() },
        annotations: { readOnlyHint: true },
      },
      handler("legacy_echo", (text) => `echo: ${text}`),
    );
    server.registerTool(
      "legacy_write",
      { description: "Pretend to write the text somewhere.", inputSchema: { text: z.string() } },
      handler("legacy_write", (text) => `wrote ${text.length} characters`),
    );
    return server;
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", origin);
    const route = `${req.method} ${url.pathname}`;
    if (route === "GET /sse") {
      const transport = new SSEServerTransport("/messages", res);
      const sessionId = transport.sessionId;
      transports.set(sessionId, transport);
      connectionsOpened++;
      res.on("close", () => transports.delete(sessionId));
      buildServer()
        .connect(transport)
        .catch(() => res.destroy());
      return;
    }
    if (route === "POST /messages") {
      const transport = transports.get(url.searchParams.get("sessionId") ?? "");
      if (!transport) {
        res.writeHead(404, { "Content-Type": "text/plain" }).end("Session not found");
        return;
      }
      transport.handlePostMessage(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
      });
      return;
    }
    if (url.pathname === "/sse") {
      postsRejected += req.method === "POST" ? 1 : 0;
      req.resume();
      res.writeHead(405, { Allow: "GET", "Content-Type": "text/plain" }).end("Method Not Allowed");
      return;
    }
    req.resume();
    res.writeHead(404, { "Content-Type": "text/plain" }).end("Not Found");
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(undefined));
  });

  return {
    port,
    origin,
    sseUrl: `${origin}/sse`,
    stats: () => ({
      connectionsOpened,
      openStreams: transports.size,
      postsRejected,
      toolCalls: toolCalls.map((call) => ({ ...call, args: { ...call.args } })),
    }),
    close: async () => {
      await Promise.all([...transports.values()].map((transport) => transport.close().catch(() => {})));
      transports.clear();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}
