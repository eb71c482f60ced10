/**
 * `add_mcp_server`: the assistant adds an upstream MCP server by name and URL for the person.
 * Countersign probes it (unauthenticated, bounded) to learn how it authenticates. Open servers
 * are listed at once; servers that want OAuth or an API key wait for the person on
 * /connections: the assistant never handles their credentials. Every tool of the server is then
 * gated by the same approvals as provider calls.
 */
import type { McpServer } from "@modelcontextprotocol/server";
import * as z from "zod";
import { jsonSchemaOnce } from "../json-schema-once";
import { sessionOf, type ToolContext } from "../tool-context";
import { safely, toolError, toolResult } from "../tool-result";

const Input = jsonSchemaOnce(
  z.object({
    name: z
      .string()
      .min(1)
      .max(24)
      .describe("Short name: lower-case letters, digits and hyphens (tools appear as <name>__<tool>)"),
    url: z.string().min(1).max(2048).describe("The server's https MCP endpoint URL"),
  }),
);

const Output = jsonSchemaOnce(
  z.object({
    name: z.string(),
    url: z.string(),
    auth: z.enum(["unknown", "none", "oauth", "api_key"]),
    status: z.enum(["connected", "not_connected", "reauth_required", "error"]),
    error: z.string().nullable(),
    tools: z.number(),
    connect_url: z.string(),
  }),
);

const ADD_ERRORS: Record<string, string> = {
  name_invalid: "Use 1-24 lower-case letters, digits and single hyphens, starting with a letter.",
  name_reserved: "That name is reserved (a provider or Countersign itself). Pick another.",
  name_taken: "The person already has a server with that name.",
  url_invalid:
    "The URL must be https, with a public host, no userinfo, fragment or shell characters (loopback only on a dev server).",
  too_many_servers: "The person has reached the limit of 20 added servers.",
};

/** Register the tool for one request's verified context. */
export function registerAddMcpServer(server: McpServer, context: ToolContext): void {
  server.registerTool(
    "add_mcp_server",
    {
      title: "Add an upstream MCP server",
      description:
        "Add a remote MCP server (by https URL) to the person's Countersign, so its tools appear here as <name>__<tool>, gated by the person's approvals. If it needs sign-in, show the returned connect_url to the person.",
      inputSchema: Input,
      outputSchema: Output,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    safely("add_mcp_server", async ({ name, url }) => {
      const { config } = context;
      const session = sessionOf(context);
      const added = await session.addUpstreamServer(name, url, "agent");
      if (!added.ok) {
        return toolError("invalid_request", ADD_ERRORS[added.code] ?? "The server cannot be added.", {
          reason: added.code,
        });
      }
      const added_ = added.server;
      const connectUrl = `${config.publicOrigin}/connections?server=${encodeURIComponent(added_.name)}`;
      const output = {
        name: added_.name,
        url: added_.url,
        auth: added_.auth,
        status: added_.status,
        error: added_.lastError,
        tools: added_.tools.length,
        connect_url: connectUrl,
      };
      const next =
        added_.status === "connected"
          ? `Connected; ${added_.tools.length} tools are available as ${added_.name}__<tool> (they need the person's approval to run).`
          : added_.status === "error"
            ? `The server could not be reached or is not an MCP server (${added_.lastError}).`
            : `Ask the person to open ${connectUrl} to connect it.`;
      return toolResult(output, `Added "${added_.name}" (${added_.url}). ${next}`);
    }),
  );
}
