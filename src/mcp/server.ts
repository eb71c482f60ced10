/**
 * The MCP server factory: a fresh McpServer per request (the handler is stateless), holding the
 * verified context of that request.
 */
import { McpServer } from "@modelcontextprotocol/server";
import { registerUpstreamTools } from "../upstream/mcp-tools";
import type { UpstreamToolGroup } from "../upstream/upstream";
import { requestStateOptions } from "./elicitation/state";
import type { ToolContext } from "./tool-context";
import { TOOL_REGISTRARS } from "./tools/index";

export const SERVER_INFO = { name: "countersign", version: "0.1.0" } as const;

const INSTRUCTIONS =
  "Countersign lets you act on the user's accounts only with their approval. Call whoami to see what is approved right now.";

/**
 * Build a server for one request: our tools first, then the upstream tools of the person's
 * connected MCP servers (loaded only for requests that list or call them).
 */
export function createServer(context: ToolContext, upstream: readonly UpstreamToolGroup[] = []): McpServer {
  const server = new McpServer(SERVER_INFO, { instructions: INSTRUCTIONS, requestState: requestStateOptions(context) });
  for (const register of TOOL_REGISTRARS) register(server, context);
  registerUpstreamTools(server, context, upstream);
  return server;
}
