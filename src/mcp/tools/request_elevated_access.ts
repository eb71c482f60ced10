/**
 * `request_elevated_access`: the assistant asks the person for access, either broad (read or
 * write on chosen providers for some minutes) or one exact call. Returns the approval link to
 * show the person; nothing is granted until they approve it on their phone. To a client that
 * declared URL-mode elicitation the link is offered as an elicitation instead
 * (mcp/elicitation/offer.ts), and the result is the person's decision: the same view
 * check_access_request gives, under `decision`. Every other client gets the pending result.
 */
import type { McpServer, ServerContext } from "@modelcontextprotocol/server";
import * as z from "zod";
import { approvalUrl, linkToken, linkTokenHash, newRequestId } from "../../approvals/link";
import { prepareCall } from "../../calls/prepare";
import type { AccessLevel, CanonicalCall, ClassifiedCall } from "../../grants/types";
import { MAX_ARGUMENT_BYTES, splitToolName } from "../../upstream/tools";
import { raisingUrlElicitation } from "../elicitation/gate";
import { type Asked, offerDecision, offerFingerprint } from "../elicitation/offer";
import { CheckedGrantView, checkedView, GrantView } from "../grant-view";
import { jsonSchemaOnce } from "../json-schema-once";
import { sessionOf, type ToolContext } from "../tool-context";
import { iso, safely, toolError, toolResult } from "../tool-result";

const Input = jsonSchemaOnce(
  z.object({
    kind: z
      .enum(["broad", "call"])
      .describe("broad: read/write on providers or MCP servers for minutes; call: one exact call or tool call"),
    level: z.enum(["read", "write"]).optional().describe("For kind=broad. Default read."),
    providers: z
      .array(z.string().min(1).max(64))
      .max(20)
      .optional()
      .describe("For kind=broad: provider ids and/or upstream MCP server names"),
    duration_minutes: z
      .number()
      .int()
      .positive()
      .optional()
      .describe("How long the approval lasts once granted (a call approval: how long it stays usable). Default 5."),
    url: z.string().max(8192).optional().describe("For kind=call: the exact https URL"),
    method: z.string().max(16).optional().describe("For kind=call: HTTP method"),
    body: z.string().max(65_536).optional().describe("For kind=call: the exact body that will be sent"),
    headers: z.record(z.string(), z.string().max(4096)).optional().describe("For kind=call: extra headers"),
    tool: z
      .string()
      .max(128)
      .optional()
      .describe("For kind=call on an upstream MCP server: the tool as listed, <server>__<tool>"),
    arguments: z
      .record(z.string(), z.unknown())
      .optional()
      .describe("For kind=call with tool: the exact arguments the call will carry"),
    reason: z.string().trim().min(1).max(2000).describe("Why you need this, in words the person will read"),
  }),
);

const Output = jsonSchemaOnce(
  z.object({
    request_id: z.string(),
    approval_url: z.string(),
    status: GrantView.shape.status.describe(
      "pending, unless the client showed the link as a URL elicitation and the person decided: then as in decision",
    ),
    expires_at: z.string(),
    coalesced: z.boolean(),
    decision: CheckedGrantView.optional().describe(
      "Only once decided in the client's URL prompt: the request as check_access_request returns it",
    ),
  }),
);

type Input = z.infer<typeof Input>;

interface Ask {
  level: AccessLevel;
  providers: string[];
  durationSeconds: number;
  call: CanonicalCall | null;
  fingerprint: string | null;
}

async function parseAsk(input: Input, context: ToolContext): Promise<Ask | ReturnType<typeof toolError>> {
  const policy = context.config.grantPolicy;
  const maxMinutes = policy.maxDurationSeconds / 60;
  if (input.duration_minutes !== undefined && input.duration_minutes > maxMinutes) {
    return toolError("invalid_request", `duration_minutes must be a whole number from 1 to ${maxMinutes}.`);
  }
  const durationSeconds = (input.duration_minutes ?? policy.defaultDurationSeconds / 60) * 60;
  const registry = context.config.registry;
  const session = sessionOf(context);
  if (input.kind === "broad") {
    const servers = (await session.upstreamServers()).map((server) => server.name);
    const known = [...registry.all().map((provider) => provider.id), ...servers];
    const providers = [...new Set(input.providers ?? [])];
    if (providers.length === 0) {
      return toolError("invalid_request", 'kind=broad needs providers, e.g. ["github"].', { providers: known });
    }
    const unknown = providers.filter((id) => !known.includes(id));
    if (unknown.length > 0) {
      return toolError("unknown_provider", `Unknown provider(s) or server(s): ${unknown.join(", ")}.`, {
        providers: known,
      });
    }
    return { level: input.level ?? "read", providers, durationSeconds, call: null, fingerprint: null };
  }
  if (input.tool !== undefined) {
    const named = splitToolName(input.tool);
    const args = input.arguments ?? {};
    const classified = named ? await session.classifyUpstreamCall(named.server, named.tool, args) : null;
    if (!named || !classified) {
      return toolError("not_found", `No upstream tool "${input.tool}". Use the name exactly as tools/list shows it.`);
    }
    if (classified.call.body.length > MAX_ARGUMENT_BYTES) {
      return toolError("invalid_request", "The arguments are too large to approve as one call.", {
        reason: "arguments_too_large",
      });
    }
    return callAsk(classified, durationSeconds);
  }
  if (!input.url || !input.method) {
    return toolError("invalid_request", "kind=call needs url and method (or tool and arguments for an MCP server).");
  }
  // The same preparation call_integration_api runs, so the approved call is exactly the one made.
  const prepared = await prepareCall(
    { method: input.method, url: input.url, body: input.body, headers: input.headers },
    registry,
  );
  if (!prepared.ok) {
    const error = prepared.error;
    if (error.code === "unknown_provider") {
      return toolError("unknown_provider", "The URL's host is not an API of any provider Countersign knows.");
    }
    const reason = error.code === "invalid_request" ? error.reason : error.code;
    return toolError("invalid_request", `This call cannot be made: ${reason}.`, { reason });
  }
  return callAsk(prepared.value.classified, durationSeconds);
}

/** A one-call ask: the call as classified, judged at its own level on its one provider or server. */
function callAsk(classified: ClassifiedCall, durationSeconds: number): Ask {
  return {
    level: classified.access,
    providers: [classified.provider],
    durationSeconds,
    call: classified.call,
    fingerprint: classified.fingerprint,
  };
}

/** Register the tool for one request's verified context. */
export function registerRequestElevatedAccess(server: McpServer, context: ToolContext): void {
  server.registerTool(
    "request_elevated_access",
    {
      title: "Ask the person for access",
      description:
        "Ask the person to approve access before you touch their accounts: kind=broad for read or write access to providers for some minutes, or kind=call for one exact HTTP call. Show the returned approval_url to the person, then call check_access_request with wait_seconds to learn their decision. (A client that handles URL elicitation shows the link itself, and the result is then already the decision, under decision.)",
      inputSchema: Input,
      outputSchema: Output,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    raisingUrlElicitation(
      safely("request_elevated_access", async (input, ctx: ServerContext) =>
        offerDecision(context, ctx, {
          fingerprint: await offerFingerprint(input),
          ask: () => ask(input, context),
          message: () => promptOf(input),
          answer: (asked) => answerOf(context, asked),
        }),
      ),
    ),
  );
}

/** Make (or coalesce) the request the arguments ask for, or refuse them. */
async function ask(input: Input, context: ToolContext) {
  const parsed = await parseAsk(input, context);
  if ("isError" in parsed) return { ok: false as const, refusal: parsed };
  const id = newRequestId();
  const result = await sessionOf(context).requestAccess({
    id,
    linkTokenHash: await linkTokenHash(await linkToken(context.config, id)),
    kind: input.kind,
    connectionId: context.props.connectionId,
    clientName: context.props.clientName,
    reason: input.reason,
    level: parsed.level,
    providers: parsed.providers,
    durationSeconds: parsed.durationSeconds,
    call: parsed.call,
    callFingerprint: parsed.fingerprint,
  });
  if (!result.ok) return { ok: false as const, refusal: toolError(result.code, result.message) };
  return { ok: true as const, asked: { grant: result.grant, coalesced: result.coalesced } };
}

/** The request as it stands: pending (today's result, byte for byte), or the person's decision. */
async function answerOf(context: ToolContext, { grant, coalesced }: Asked) {
  const url = await approvalUrl(context.config, grant.id);
  const expiresAt = iso(grant.pendingExpiresAt) as string;
  if (grant.status !== "pending") {
    const { view, text } = await checkedView(grant, Date.now());
    const output = { request_id: grant.id, approval_url: url, status: view.status, expires_at: expiresAt, coalesced };
    return toolResult({ ...output, decision: view }, text);
  }
  const output = {
    request_id: grant.id,
    approval_url: url,
    status: "pending" as const,
    expires_at: expiresAt,
    coalesced,
  };
  const text = [
    `Ask the person to open this link and approve: ${url}`,
    `It expires at ${output.expires_at}. Then call check_access_request with request_id "${grant.id}" and wait_seconds 50.`,
    coalesced ? "(You already asked for exactly this; it is the same pending request.)" : "",
  ]
    .filter(Boolean)
    .join("\n");
  return toolResult(output, text);
}

/** What the client's prompt says, beside the link (arguments already checked by the ask). */
function promptOf(input: Input): string {
  const what =
    input.kind === "broad"
      ? `${input.level ?? "read"} access to ${(input.providers ?? []).join(", ")}`
      : input.tool !== undefined
        ? `one call of the tool ${input.tool}`
        : `one ${input.method} call to ${input.url?.slice(0, 300)}`;
  return `Your assistant asks for ${what} and needs your approval. Open this Countersign page to approve or deny; the assistant continues once you decide.`;
}
