/**
 * Sign-in through any OpenID Connect provider with oauth4webapi: discovery, PKCE (S256), state,
 * nonce and the RFC 9207 `iss` check. The transaction (nonce, verifier, return path) is kept
 * server-side in KV under the SHA-256 of `state`, and the browser holds only that hash in a
 * `__Host-` cookie, so a callback replayed in another browser, or twice, is refused. The state is
 * burned on every callback path, success or failure. Users are keyed by (iss, sub).
 *
 * KV has no atomic take: callbacks replayed in parallel can all read the transaction before its
 * delete lands. So the state is also claimed, once, in the signed-in person's Durable Object
 * (`claim`, the same table as the connect callbacks') before a session is issued: exactly one
 * callback per state signs in; every other answers `transaction_expired`, like a later replay.
 * Each racer may still have redeemed its code at the IdP, which refuses a code used twice
 * (RFC 6749 §4.1.2); the tokens we got are dropped unused.
 */
import * as oauth from "oauth4webapi";
import type { Config } from "../config";
import { clearCookie, readCookie } from "../lib/cookies";
import { deriveKey, open, seal, sha256Hex, timingSafeEqual } from "../lib/crypto";
import type { ErrorCode } from "../lib/errors";
import { err, ok, type Result } from "../lib/result";
import { signinKey } from "../lib/storage-keys";
import { makeUser, type SignedInUser } from "./user";

type OidcConfig = Extract<Config["signIn"], { kind: "oidc" }>;

export const SIGNIN_COOKIE = "__Host-cs_signin" as const;
const TRANSACTION_TTL_SECONDS = 600;
const DISCOVERY_TTL_MS = 3600_000;

export type OidcFailure = ErrorCode<"signin">;

interface Transaction {
  nonce: string;
  verifier: string;
  returnTo: string;
}

const discoveryCache = new Map<string, { at: number; as: oauth.AuthorizationServer }>();

async function discover(signIn: OidcConfig, now: number): Promise<oauth.AuthorizationServer> {
  const cached = discoveryCache.get(signIn.issuer);
  if (cached && now - cached.at < DISCOVERY_TTL_MS) return cached.as;
  const issuer = new URL(signIn.issuer);
  const response = await oauth.discoveryRequest(issuer, { algorithm: "oidc" });
  const as = await oauth.processDiscoveryResponse(issuer, response);
  discoveryCache.set(signIn.issuer, { at: now, as });
  return as;
}

const callbackUrl = (config: Config) => `${config.publicOrigin}/signin/callback`;
const client = (signIn: OidcConfig): oauth.Client => ({ client_id: signIn.clientId });
const clientAuth = (signIn: OidcConfig) =>
  signIn.clientSecret ? oauth.ClientSecretPost(signIn.clientSecret) : oauth.None();

/** Begin an OIDC sign-in: returns the provider URL to redirect to and the binding cookie. */
export async function startOidcSignIn(
  config: Config,
  signIn: OidcConfig,
  kv: KVNamespace,
  returnTo: string,
  now: number,
): Promise<Result<{ location: string; cookie: string }, OidcFailure>> {
  let as: oauth.AuthorizationServer;
  try {
    as = await discover(signIn, now);
  } catch {
    return err("discovery_failed");
  }
  if (!as.authorization_endpoint) return err("discovery_failed");
  const state = oauth.generateRandomState();
  const transaction: Transaction = {
    nonce: oauth.generateRandomNonce(),
    verifier: oauth.generateRandomCodeVerifier(),
    returnTo,
  };
  const stateHash = await sha256Hex(state);
  const key = await deriveKey(config.cookieSecret, "oidc-transaction");
  await kv.put(signinKey(stateHash), await seal(key, transaction, stateHash), {
    expirationTtl: TRANSACTION_TTL_SECONDS,
  });
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", signIn.clientId);
  url.searchParams.set("redirect_uri", callbackUrl(config));
  url.searchParams.set("scope", "openid email profile");
  url.searchParams.set("state", state);
  url.searchParams.set("nonce", transaction.nonce);
  url.searchParams.set("code_challenge", await oauth.calculatePKCECodeChallenge(transaction.verifier));
  url.searchParams.set("code_challenge_method", "S256");
  const cookie = `${SIGNIN_COOKIE}=${stateHash}; Max-Age=${TRANSACTION_TTL_SECONDS}; Path=/; Secure; HttpOnly; SameSite=Lax`;
  return ok({ location: url.href, cookie });
}

/** The Set-Cookie that clears the binding cookie; sent on every callback response. */
export const clearSignInCookie = () => clearCookie(SIGNIN_COOKIE);

/** Claim a state hash once in the person's Durable Object: true for the first claim only. */
export type ClaimSignInState = (userId: string, stateHash: string) => Promise<boolean>;

/** Finish an OIDC sign-in at the callback. The state is burned whatever the outcome, and claimed once. */
export async function finishOidcSignIn(
  config: Config,
  signIn: OidcConfig,
  kv: KVNamespace,
  request: Request,
  now: number,
  claim: ClaimSignInState,
): Promise<Result<{ user: SignedInUser; returnTo: string }, OidcFailure>> {
  const url = new URL(request.url);
  const state = url.searchParams.get("state");
  if (!state) return err("state_missing");
  const stateHash = await sha256Hex(state);
  // Burn first: whatever happens next, this state can never be used again.
  const storageKey = signinKey(stateHash);
  const stored = await kv.get(storageKey);
  await kv.delete(storageKey);
  const bound = readCookie(request, SIGNIN_COOKIE);
  if (!bound || !timingSafeEqual(bound, stateHash)) return err("state_mismatch");
  if (!stored) return err("transaction_expired");
  const key = await deriveKey(config.cookieSecret, "oidc-transaction");
  const transaction = (await open(key, stored, stateHash)) as Transaction | null;
  if (!transaction) return err("transaction_expired");
  if (url.searchParams.has("error")) return err("provider_error");

  let as: oauth.AuthorizationServer;
  try {
    as = await discover(signIn, now);
  } catch {
    return err("discovery_failed");
  }
  let params: URLSearchParams;
  try {
    // Checks state and, when the provider advertises RFC 9207 support, `iss`.
    params = oauth.validateAuthResponse(as, client(signIn), url, state);
  } catch {
    return err("callback_invalid");
  }
  let user: SignedInUser;
  try {
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      client(signIn),
      clientAuth(signIn),
      params,
      callbackUrl(config),
      transaction.verifier,
    );
    const result = await oauth.processAuthorizationCodeResponse(as, client(signIn), response, {
      expectedNonce: transaction.nonce,
      requireIdToken: true,
    });
    const claims = oauth.getValidatedIdTokenClaims(result);
    if (!claims || claims.iss !== as.issuer || typeof claims.sub !== "string" || !claims.sub) {
      return err("token_exchange_failed");
    }
    const email = typeof claims.email === "string" && claims.email_verified !== false ? claims.email : undefined;
    const name = typeof claims.name === "string" ? claims.name : undefined;
    user = await makeUser({ issuer: signIn.issuer, subject: claims.sub, email, name });
  } catch {
    return err("token_exchange_failed");
  }
  // Outside the try: a failing Durable Object is a 500, not a refused sign-in.
  if (!(await claim(user.userId, stateHash))) return err("transaction_expired");
  return ok({ user, returnTo: transaction.returnTo });
}
