/**
 * `call_integration_api`: make one HTTP call to a connected provider with the person's token,
 * only when a live grant of this connection, or a standing rule of the person, covers it (a
 * never rule refuses it with `refused_by_rule` whatever is granted). The URL is parsed once; SSRF, provider,
 * classification and the grant decision all run before anything is sent; a call grant is
 * consumed before the fetch starts. The person's object decides, sends and audits the call in one
 * round trip (providers/access.ts). Redirects are not followed; time and size are capped.
 */

import type { McpServer, ServerContext } from "@modelcontextprotocol/server";
import * as z from "zod";
import { answerBody } from "../../calls/outbound";
import { type PreparedCall, type PrepareError, prepareCall } from "../../calls/prepare";
import { headerRecord } from "../../grants/canonical";
import type { AccessLevel } from "../../grants/types";
import { errorLabel, log } from "../../lib/log";
import type { ProviderCallResult } from "../../providers/access";
import {
  continueRetry,
  ELICITABLE_REASONS,
  elicitApproval,
  type GateAnswer,
  type GatedCall,
  raisingUrlElicitation,
} from "../elicitation/gate";
import { retriedState } from "../elicitation/state";
import { jsonSchemaOnce } from "../json-schema-once";
import { sessionOf, type ToolContext } from "../tool-context";
import { safely, toolError, toolResult } from "../tool-result";

const Input = jsonSchemaOnce(
  z.object({
    url: z.string().min(1).max(8192).describe("The full https URL of the provider API endpoint"),
    method: z.string().min(1).max(16).describe("HTTP method"),
    headers: z.record(z.string(), z.string().max(4096)).optional().describe("Extra headers (never auth headers)"),
    body: z.string().max(1_048_576).optional().describe("The exact request body, e.g. JSON text"),
    request_id: z.string().max(64).optional().describe("Use this approved grant (e.g. a one-call approval)"),
  }),
);

const Output = jsonSchemaOnce(
  z.object({
    status: z.number(),
    headers: z.record(z.string(), z.string()),
    body: z.unknown(),
    truncated: z.boolean(),
    provider: z.string(),
    access: z.enum(["read", "write"]),
    operation: z.string(),
    /** What allowed the call: the grant, or the person's standing rule (then no grant_id). */
    grant_id: z.string().optional(),
    rule_id: z.string().optional(),
  }),
);

/** The largest body request_elevated_access accepts for a one-call approval. */
const MAX_APPROVABLE_BODY = 65_536;

const ACCESS_HINT: Record<string, string> = {
  no_grant: "Nothing approved covers this call.",
  read_only: "Your approval is read-only and this call writes.",
  wrong_provider: "Your approval does not include this provider.",
  call_mismatch: "This one-call approval was for a different call (method, URL, body or headers differ).",
  not_found: "No such approval for this connection.",
  pending: "The person has not decided this request yet; call check_access_request with wait_seconds.",
};

function prepareError(error: PrepareError) {
  switch (error.code) {
    case "address_not_allowed":
      return toolError("invalid_request", "Loopback, private and metadata addresses are never called.", {
        reason: error.code,
      });
    case "wrong_port":
      return toolError(
        "invalid_request",
        `Wrong port: this dev provider is served at ${error.expected} (PUBLIC_URL); use that origin.`,
        { reason: error.code, expected: error.expected },
      );
    case "unknown_provider":
      return toolError("unknown_provider", "No provider Countersign knows serves this URL. See list_integrations.", {
        host: error.host,
      });
    case "path_not_allowed":
      return toolError("invalid_request", error.message, { reason: error.code });
    default:
      return toolError("invalid_request", `This call cannot be made: ${error.reason}.`, {
        reason: error.reason,
        ...(error.header ? { header: error.header } : {}),
      });
  }
}

/** The request_elevated_access arguments that would cover this call. */
function coveringRequest(prepared: PreparedCall) {
  const { canonical, classified } = prepared;
  // A one-call approval shows the whole body to the person; past 64 KiB ask for write access instead.
  if (classified.access === "write" && canonical.body.length > MAX_APPROVABLE_BODY) {
    return {
      kind: "broad",
      level: "write",
      providers: [classified.provider],
      reason: "<say what you will change and why>",
    };
  }
  if (classified.access === "read") {
    return {
      kind: "broad",
      level: "read",
      providers: [classified.provider],
      reason: "<say why you need to read this>",
    };
  }
  return {
    kind: "call",
    method: canonical.method,
    url: canonical.url,
    ...(canonical.body ? { body: canonical.body } : {}),
    ...(canonical.headers.length ? { headers: headerRecord(canonical.headers) } : {}),
    reason: "<say what this call will change and why>",
  };
}

/** Register the tool for one request's verified context. */
export function registerCallIntegrationApi(server: McpServer, context: ToolContext): void {
  server.registerTool(
    "call_integration_api",
    {
      title: "Call a provider API",
      description:
        "Make one HTTP request to a connected provider's API (GitHub, Linear, Notion, Slack, Google, Atlassian, Sentry, Snowflake, custom) with the person's credentials. Works only while the person has approved access that covers it; otherwise returns access_required with the request_elevated_access arguments to ask for. Never send credentials yourself.",
      inputSchema: Input,
      outputSchema: Output,
      annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: true },
    },
    raisingUrlElicitation(
      safely("call_integration_api", async (input, ctx: ServerContext) => {
        const prepared = await prepareCall(input, context.config.registry);
        if (!prepared.ok) return prepareError(prepared.error);
        const call = prepared.value;
        // A 2026-07-28 retry of an elicited call: verified and bound to this exact call first.
        const state = retriedState(ctx);
        if (state) return continueRetry(context, ctx, gatedCall(call), state, (id) => attemptCall(context, call, id));
        return attemptCall(context, call, input.request_id, input.request_id === undefined ? ctx : undefined);
      }),
    ),
  );
}

/**
 * Decide and make the call. `ctx` is given only when no request_id was: then a refusal an
 * approval would cure may become a URL elicitation (mcp/elicitation/gate.ts).
 */
async function attemptCall(
  context: ToolContext,
  prepared: PreparedCall,
  requestId: string | undefined,
  ctx?: ServerContext,
): Promise<GateAnswer> {
  const { config, props } = context;
  const { provider, classified, operation } = prepared;
  const session = sessionOf(context);
  // Decided, sent and audited in the person's object, in one round trip (providers/access.ts).
  const begun = await session.callProvider(classified, props.connectionId, requestId).catch((error: unknown) => {
    log.error("call.outcome_unknown", { provider: provider.id, error: errorLabel(error) });
    return null;
  });
  // The object failed after it may have sent the call (it was reset, or its write of the outcome
  // failed): not "try again", which under a write grant would send a write twice.
  if (begun === null) {
    return toolError(
      "provider_unavailable",
      "The call may have been sent, but its outcome is unknown. Check with the provider before repeating a write.",
      { reason: "outcome_unknown" },
    );
  }
  if (!begun.ok) {
    const refusal = refusalOf(begun, prepared, config.publicOrigin);
    if (ctx && begun.code === "denied" && ELICITABLE_REASONS.includes(begun.reason)) {
      return elicitApproval(context, ctx, gatedCall(prepared), refusal, (id) => attemptCall(context, prepared, id));
    }
    return refusal;
  }
  const sent = begun.sent;
  if (!sent.ok) {
    return toolError("provider_unavailable", `The provider did not answer in time or at all (${sent.error.code}).`, {
      reason: sent.error.code,
    });
  }
  const response = answerBody(sent.value);
  const output = {
    status: response.status,
    headers: response.headers,
    body: response.body,
    truncated: response.truncated,
    provider: provider.id,
    access: classified.access,
    operation,
    ...(begun.grantId ? { grant_id: begun.grantId } : {}),
    ...(begun.ruleId ? { rule_id: begun.ruleId } : {}),
  };
  const preview = typeof response.body === "string" ? response.body : JSON.stringify(response.body);
  return toolResult(output, `${response.status} from ${provider.name} (${operation})\n${preview.slice(0, 4000)}`);
}

/** The tool error for a call the session refused (the answer every client gets without elicitation). */
function refusalOf(begun: Exclude<ProviderCallResult, { ok: true }>, prepared: PreparedCall, publicOrigin: string) {
  const { provider, classified } = prepared;
  const connectUrl = `${publicOrigin}/connections?provider=${encodeURIComponent(provider.id)}`;
  switch (begun.code) {
    case "not_connected":
      return toolError("not_connected", `${provider.name} is not connected. Ask the person to connect it.`, {
        connect_url: connectUrl,
      });
    case "reauth_required":
      return toolError("reauth_required", `${provider.name} needs to be reconnected. Ask the person to reconnect it.`, {
        reconnect_url: connectUrl,
      });
    case "provider_unavailable":
      return toolError(
        "provider_unavailable",
        `${provider.name} could not be reached to refresh access. Try again shortly.`,
      );
    case "unknown_provider":
      return toolError("unknown_provider", "No provider Countersign knows serves this URL.");
    default: {
      const reason = begun.reason;
      if (reason === "wrong_account") {
        return toolError("invalid_request", `That is not the ${provider.name} account the person connected.`, {
          reason,
        });
      }
      if (reason === "denied") return toolError("access_denied", "The person denied this request. Do not retry it.");
      if (reason === "refused_by_rule") {
        return toolError(
          "refused_by_rule",
          `The person set a standing rule that never allows this on ${provider.name}. Do not ask for it.`,
          { access: classified.access, provider: provider.id },
        );
      }
      if (reason === "expired" || reason === "consumed" || reason === "revoked") {
        return toolError(
          "expired",
          `That approval is ${reason}. Ask again with request_elevated_access if still needed.`,
          {
            request_elevated_access: coveringRequest(prepared),
          },
        );
      }
      return toolError("access_required", `${ACCESS_HINT[reason] ?? "Access is required."} Ask the person first.`, {
        reason,
        access: classified.access,
        provider: provider.id,
        request_elevated_access: coveringRequest(prepared),
      });
    }
  }
}

/** The call as the elicitation gate sees it, asking what access_required would tell the assistant to ask. */
function gatedCall(prepared: PreparedCall): GatedCall {
  const { provider, canonical, classified } = prepared;
  const covering = coveringRequest(prepared);
  return {
    target: classified.provider,
    title: provider.name,
    access: classified.access,
    call: canonical,
    fingerprint: classified.fingerprint,
    kind: covering.kind === "call" ? "call" : "broad",
    level: covering.kind === "call" ? classified.access : (covering.level as AccessLevel),
    label: `${canonical.method} ${canonical.url}`,
  };
}
