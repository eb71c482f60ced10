/** The tool registry: every tool Countersign serves, registered per request. */
import type { McpServer } from "@modelcontextprotocol/server";
import type { ToolContext } from "../tool-context";
import { registerWhoami } from "./whoami";

export const TOOL_REGISTRARS: ReadonlyArray<(server: McpServer, context: ToolContext) => void> = [registerWhoami];
