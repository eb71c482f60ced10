/**
 * The MCP server factory: a fresh McpServer per request (the handler is stateless), holding the
 * verified context of that request.
 */
import { McpServer } from "@modelcontextprotocol/server";
import type { ToolContext } from "./tool-context";
import { TOOL_REGISTRARS } from "./tools/index";

export const SERVER_INFO = { name: "countersign", version: "0.1.0" } as const;

const INSTRUCTIONS =
  "Countersign lets you act on the user's accounts only with their approval. Call whoami to see what is approved right now.";

/** Build a server for one request. */
export function createServer(context: ToolContext): McpServer {
  const server = new McpServer(SERVER_INFO, { instructions: INSTRUCTIONS });
  for (const register of TOOL_REGISTRARS) register(server, context);
  return server;
}
