/**
 * `revoke_access`: the assistant gives back authority it no longer needs: one grant or pending
 * request by id, or everything this connection holds.
 */
import type { McpServer } from "@modelcontextprotocol/server";
import * as z from "zod";
import { GrantView, viewGrant } from "../grant-view";
import { jsonSchemaOnce } from "../json-schema-once";
import { sessionOf, type ToolContext } from "../tool-context";
import { safely, toolError, toolResult } from "../tool-result";

const Input = jsonSchemaOnce(
  z.object({
    request_id: z.string().min(1).max(64).optional().describe("Omit to drop all of this connection's authority"),
  }),
);

const Output = jsonSchemaOnce(z.object({ revoked: z.array(GrantView) }));

/** Register the tool for one request's verified context. */
export function registerRevokeAccess(server: McpServer, context: ToolContext): void {
  server.registerTool(
    "revoke_access",
    {
      title: "Give back access",
      description:
        "Drop one approved grant or pending request (request_id), or all of this connection's authority (no arguments), as soon as you no longer need it.",
      inputSchema: Input,
      outputSchema: Output,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    safely("revoke_access", async ({ request_id }) => {
      const session = sessionOf(context);
      const result = await session.revokeForConnection(context.props.connectionId, request_id);
      if (!result) return toolError("not_found", "No such request for this connection.");
      const now = Date.now();
      const revoked = result.revoked.map((grant) => viewGrant(grant, now));
      const text =
        revoked.length === 0
          ? "Nothing to revoke: this connection holds no live or pending access."
          : `Revoked ${revoked.length}: ${revoked.map((grant) => grant.request_id).join(", ")}.`;
      return toolResult({ revoked }, text);
    }),
  );
}
