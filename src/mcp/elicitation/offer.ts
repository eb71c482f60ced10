/**
 * `request_elevated_access` offered as a URL elicitation: to a client that declared URL mode,
 * the request the assistant asked for is shown by the client itself (its approval link as the
 * elicitation's URL), and the tool's result is the person's decision instead of a link to wait
 * on. A client without URL mode gets the tool's own answer for the request, unchanged.
 *
 * - 2026-07-28: an input-required result with the link and a sealed state naming the request
 *   and this exact ask (its fingerprint); the retry is verified, held while pending (HOLD_MS,
 *   woken by the decision), then answered with the decided request, or elicited again.
 * - 2025-11-25: -32042 with the link; the client's retry of the same ask finds the request
 *   through the connection and the ask's fingerprint (session/elicitations.ts), held the same way.
 *
 * Invariants: this module makes a request only through the tool's own `ask` (never rule, flood
 * limits and coalescing included) and decides nothing: it reports what the person decided. An
 * ask's fingerprint is domain-separated from every call fingerprint, so a state or link made for
 * an ask never settles a call, nor a call's an ask. A retry whose state fails verification or
 * names other arguments is refused with `request_state_invalid` before anything is stored.
 */
import type { CallToolResult, ServerContext } from "@modelcontextprotocol/server";
import type { Grant } from "../../grants/types";
import { sha256Hex } from "../../lib/crypto";
import { canonicalJson } from "../../upstream/tools";
import { sessionOf, type ToolContext } from "../tool-context";
import { isModernRequest, modernUrlElicitation } from "./capabilities";
import {
  type Elicited,
  type GateAnswer,
  HOLD_MS,
  legacyElicitation,
  modernElicitation,
  settleRetry,
  stateRefused,
} from "./gate";
import { type OpenedState, retriedState } from "./state";

/** A request as the tool made it: the grant, and whether it joined an identical pending one. */
export interface Asked {
  grant: Grant;
  coalesced: boolean;
}

/** One request_elevated_access call, as the offer sees it. */
export interface Offer {
  /** `offerFingerprint` of the call's arguments. */
  fingerprint: string;
  /** Make (or coalesce) the request the arguments ask for, or refuse them. */
  ask: () => Promise<{ ok: true; asked: Asked } | { ok: false; refusal: CallToolResult }>;
  /** The prompt the client shows with the link, for a request made. */
  message: (asked: Asked) => string;
  /** The tool's result for a request as it stands: today's pending result, or the decision. */
  answer: (asked: Asked) => Promise<CallToolResult>;
}

/** The fingerprint of an ask: SHA-256 of its arguments with sorted keys, apart from every call's. */
export const offerFingerprint = (args: unknown) => sha256Hex(`request_elevated_access\u0000${canonicalJson(args)}`);

/** Answer a request_elevated_access call: elicited for a client that declared URL mode, else as it stands. */
export async function offerDecision(context: ToolContext, ctx: ServerContext, offer: Offer): Promise<GateAnswer> {
  const state = retriedState(ctx);
  if (state) return continueOffer(context, ctx, offer, state);
  if (isModernRequest(ctx)) {
    const made = await offer.ask();
    if (!made.ok) return made.refusal;
    const { asked } = made;
    if (!modernUrlElicitation(ctx) || asked.grant.status !== "pending") return offer.answer(asked);
    await sessionOf(context).linkElicitation(context.props.connectionId, offer.fingerprint, asked.grant.id);
    return modernElicitation(context, ctx, elicited(offer, asked));
  }
  const settled = await sessionOf(context).settleElicitation(context.props.connectionId, {
    fingerprint: offer.fingerprint,
    holdMs: HOLD_MS,
  });
  switch (settled.kind) {
    case "not_declared": {
      const made = await offer.ask();
      return made.ok ? offer.answer(made.asked) : made.refusal;
    }
    case "pending":
      return elicitAgain(context, offer, settled.requestId, true, (again) => legacyElicitation(context, again));
    case "approved":
    case "denied":
    case "expired":
      // The retry of an earlier ask: the same request, so it reads as coalesced.
      return decided(context, offer, settled.requestId, true);
    default: {
      const made = await offer.ask();
      if (!made.ok) return made.refusal;
      const { asked } = made;
      if (asked.grant.status !== "pending") return offer.answer(asked);
      await sessionOf(context).linkElicitation(context.props.connectionId, offer.fingerprint, asked.grant.id);
      return legacyElicitation(context, elicited(offer, asked));
    }
  }
}

/** A 2026-07-28 retry: verified, bound to these exact arguments, held while pending, answered. */
async function continueOffer(
  context: ToolContext,
  ctx: ServerContext,
  offer: Offer,
  state: OpenedState,
): Promise<GateAnswer> {
  // A retry with other arguments is another ask: it never reports this request's decision.
  const retry = await settleRetry(context, ctx, offer.fingerprint, state);
  if ("refused" in retry) return retry.refused;
  const { settled, declined, coalesced } = retry;
  // Closed without deciding: today's pending result, the link to wait on with check_access_request.
  if (settled.kind === "pending" && !declined) {
    return elicitAgain(context, offer, settled.requestId, coalesced, (again) => modernElicitation(context, ctx, again));
  }
  return decided(context, offer, settled.requestId, coalesced);
}

const elicited = (offer: Offer, asked: Asked): Elicited => ({
  requestId: asked.grant.id,
  fingerprint: offer.fingerprint,
  message: offer.message(asked),
  coalesced: asked.coalesced,
});

const current = (context: ToolContext, requestId: string) =>
  sessionOf(context).waitForDecision(requestId, context.props.connectionId, 0);

/** The same request's elicitation again, while it is still pending. */
async function elicitAgain(
  context: ToolContext,
  offer: Offer,
  requestId: string,
  coalesced: boolean,
  build: (again: Elicited) => Promise<GateAnswer>,
): Promise<GateAnswer> {
  const grant = await current(context, requestId);
  if (!grant) return stateRefused("unknown_request");
  return build(elicited(offer, { grant, coalesced }));
}

/** The request as it stands now, through the tool's own answer. */
async function decided(context: ToolContext, offer: Offer, requestId: string, coalesced: boolean) {
  const grant = await current(context, requestId);
  if (!grant) return stateRefused("unknown_request");
  return offer.answer({ grant, coalesced });
}
