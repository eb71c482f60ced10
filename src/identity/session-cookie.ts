/**
 * The browser sign-in session: a sealed `__Host-` cookie holding the verified user. It is only
 * ever read on pages a person opens (consent, approvals); /mcp ignores cookies entirely.
 */
import type { Config } from "../config";
import { clearCookie, openCookie, sealCookie } from "../lib/cookies";
import type { SignedInUser } from "./user";

export const SESSION_COOKIE = "__Host-cs_session" as const;
/** Two weeks: approvals happen on a phone, where signing in again each time is friction. */
export const SESSION_TTL_SECONDS = 14 * 24 * 3600;

/** A Set-Cookie value that signs `user` in until the session TTL. */
export function startSession(config: Config, user: SignedInUser, now: number): Promise<string> {
  return sealCookie(
    { name: SESSION_COOKIE, secret: config.cookieSecret, maxAgeSeconds: SESSION_TTL_SECONDS },
    { ...user, exp: Math.floor(now / 1000) + SESSION_TTL_SECONDS },
  );
}

/** The signed-in user, or null. */
export async function readSession(config: Config, request: Request, now: number): Promise<SignedInUser | null> {
  const record = await openCookie(request, { name: SESSION_COOKIE, secret: config.cookieSecret }, now);
  if (!record) return null;
  const { userId, issuer, subject, email, name } = record;
  if (typeof userId !== "string" || typeof issuer !== "string" || typeof subject !== "string") return null;
  // A session minted by another sign-in mode (dev vs OIDC) must not survive a config change.
  if (issuer !== config.signIn.issuer) return null;
  return {
    userId,
    issuer,
    subject,
    ...(typeof email === "string" ? { email } : {}),
    ...(typeof name === "string" ? { name } : {}),
  };
}

/** A Set-Cookie value that signs out. */
export const endSession = (): string => clearCookie(SESSION_COOKIE);
