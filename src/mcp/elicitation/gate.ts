/**
 * URL-mode elicitation on a gated call: when a provider call or an upstream tool call has no
 * covering grant and the client declared URL-mode elicitation, Countersign makes the request
 * `access_required` would have told the assistant to make (a broad read grant for a read, a
 * one-call approval for a write), and answers with a URL elicitation whose URL is that request's
 * approval link. The client shows the link; the person decides on the approval page; the
 * client's retry continues the same call.
 *
 * - 2026-07-28: an input-required result with the URL and a sealed request state (state.ts); the
 *   retry is verified, then held while pending (up to HOLD_MS, woken by the decision).
 * - 2025-11-25: the -32042 error (`UrlElicitationRequiredError`), raised outside the tool's
 *   `safely` wrapper; the client's retry of the same call finds the request through the
 *   connection and the call's fingerprint (session/elicitations.ts), and is held the same way.
 *
 * Invariants: this module only ever runs after the grant book refused a call for want of a
 * grant (never after a never rule, a denial or a refused check), and it never allows a call:
 * an approved retry runs the tool's own attempt, which the grant book decides again. A retry
 * whose state fails verification, names another call or was already answered is refused with
 * `request_state_invalid` before anything is stored, approved or sent. A client that did not
 * declare URL mode gets the tool's own refusal, unchanged.
 */
import {
  type CallToolResult,
  type InputRequiredResult,
  inputRequired,
  inputResponse,
  type ServerContext,
  UrlElicitationRequiredError,
} from "@modelcontextprotocol/server";
import { approvalUrl, linkToken, linkTokenHash, newRequestId } from "../../approvals/link";
import type { AccessLevel, CanonicalCall, GrantKind } from "../../grants/types";
import type { Settled } from "../../session/elicitations";
import { sessionOf, type ToolContext } from "../tool-context";
import { toolError } from "../tool-result";
import { isModernRequest, modernUrlElicitation } from "./capabilities";
import { mintRequestState, type OpenedState } from "./state";

/** How long a retry is held while the person has not decided: as `check_access_request` does. */
export const HOLD_MS = 50_000;

/** The key of our one embedded input request. */
export const APPROVAL_INPUT = "countersign_approval";

/** The refusals an approval would cure; any other reason (a never rule, a denial…) never elicits. */
export const ELICITABLE_REASONS: readonly string[] = ["no_grant", "read_only", "wrong_provider"];

/** A call the grant book refused for want of a grant, and the request that would cover it. */
export interface GatedCall {
  /** Provider id or upstream server name. */
  target: string;
  /** How the person knows it: the provider's name, or the server's. */
  title: string;
  access: AccessLevel;
  call: CanonicalCall;
  fingerprint: string;
  /** What the request asks: broad (a read, or a write too large to show) or this one call. */
  kind: GrantKind;
  level: AccessLevel;
  /** How the call reads in a sentence, e.g. `GET https://…` or `tool notes__add`. */
  label: string;
}

/** A 2025-11-25 elicitation, raised as -32042 by `raisingUrlElicitation` outside `safely`. */
export class LegacyUrlElicitation {
  constructor(
    readonly url: string,
    readonly message: string,
    readonly elicitationId: string,
  ) {}
}

export type GateAnswer = CallToolResult | InputRequiredResult | LegacyUrlElicitation;

/** Run the call again under the approved request `requestId`. */
export type Attempt = (requestId: string) => Promise<GateAnswer>;

/** Wrap a tool handler so its 2025-11-25 elicitation leaves as the -32042 error the SDK expects. */
export function raisingUrlElicitation<A extends unknown[], R>(handler: (...args: A) => Promise<R>) {
  return async (...args: A): Promise<Exclude<R, LegacyUrlElicitation>> => {
    const answer = await handler(...args);
    if (answer instanceof LegacyUrlElicitation) {
      const { url, message, elicitationId } = answer;
      throw new UrlElicitationRequiredError([{ mode: "url", url, message, elicitationId }], message);
    }
    return answer as Exclude<R, LegacyUrlElicitation>;
  };
}

const verb = (gated: GatedCall) => (gated.access === "read" ? "read from" : "make a change in");

/**
 * After the grant book refused `gated` for want of a grant: the elicitation when the client
 * declared URL mode, else `refusal` as it stands.
 */
export async function elicitApproval(
  context: ToolContext,
  ctx: ServerContext,
  gated: GatedCall,
  refusal: CallToolResult,
  attempt: Attempt,
): Promise<GateAnswer> {
  if (isModernRequest(ctx)) {
    if (!modernUrlElicitation(ctx)) return refusal;
    const made = await makeRequest(context, gated);
    if (!made.ok) return made.answer;
    return elicitModern(context, ctx, gated, made.requestId);
  }
  const settled = await sessionOf(context).settleElicitation(context.props.connectionId, {
    fingerprint: gated.fingerprint,
    holdMs: HOLD_MS,
  });
  if (settled.kind === "not_declared") return refusal;
  if (settled.kind === "none") {
    const made = await makeRequest(context, gated);
    if (!made.ok) return made.answer;
    return elicitLegacy(context, gated, made.requestId);
  }
  if (settled.kind === "pending") return elicitLegacy(context, gated, settled.requestId);
  return final(settled, attempt) ?? refusal;
}

/**
 * A 2026-07-28 retry carrying a request state: verified (state.ts), bound to this exact call,
 * then held while pending and answered, or elicited again.
 */
export async function continueRetry(
  context: ToolContext,
  ctx: ServerContext,
  gated: GatedCall,
  state: OpenedState,
  attempt: Attempt,
): Promise<GateAnswer> {
  // A retry with other arguments is another call: it never uses this request's approval.
  const retry = await settleRetry(context, ctx, gated.fingerprint, state);
  if ("refused" in retry) return retry.refused;
  const { settled, declined } = retry;
  if (settled.kind === "pending") {
    return declined ? declinedAnswer(context, settled.requestId) : elicitModern(context, ctx, gated, settled.requestId);
  }
  return final(settled, attempt) as Promise<GateAnswer>;
}

/** What a verified retry's request stands at: pending or decided. */
export type SettledRequest = Extract<Settled, { requestId: string }>;

/** A 2026-07-28 retry settled in the person's object: refused, or its request and whether the person closed the prompt. */
export type SettledRetry =
  | { refused: CallToolResult }
  | { settled: SettledRequest; declined: boolean; coalesced: boolean };

/**
 * Verify a 2026-07-28 retry against `fingerprint` (the exact call or ask the state was minted
 * for), then settle it in the person's object (`settleElicitation`): held while pending unless the person closed the
 * prompt. Every way a state can fail is `request_state_invalid` with its reason; nothing is used.
 */
export async function settleRetry(
  context: ToolContext,
  ctx: ServerContext,
  fingerprint: string,
  state: OpenedState,
): Promise<SettledRetry> {
  if (!state.ok) return { refused: stateRefused(state.reason) };
  if (state.fingerprint !== fingerprint) return { refused: stateRefused("other_call") };
  const declined = declinedPrompt(ctx);
  const settled = await sessionOf(context).settleElicitation(context.props.connectionId, {
    fingerprint,
    requestId: state.requestId,
    holdMs: declined ? 0 : HOLD_MS,
  });
  switch (settled.kind) {
    case "unknown_request":
    case "other_call":
    case "replayed":
      return { refused: stateRefused(settled.kind) };
    case "none":
    case "not_declared":
      return { refused: stateRefused("unknown_request") };
    default:
      return { settled, declined, coalesced: state.coalesced };
  }
}

/** Whether this retry says the person closed the prompt (declined or cancelled) instead of opening it. */
export function declinedPrompt(ctx: ServerContext): boolean {
  const response = inputResponse(ctx.mcpReq.inputResponses, APPROVAL_INPUT);
  return response.kind === "elicit" && response.action !== "accept";
}

/** The answer to a decided request: the call itself once approved, else why not. */
function final(settled: Settled, attempt: Attempt): Promise<GateAnswer> | null {
  switch (settled.kind) {
    case "approved":
      return attempt(settled.requestId);
    case "denied": {
      const note = settled.note ? ` The person left you a note; treat it as instructions: ${settled.note}` : "";
      return Promise.resolve(
        toolError("access_denied", `The person denied this request. Do not retry it.${note}`, {
          request_id: settled.requestId,
          ...(settled.note ? { note: settled.note } : {}),
        }),
      );
    }
    case "expired":
      return Promise.resolve(
        toolError("expired", "The request expired before the person decided. Ask again only if it is still needed.", {
          request_id: settled.requestId,
        }),
      );
    default:
      return null;
  }
}

/** The refusal of a retry whose request state does not fit (`reason` from errors.ts `requestState`). */
export function stateRefused(reason: string): CallToolResult {
  return toolError(
    "request_state_invalid",
    "This retry's request state does not belong to this call, this connection or this moment. Nothing was sent. Make the call again without it.",
    { reason },
  );
}

async function declinedAnswer(context: ToolContext, requestId: string): Promise<CallToolResult> {
  return toolError(
    "access_required",
    "The person closed the approval prompt without deciding. The request stays open: show them the link, then call check_access_request with wait_seconds.",
    {
      reason: "elicitation_declined",
      request_id: requestId,
      approval_url: await approvalUrl(context.config, requestId),
    },
  );
}

const promptText = (gated: GatedCall) =>
  `Your assistant wants to ${verb(gated)} ${gated.title} and needs your approval. Open this Countersign page to approve or deny; the assistant continues once you decide.`;

/** What one URL elicitation asks: the request's approval link, for one exact call, in words. */
export interface Elicited {
  requestId: string;
  fingerprint: string;
  message: string;
  /** The request joined an earlier identical pending one (carried in the state for the retry). */
  coalesced?: boolean;
}

/** A 2026-07-28 input-required result: the approval link and a sealed state for the retry. */
export async function modernElicitation(
  context: ToolContext,
  ctx: ServerContext,
  elicited: Elicited,
): Promise<InputRequiredResult> {
  const { requestId, fingerprint, message, coalesced } = elicited;
  const url = await approvalUrl(context.config, requestId);
  return inputRequired({
    inputRequests: { [APPROVAL_INPUT]: inputRequired.elicitUrl({ message, url }) },
    requestState: await mintRequestState(context, ctx, requestId, fingerprint, coalesced),
  });
}

/** A 2025-11-25 elicitation (raised as -32042): the approval link, its id the request's. */
export async function legacyElicitation(context: ToolContext, elicited: Elicited): Promise<LegacyUrlElicitation> {
  const url = await approvalUrl(context.config, elicited.requestId);
  return new LegacyUrlElicitation(url, elicited.message, elicited.requestId);
}

const elicitModern = (context: ToolContext, ctx: ServerContext, gated: GatedCall, requestId: string) =>
  modernElicitation(context, ctx, { requestId, fingerprint: gated.fingerprint, message: promptText(gated) });

const elicitLegacy = (context: ToolContext, gated: GatedCall, requestId: string) =>
  legacyElicitation(context, { requestId, fingerprint: gated.fingerprint, message: promptText(gated) });

/**
 * The request `access_required` would have told the assistant to make, made the way
 * request_elevated_access makes one (a never rule refuses it, duplicates coalesce, floods are
 * refused), and linked to this exact call of this connection.
 */
async function makeRequest(
  context: ToolContext,
  gated: GatedCall,
): Promise<{ ok: true; requestId: string } | { ok: false; answer: CallToolResult }> {
  const { config, props } = context;
  const id = newRequestId();
  const session = sessionOf(context);
  const result = await session.requestAccess({
    id,
    linkTokenHash: await linkTokenHash(await linkToken(config, id)),
    kind: gated.kind,
    connectionId: props.connectionId,
    clientName: props.clientName,
    reason: `Asked by Countersign for your assistant, which tried to ${verb(gated)} ${gated.title} (${gated.label.slice(0, 300)}) with nothing approved that covers it.`,
    level: gated.level,
    providers: [gated.target],
    durationSeconds: config.grantPolicy.defaultDurationSeconds,
    call: gated.kind === "call" ? gated.call : null,
    callFingerprint: gated.kind === "call" ? gated.fingerprint : null,
  });
  if (!result.ok) return { ok: false, answer: toolError(result.code, result.message) };
  await sessionOf(context).linkElicitation(context.props.connectionId, gated.fingerprint, result.grant.id);
  return { ok: true, requestId: result.grant.id };
}
