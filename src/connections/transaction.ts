/**
 * One "connect a provider" attempt: PKCE verifier and the user who started it, kept server-side
 * in KV under SHA-256(state) and bound to the browser by a `__Host-` cookie holding that hash.
 * The callback must come back to the same browser AND the same signed-in user; the transaction
 * is burned on every callback path before anything else happens. A connect started on an
 * approval page also seals the checked path to return to (`returnTo`, see approval-return.tsx),
 * so no provider or authorization server ever carries or can alter where the browser lands.
 */
import type { Config } from "../config";
import { clearCookie, readCookie } from "../lib/cookies";
import { deriveKey, open, randomToken, seal, sha256Hex, timingSafeEqual } from "../lib/crypto";
import type { ErrorCode } from "../lib/errors";
import { err, ok, type Result } from "../lib/result";
import { connectKey } from "../lib/storage-keys";
import type { AuthorizationServerFacts } from "../upstream/client/discovery";
import { createPkce } from "../upstream/client/oauth";
import type { UpstreamClient } from "../upstream/client/registration";

export const CONNECT_COOKIE = "__Host-cs_connect" as const;
const TTL_SECONDS = 600;

export interface ConnectTransaction {
  userId: string;
  providerId: string;
  verifier: string;
  /** For an upstream MCP server: what the callback needs to finish (sealed, like the verifier). */
  mcp?: McpConnectTransaction;
  /** The approval page the connect was started from, already checked (sealed, like the verifier). */
  returnTo?: string;
}

/** An upstream MCP server's authorization in flight: the server as it was, and whom we asked. */
export interface McpConnectTransaction {
  server: string;
  serverUrl: string;
  resource: string;
  scope?: string;
  authorizationServer: AuthorizationServerFacts;
  client: UpstreamClient;
  registration: "dcr" | "cimd" | "preregistered";
}

export type TransactionFailure = ErrorCode<"transaction">;

/** Claims a state hash once, atomically (the person's Durable Object); false if already claimed. */
export type ClaimState = (stateHash: string) => Promise<boolean>;

/** What a transaction may carry beyond the PKCE verifier. */
export interface ConnectExtras {
  mcp?: McpConnectTransaction;
  returnTo?: string;
}

/** Start: returns the state to send, the PKCE challenge and the binding cookie. */
export async function beginConnect(
  config: Config,
  kv: KVNamespace,
  userId: string,
  providerId: string,
  { mcp, returnTo }: ConnectExtras = {},
) {
  const state = randomToken(32);
  const { verifier, challenge } = await createPkce();
  const stateHash = await sha256Hex(state);
  const key = await deriveKey(config.cookieSecret, "connect-transaction");
  const record: ConnectTransaction = {
    userId,
    providerId,
    verifier,
    ...(mcp ? { mcp } : {}),
    ...(returnTo ? { returnTo } : {}),
  };
  await kv.put(connectKey(stateHash), await seal(key, record, stateHash), { expirationTtl: TTL_SECONDS });
  const cookie = `${CONNECT_COOKIE}=${stateHash}; Max-Age=${TTL_SECONDS}; Path=/; Secure; HttpOnly; SameSite=Lax`;
  return { state, challenge, cookie };
}

/** The Set-Cookie that clears the binding cookie (sent on every callback response). */
export const clearConnectCookie = () => clearCookie(CONNECT_COOKIE);

/**
 * Finish: burn the transaction, then check browser and user binding, then claim the state once.
 * KV has no atomic take, so parallel replays of one callback could all read the record before
 * the delete lands; the claim in the person's Durable Object lets exactly one of them through.
 */
export async function finishConnect(
  config: Config,
  kv: KVNamespace,
  request: Request,
  userId: string,
  claim: ClaimState,
): Promise<Result<ConnectTransaction, TransactionFailure>> {
  const state = new URL(request.url).searchParams.get("state");
  if (!state) return err("state_missing");
  const stateHash = await sha256Hex(state);
  const storageKey = connectKey(stateHash);
  const stored = await kv.get(storageKey);
  await kv.delete(storageKey);
  const bound = readCookie(request, CONNECT_COOKIE);
  if (!bound || !timingSafeEqual(bound, stateHash)) return err("state_mismatch");
  if (!stored) return err("transaction_expired");
  const record = (await open(
    await deriveKey(config.cookieSecret, "connect-transaction"),
    stored,
    stateHash,
  )) as ConnectTransaction | null;
  if (!record) return err("transaction_expired");
  if (record.userId !== userId) return err("wrong_user");
  if (!(await claim(stateHash))) return err("state_replayed");
  return ok(record);
}
