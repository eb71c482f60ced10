/** The tool registry: every tool Countersign serves, registered per request. */
import type { McpServer } from "@modelcontextprotocol/server";
import type { ToolContext } from "../tool-context";
import { registerAddMcpServer } from "./add_mcp_server";
import { registerCallIntegrationApi } from "./call_integration_api";
import { registerCheckAccessRequest } from "./check_access_request";
import { registerConnectIntegration } from "./connect_integration";
import { registerListIntegrations } from "./list_integrations";
import { registerRequestElevatedAccess } from "./request_elevated_access";
import { registerRevokeAccess } from "./revoke_access";
import { registerWhoami } from "./whoami";

export const TOOL_REGISTRARS: ReadonlyArray<(server: McpServer, context: ToolContext) => void> = [
  registerWhoami,
  registerRequestElevatedAccess,
  registerCheckAccessRequest,
  registerRevokeAccess,
  registerListIntegrations,
  registerConnectIntegration,
  registerCallIntegrationApi,
  registerAddMcpServer,
];
