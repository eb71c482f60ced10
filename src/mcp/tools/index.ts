/** The tool registry: every tool Countersign serves, registered per request. */
import type { McpServer } from "@modelcontextprotocol/server";
import type { ToolContext } from "../tool-context";
import { registerCheckAccessRequest } from "./check_access_request";
import { registerRequestElevatedAccess } from "./request_elevated_access";
import { registerRevokeAccess } from "./revoke_access";
import { registerWhoami } from "./whoami";

export const TOOL_REGISTRARS: ReadonlyArray<(server: McpServer, context: ToolContext) => void> = [
  registerWhoami,
  registerRequestElevatedAccess,
  registerCheckAccessRequest,
  registerRevokeAccess,
];
