/**
 * `list_integrations`: every provider this server knows, whether the person connected it (and
 * whether it still works), whether its OAuth app is configured here, and what this connection's
 * current grants allow on it, with usage hints.
 */
import type { McpServer } from "@modelcontextprotocol/server";
import * as z from "zod";
import { isLive } from "../../grants/transitions";
import { providerApp } from "../../providers/apps";
import { jsonSchemaOnce } from "../json-schema-once";
import { sessionOf, type ToolContext } from "../tool-context";
import { safely, toolResult } from "../tool-result";

const Integration = z.object({
  id: z.string(),
  name: z.string(),
  auth: z.enum(["oauth2", "api_key"]),
  status: z.enum(["connected", "not_connected", "reauth_required"]),
  configured: z.boolean(),
  scopes: z.array(z.string()),
  allowed: z.enum(["none", "read", "write"]),
  hints: z.string(),
});

const Server = z.object({
  name: z.string(),
  title: z.string(),
  url: z.string(),
  source: z.enum(["user", "catalogue"]),
  auth: z.enum(["unknown", "none", "oauth", "api_key"]),
  status: z.enum(["connected", "not_connected", "reauth_required", "error"]),
  error: z.string().nullable(),
  tools: z.number(),
  allowed: z.enum(["none", "read", "write"]),
});

const Input = jsonSchemaOnce(z.object({}));

const Output = jsonSchemaOnce(
  z.object({
    integrations: z.array(Integration),
    mcp_servers: z.array(Server),
    connect_page: z.string(),
  }),
);

/** Register the tool for one request's verified context. */
export function registerListIntegrations(server: McpServer, context: ToolContext): void {
  server.registerTool(
    "list_integrations",
    {
      title: "List integrations",
      description:
        "List the providers and upstream MCP servers you can use through Countersign: connected or not, and what the person's current approvals let this connection do on each (none, read, write), with usage hints.",
      inputSchema: Input,
      outputSchema: Output,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    safely("list_integrations", async () => {
      // One round trip, so the three lists are one snapshot of the person's object.
      const { links, grants, servers } = await sessionOf(context).integrations(context.props.connectionId);
      const now = Date.now();
      const allowedOn = (id: string) => {
        const live = grants.filter(
          (grant) => grant.kind === "broad" && isLive(grant, now) && grant.providers.includes(id),
        );
        return live.some((grant) => grant.level === "write") ? "write" : live.length > 0 ? "read" : "none";
      };
      const integrations = context.config.registry.all().map((provider) => {
        const link = links.find((candidate) => candidate.providerId === provider.id);
        const allowed = allowedOn(provider.id);
        return {
          id: provider.id,
          name: provider.name,
          auth: provider.auth.kind,
          status: link ? link.status : ("not_connected" as const),
          configured: provider.auth.kind === "api_key" || providerApp(context.env, provider.id) !== null,
          scopes: link?.scopes ?? [],
          allowed: allowed as "none" | "read" | "write",
          hints: provider.hints,
        };
      });
      const mcpServers = servers.map((server) => ({
        name: server.name,
        title: server.title,
        url: server.url,
        source: server.source,
        auth: server.auth,
        status: server.status,
        error: server.lastError,
        tools: server.status === "connected" ? server.tools.length : 0,
        allowed: allowedOn(server.name) as "none" | "read" | "write",
      }));
      const text = [
        ...integrations.map(
          (item) =>
            `${item.id} (${item.name}): ${item.status}${item.configured ? "" : ", not configured here"}, allowed: ${item.allowed}`,
        ),
        ...mcpServers.map(
          (server) =>
            `MCP server ${server.name}: ${server.status}, ${server.tools} tools (as ${server.name}__<tool>), allowed: ${server.allowed}`,
        ),
      ].join("\n");
      return toolResult(
        { integrations, mcp_servers: mcpServers, connect_page: `${context.config.publicOrigin}/connections` },
        text,
      );
    }),
  );
}
