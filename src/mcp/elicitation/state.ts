/**
 * The request state of a URL elicitation (MCP 2026-07-28 multi-round-trip requests): what a
 * retried call carries back so Countersign can continue it. Minted with the SDK's HMAC-SHA-256
 * codec (`createRequestStateCodec`) under a key derived from COOKIE_SECRET for this one purpose,
 * bound to the person and the client connection (the codec keeps only an HMAC tag of that
 * binding, never the ids), with an expiry; the payload names the access request and the exact
 * call's fingerprint.
 *
 * Invariants: a state is only ever read through `openRequestState`, which never throws, so a
 * refusal reaches the assistant as our stable `request_state_invalid` code (the SDK's own hook
 * failure is a bare -32602); the payload is signed, not secret, so it holds nothing the client
 * may not know (its own request id and a SHA-256 of its own call).
 */

import type { ServerContext } from "@modelcontextprotocol/server";
import { createRequestStateCodec, type RequestStateCodec } from "@modelcontextprotocol/server";
import { mac } from "../../lib/crypto";
import type { ErrorCode } from "../../lib/errors";
import type { ToolContext } from "../tool-context";

/** What a verified state names: the access request and the call it was made for. */
export interface StatePayload {
  r: string;
  f: string;
  /** Set (1) when the round's request joined an earlier identical pending one (request_elevated_access). */
  c?: 1;
}

export type StateFailure = ErrorCode<"requestState">;

/** A retried round's state as the handler reads it: verified, or why not. */
export type OpenedState =
  | { ok: true; requestId: string; fingerprint: string; coalesced: boolean }
  | { ok: false; reason: StateFailure };

/** How long a state stays usable past the request's own pending life: one more round's wait. */
const STATE_SLACK_SECONDS = 120;

const CODEC_REASONS: readonly StateFailure[] = ["malformed", "mac", "expired", "bind"];

/** The binding: the person and the connection, exactly as the verified token names them. */
const binding = (context: ToolContext) => `${context.props.userId}\u0000${context.props.connectionId}`;

/** Each request's context, to the binding its tool context gives it (read by the codec's `bind`). */
const bindings = new WeakMap<ServerContext, string>();

const codecs = new Map<string, Promise<RequestStateCodec<StatePayload>>>();

function codecFor(context: ToolContext): Promise<RequestStateCodec<StatePayload>> {
  const ttlSeconds = context.config.grantPolicy.pendingTtlSeconds + STATE_SLACK_SECONDS;
  const cacheKey = `${context.config.cookieSecret}\u0000${ttlSeconds}`;
  let codec = codecs.get(cacheKey);
  if (!codec) {
    // 256 bits from HKDF-then-HMAC over COOKIE_SECRET, used for nothing else.
    codec = mac(context.config.cookieSecret, "mcp-request-state", "v1").then((key) =>
      createRequestStateCodec<StatePayload>({
        key,
        ttlSeconds,
        bind: (ctx) => {
          const value = bindings.get(ctx);
          if (value === undefined) throw new Error("request state used without its binding");
          return value;
        },
      }),
    );
    codecs.set(cacheKey, codec);
  }
  return codec;
}

/** The context the codec binds to, with the verified person and connection of this request. */
function bound(context: ToolContext, ctx: ServerContext): ServerContext {
  bindings.set(ctx, binding(context));
  return ctx;
}

/** Seal a state for one access request and one exact call. */
export async function mintRequestState(
  context: ToolContext,
  ctx: ServerContext,
  requestId: string,
  fingerprint: string,
  coalesced = false,
): Promise<string> {
  const payload: StatePayload = coalesced ? { r: requestId, f: fingerprint, c: 1 } : { r: requestId, f: fingerprint };
  return (await codecFor(context)).mint(payload, bound(context, ctx));
}

/** Verify an echoed state for this person and connection; never throws. */
export async function openRequestState(context: ToolContext, state: string, ctx: ServerContext): Promise<OpenedState> {
  let payload: unknown;
  try {
    payload = await (await codecFor(context)).verify(state, bound(context, ctx));
  } catch (error) {
    const reason = error instanceof Error ? (error.message as StateFailure) : "malformed";
    return { ok: false, reason: CODEC_REASONS.includes(reason) ? reason : "malformed" };
  }
  const { r, f, c } = (payload ?? {}) as Partial<Record<keyof StatePayload, unknown>>;
  if (typeof r !== "string" || typeof f !== "string") return { ok: false, reason: "malformed" };
  return { ok: true, requestId: r, fingerprint: f, coalesced: c === 1 };
}

/** `ServerOptions.requestState` for one request's server: verification at the SDK's seam. */
export function requestStateOptions(context: ToolContext) {
  return { verify: (state: string, ctx: ServerContext) => openRequestState(context, state, ctx) };
}

/** The state a retried round carried, as the seam verified it; undefined on a first round. */
export function retriedState(ctx: ServerContext): OpenedState | undefined {
  const state = ctx.mcpReq.requestState<OpenedState | string>();
  if (state === undefined) return undefined;
  // Only our hook produces an object; anything else was never verified.
  return typeof state === "object" && state !== null && "ok" in state ? state : { ok: false, reason: "malformed" };
}
