/**
 * The plain summary a one-call approval page opens with, before the HTTP details: which account,
 * what the call does in words (where the provider describes it), whether it writes, whether an
 * upstream tool declared itself destructive, and how long the approval stays usable. Pure: the
 * route passes in what it looked up. Every word from a provider table or an upstream server is
 * rendered through showText (escaped by JSX, hidden characters revealed); a server's own tool
 * description is never shown here, since a hostile server could write "harmless" in it.
 */
import type { Grant } from "../grants/types";
import { providerRequestOf } from "../providers/classify";
import { describeOperation } from "../providers/describe";
import type { ProviderDefinition } from "../providers/types";
import type { ServerView } from "../upstream/store";
import { toolCallOf } from "../upstream/tools";
import { showDuration, showText } from "./display";

/**
 * What an upstream tool said about itself (MCP tool annotations): `destructiveHint` defaults to
 * true and means something only when `readOnlyHint` is not true (MCP 2025-06-18, "Tool
 * annotations"). `unlisted`: the server no longer lists the tool, so nothing is known.
 */
export type ToolDeclaration = "destructive" | "not_destructive" | "read_only" | "undeclared" | "unlisted";

export interface CallSummary {
  /** The provider, or the upstream server with its host. */
  account: string;
  /** The call in words, or null when the provider does not describe it. */
  does: string | null;
  /** `POST /demo-api/notes` or the tool's name: what the words stand for. */
  operation: string;
  writes: boolean;
  /** Upstream tool calls only. */
  tool: ToolDeclaration | null;
  /** How long the approval stays usable once given, in seconds. */
  usableSeconds: number;
}

export interface SummaryFacts {
  /** The provider a call's id names (built-in, custom or demo). */
  provider: (id: string) => Pick<ProviderDefinition, "operations"> | undefined;
  servers: readonly Pick<ServerView, "name" | "tools">[];
  names: (id: string) => string;
}

function declarationOf(annotations: { readOnlyHint?: boolean; destructiveHint?: boolean } | undefined) {
  if (annotations?.readOnlyHint === true) return "read_only";
  if (annotations?.destructiveHint === true) return "destructive";
  if (annotations?.destructiveHint === false) return "not_destructive";
  return "undeclared";
}

/** The summary of a call grant, or null for a broad grant. */
export function summarizeCall(grant: Grant, facts: SummaryFacts): CallSummary | null {
  const call = grant.call;
  if (grant.kind !== "call" || !call) return null;
  const target = grant.requestedProviders[0] ?? "";
  const base = {
    account: facts.names(target),
    writes: grant.requestedLevel === "write",
    usableSeconds: grant.requestedDurationSeconds,
  };
  const tool = toolCallOf(call);
  if (tool) {
    const listed = facts.servers
      .find((server) => server.name === tool.server)
      ?.tools.find((candidate) => candidate.name === tool.tool);
    return {
      ...base,
      does: `call the tool ${tool.tool}`,
      operation: tool.tool,
      tool: listed ? declarationOf(listed.annotations) : "unlisted",
    };
  }
  const request = providerRequestOf(call);
  const does = describeOperation(facts.provider(target)?.operations, request);
  return { ...base, does, operation: `${call.method} ${request.url.pathname}`, tool: null };
}

const TOOL_WORDS: Record<ToolDeclaration, string> = {
  destructive: "Yes: the tool says it may delete or overwrite data.",
  not_destructive: "No: the tool says it only adds, never deletes or overwrites.",
  read_only: "No: the tool says it only reads (you did not accept it as a read, so it is treated as a write).",
  undeclared: "Not declared. MCP treats a tool that does not say as possibly destructive.",
  unlisted: "Unknown: the server no longer lists this tool.",
};

const capitalised = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** The summary block; every value is text. */
export function SummaryList({ summary }: { summary: CallSummary }) {
  return (
    <dl class="summary">
      <dt>Account</dt>
      <dd>{showText(summary.account, 200)}</dd>
      <dt>What it does</dt>
      <dd>
        {summary.does ? (
          <>
            {showText(capitalised(summary.does), 300)}{" "}
            <span class="muted mono small">({showText(summary.operation, 200)})</span>
          </>
        ) : (
          <>
            <span class="mono">{showText(summary.operation, 200)}</span>{" "}
            <span class="muted">(not described in words: read the details below)</span>
          </>
        )}
      </dd>
      <dt>Changes anything?</dt>
      <dd>{summary.writes ? "Yes: this call writes." : "No: this call only reads."}</dd>
      {summary.tool ? (
        <>
          <dt>Destructive?</dt>
          <dd>{TOOL_WORDS[summary.tool]}</dd>
        </>
      ) : null}
      <dt>How long</dt>
      <dd>Usable once, within {showDuration(summary.usableSeconds)} of your approval.</dd>
    </dl>
  );
}
