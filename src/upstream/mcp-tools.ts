/**
 * Upstream MCP tools in our tools/list and tools/call: each connected server's tools, namespaced
 * `<server>__<tool>`, with the server's own input schema passed through (the upstream validates
 * arguments; we only require an object). A call goes to the person's Durable Object, which
 * decides it with the same grants as provider calls and makes it.
 *
 * Invariants: an upstream tool is registered after ours and never under a name that is taken, so
 * it cannot shadow one of our tools; nothing an upstream returns can create or approve a grant
 * (results only travel back to the assistant); credentials never appear in a result or an error.
 */
import type { McpServer, ServerContext, StandardSchemaWithJSON } from "@modelcontextprotocol/server";
import { fingerprintCall } from "../grants/canonical";
import type { AccessLevel, CanonicalCall } from "../grants/types";
import { log } from "../lib/log";
import {
  continueRetry,
  ELICITABLE_REASONS,
  elicitApproval,
  type GateAnswer,
  type GatedCall,
  raisingUrlElicitation,
} from "../mcp/elicitation/gate";
import { retriedState } from "../mcp/elicitation/state";
import { sessionOf, type ToolContext } from "../mcp/tool-context";
import { safely, toolError } from "../mcp/tool-result";
import type { UpstreamCallFailure } from "./calls";
import { forgetUpstreamTool } from "./listing-cache";
import { canonicalToolCall, namespacedTool } from "./tools";
import type { ListedTool, UpstreamToolGroup } from "./upstream";

type Args = Record<string, unknown>;

/** A Standard Schema that accepts any JSON object and lists the upstream's JSON Schema as is. */
function passthroughSchema(jsonSchema: Record<string, unknown>): StandardSchemaWithJSON<Args, Args> {
  return {
    "~standard": {
      version: 1,
      vendor: "countersign-upstream",
      validate: (value: unknown) =>
        value !== null && typeof value === "object" && !Array.isArray(value)
          ? { value: value as Args }
          : { issues: [{ message: "arguments must be a JSON object" }] },
      jsonSchema: { input: () => jsonSchema, output: () => jsonSchema },
    },
  } as StandardSchemaWithJSON<Args, Args>;
}

/** The request_elevated_access arguments that would allow this call. */
function coveringRequest(server: string, tool: string, access: AccessLevel, call: CanonicalCall) {
  if (access === "read") {
    return { kind: "broad", level: "read", providers: [server], reason: "<say why you need to read this>" };
  }
  return {
    kind: "call",
    tool: namespacedTool(server, tool),
    arguments: JSON.parse(call.body) as Args,
    reason: "<say what this call will change and why>",
  };
}

function failure(outcome: UpstreamCallFailure, server: string, tool: string, context: ToolContext) {
  const connectUrl = `${context.config.publicOrigin}/connections?server=${encodeURIComponent(server)}`;
  switch (outcome.code) {
    case "not_found":
      return toolError(
        "not_found",
        outcome.reason === "server"
          ? `There is no upstream server "${server}" any more. See list_integrations.`
          : `The server "${server}" no longer offers "${tool}". See list_integrations.`,
      );
    case "not_connected":
      return toolError("not_connected", `The server "${server}" is not connected. Ask the person to connect it.`, {
        connect_url: connectUrl,
      });
    case "reauth_required":
      return toolError(
        "reauth_required",
        `The server "${server}" needs to be reconnected. Ask the person to reconnect it.`,
        {
          reconnect_url: connectUrl,
        },
      );
    case "upstream_unavailable":
      return toolError("upstream_unavailable", `The server "${server}" did not answer usably (${outcome.reason}).`, {
        reason: outcome.reason,
      });
    case "invalid_request":
      return toolError("invalid_request", `This call cannot be made: ${outcome.reason}.`, { reason: outcome.reason });
    default: {
      const request = coveringRequest(server, tool, outcome.access, outcome.call);
      if (outcome.reason === "denied")
        return toolError("access_denied", "The person denied this request. Do not retry it.");
      if (outcome.reason === "refused_by_rule") {
        return toolError("refused_by_rule", `The person set a standing rule that never allows this on "${server}".`, {
          access: outcome.access,
          provider: server,
        });
      }
      return toolError(
        "access_required",
        `${outcome.access === "read" ? "Reading" : "Writing"} through "${server}" needs the person's approval. Ask first.`,
        { reason: outcome.reason, access: outcome.access, provider: server, request_elevated_access: request },
      );
    }
  }
}

function register(server: McpServer, context: ToolContext, group: UpstreamToolGroup, tool: ListedTool): void {
  const upstreamName = tool.name.slice(group.server.length + 2);
  server.registerTool(
    tool.name,
    {
      title: tool.title,
      description: tool.description,
      inputSchema: passthroughSchema(JSON.parse(tool.inputSchemaJson) as Record<string, unknown>),
      annotations: {
        readOnlyHint: tool.access === "read",
        destructiveHint: tool.destructive,
        openWorldHint: true,
      },
    },
    raisingUrlElicitation(
      safely(tool.name, async (args: Args, ctx: ServerContext) => {
        // A 2026-07-28 retry of an elicited call: verified and bound to this exact call first.
        const state = retriedState(ctx);
        if (!state) return attemptTool(context, group, upstreamName, args, ctx);
        const call = canonicalToolCall(group.server, upstreamName, args);
        const gated = await gatedToolCall(group, upstreamName, tool.access, call);
        return continueRetry(context, ctx, gated, state, () => attemptTool(context, group, upstreamName, args));
      }),
    ),
  );
}

/** The call as the elicitation gate sees it: a read asks for broad read on the server, a write for this one call. */
async function gatedToolCall(
  group: UpstreamToolGroup,
  tool: string,
  access: AccessLevel,
  call: CanonicalCall,
): Promise<GatedCall> {
  return {
    target: group.server,
    title: group.title,
    access,
    call,
    fingerprint: await fingerprintCall(call),
    kind: access === "read" ? "broad" : "call",
    level: access,
    label: `tool ${namespacedTool(group.server, tool)}`,
  };
}

/**
 * One upstream tool call, decided in the person's object. `ctx` is given on a first round: then
 * a refusal an approval would cure may become a URL elicitation (mcp/elicitation/gate.ts).
 */
async function attemptTool(
  context: ToolContext,
  group: UpstreamToolGroup,
  upstreamName: string,
  args: Args,
  ctx?: ServerContext,
): Promise<GateAnswer> {
  const session = sessionOf(context);
  const outcome = await session.callUpstreamTool(context.props.connectionId, group.server, upstreamName, args);
  if (!outcome.ok) {
    // The server or tool is gone: the next call asks the object for its definition again.
    if (outcome.code === "not_found")
      forgetUpstreamTool(context.props.userId, namespacedTool(group.server, upstreamName));
    const refusal = failure(outcome, group.server, upstreamName, context);
    if (ctx && outcome.code === "denied" && ELICITABLE_REASONS.includes(outcome.reason)) {
      const gated = await gatedToolCall(group, upstreamName, outcome.access, outcome.call);
      return elicitApproval(context, ctx, gated, refusal, () => attemptTool(context, group, upstreamName, args));
    }
    return refusal;
  }
  // Upstream content blocks pass through as the server sent them (the SDK checks their shape).
  const content = JSON.parse(outcome.contentJson) as { type: "text"; text: string }[];
  return {
    content: outcome.truncated
      ? [...content, { type: "text" as const, text: "[Countersign cut this result to its size cap.]" }]
      : content,
    ...(outcome.structuredJson
      ? { structuredContent: JSON.parse(outcome.structuredJson) as Record<string, unknown> }
      : {}),
    ...(outcome.isError ? { isError: true } : {}),
  };
}

/** Register every upstream tool whose name is free (ours are registered first and always win). */
export function registerUpstreamTools(
  server: McpServer,
  context: ToolContext,
  groups: readonly UpstreamToolGroup[],
): void {
  for (const group of groups) {
    for (const tool of group.tools) {
      try {
        register(server, context, group, tool);
      } catch {
        // The SDK refuses a name that is already registered: ours, or a duplicate upstream entry.
        log.warn("upstream.tool_name_taken", { server: group.server });
      }
    }
  }
}
