/**
 * Whether the client of this request handles URL-mode elicitation, and which protocol era it
 * speaks. On 2026-07-28 every request carries the client's capabilities in its `_meta` envelope;
 * on 2025-11-25 they arrive only with `initialize`, so /mcp stores them per client connection in
 * the person's object (session/elicitations.ts) and a tool call reads them back from there.
 *
 * A client counts as supporting URL mode only when it declared `elicitation.url` (an empty
 * `elicitation` object means form mode only, per the MCP spec's capability rules).
 */
import {
  CLIENT_CAPABILITIES_META_KEY,
  PROTOCOL_VERSION_META_KEY,
  type ServerContext,
} from "@modelcontextprotocol/server";
import type { AuthProps } from "../../identity/props";
import { sessionFor } from "../../session/user-session";

/** Whether a capabilities object declares URL-mode elicitation. */
export function declaresUrlElicitation(capabilities: unknown): boolean {
  if (capabilities === null || typeof capabilities !== "object") return false;
  const elicitation = (capabilities as { elicitation?: unknown }).elicitation;
  if (elicitation === null || typeof elicitation !== "object") return false;
  const url = (elicitation as { url?: unknown }).url;
  return url !== null && typeof url === "object";
}

const envelopeOf = (ctx: ServerContext) => ctx.mcpReq.envelope as Record<string, unknown> | undefined;

/** Whether this request is served on the 2026-07-28 era (its envelope names the version). */
export const isModernRequest = (ctx: ServerContext) => typeof envelopeOf(ctx)?.[PROTOCOL_VERSION_META_KEY] === "string";

/** A 2026-07-28 request's own declaration of URL-mode elicitation. */
export const modernUrlElicitation = (ctx: ServerContext) =>
  declaresUrlElicitation(envelopeOf(ctx)?.[CLIENT_CAPABILITIES_META_KEY]);

/**
 * What a 2025-11-25 `initialize` message declared, or null when the body is not an initialize
 * (single message; a batch never carries initialize).
 */
export function initializeDeclaration(body: unknown): { urlElicitation: boolean } | null {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return null;
  const { method, params } = body as { method?: unknown; params?: { capabilities?: unknown } };
  if (method !== "initialize") return null;
  return { urlElicitation: declaresUrlElicitation(params?.capabilities) };
}

/**
 * On a 2025-11-25 `initialize`, store what this connection declared, before the initialize is
 * answered (so the first tool call after it already finds it). Nothing for any other message.
 */
export async function rememberDeclaration(env: Env, props: AuthProps, body: unknown): Promise<void> {
  const declared = initializeDeclaration(body);
  if (!declared) return;
  await sessionFor(env.SESSION, props.userId).rememberElicitation(props.connectionId, declared.urlElicitation);
}
