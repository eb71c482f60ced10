/**
 * `connect_integration`: a link the person opens to connect a provider (OAuth or an API key).
 * The assistant never sees or handles the credential.
 */
import type { McpServer } from "@modelcontextprotocol/server";
import * as z from "zod";
import { jsonSchemaOnce } from "../json-schema-once";
import type { ToolContext } from "../tool-context";
import { safely, toolError, toolResult } from "../tool-result";

const Input = jsonSchemaOnce(z.object({ provider: z.string().min(1).max(64) }));

const Output = jsonSchemaOnce(z.object({ provider: z.string(), connect_url: z.string() }));

/** Register the tool for one request's verified context. */
export function registerConnectIntegration(server: McpServer, context: ToolContext): void {
  server.registerTool(
    "connect_integration",
    {
      title: "Connect an integration",
      description:
        "Get a link for the person to connect a provider to Countersign. Show it to them; they sign in to the provider (or paste an API key) on that page.",
      inputSchema: Input,
      outputSchema: Output,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    safely("connect_integration", async ({ provider }) => {
      const definition = context.config.registry.byId(provider);
      if (!definition) {
        return toolError("unknown_provider", `Unknown provider "${provider}". See list_integrations.`, {
          providers: context.config.registry.all().map((item) => item.id),
        });
      }
      const url = `${context.config.publicOrigin}/connections?provider=${encodeURIComponent(definition.id)}`;
      return toolResult(
        { provider: definition.id, connect_url: url },
        `Ask the person to open ${url} to connect ${definition.name}.`,
      );
    }),
  );
}
