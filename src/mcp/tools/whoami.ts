/**
 * `whoami`: the signed-in user, the MCP client connection, the token's scopes and the
 * connection's current authority (which grants are live, and for how long).
 */
import type { McpServer } from "@modelcontextprotocol/server";
import * as z from "zod";
import { describeGrant, GrantView, viewGrant } from "../grant-view";
import { jsonSchemaOnce } from "../json-schema-once";
import { sessionOf, type ToolContext } from "../tool-context";
import { safely } from "../tool-result";

const Input = jsonSchemaOnce(z.object({}));

const WhoamiOutput = jsonSchemaOnce(
  z.object({
    user: z.object({
      id: z.string(),
      issuer: z.string(),
      subject: z.string(),
      email: z.string().optional(),
      name: z.string().optional(),
    }),
    client: z.object({
      id: z.string(),
      name: z.string(),
      connection_id: z.string(),
      connected_at: z.string(),
      last_seen_at: z.string().nullable(),
    }),
    scopes: z.array(z.string()),
    authority: z.object({
      grants: z.array(GrantView),
      summary: z.string(),
    }),
  }),
);

export type WhoamiResult = z.infer<typeof WhoamiOutput>;

function describe(result: WhoamiResult): string {
  const who = result.user.email ?? result.user.subject;
  const lines = [
    `Signed in as ${who} (user ${result.user.id}).`,
    `Client: ${result.client.name} (connection ${result.client.connection_id}).`,
    `Scopes: ${result.scopes.join(" ") || "none"}.`,
    result.authority.summary,
  ];
  return lines.join("\n");
}

/** Register `whoami` on a server for one request's verified context. */
export function registerWhoami(server: McpServer, context: ToolContext): void {
  server.registerTool(
    "whoami",
    {
      title: "Who am I",
      description:
        "Shows who you are acting for, which client you are, your token's scopes, and the access the person has currently approved for this connection (none until they approve a request).",
      inputSchema: Input,
      outputSchema: WhoamiOutput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    safely("whoami", async () => {
      const { props } = context;
      const session = sessionOf(context);
      const { connection, grants: live } = await session.connectionAuthority({
        connectionId: props.connectionId,
        clientId: props.clientId,
        clientName: props.clientName,
        scopes: context.scopes,
      });
      const now = Date.now();
      const grants = live.map((grant) => viewGrant(grant, now));
      const result: WhoamiResult = {
        user: {
          id: props.userId,
          issuer: props.issuer,
          subject: props.subject,
          ...(props.email ? { email: props.email } : {}),
          ...(props.name ? { name: props.name } : {}),
        },
        client: {
          id: props.clientId,
          name: props.clientName,
          connection_id: props.connectionId,
          connected_at: new Date(connection.authorizedAt).toISOString(),
          last_seen_at: connection.lastSeenAt === null ? null : new Date(connection.lastSeenAt).toISOString(),
        },
        scopes: context.scopes,
        authority: {
          grants,
          summary:
            grants.length === 0
              ? "No access is approved for this connection. Ask the person with request_elevated_access when you need it."
              : `Approved now: ${grants.map(describeGrant).join("; ")}.`,
        },
      };
      return { content: [{ type: "text", text: describe(result) }], structuredContent: result };
    }),
  );
}
