/**
 * The sign-in cookie: a sealed `__Host-` cookie holding the verified person. It is only ever
 * read on pages a person opens (consent, approvals, activity); /mcp ignores cookies entirely.
 * Its name keeps the word "session" from before docs/glossary.md: renaming the cookie would
 * sign every person out.
 */
import type { Config } from "../config";
import { clearCookie, openCookie, sealCookie } from "../lib/cookies";
import type { SignedInUser } from "./user";

export const SIGNIN_COOKIE = "__Host-cs_session" as const;
/** Two weeks: approvals happen on a phone, where signing in again each time is friction. */
export const SIGNIN_TTL_SECONDS = 14 * 24 * 3600;

/** A Set-Cookie value that signs `user` in for SIGNIN_TTL_SECONDS. */
export function startSignIn(config: Config, user: SignedInUser, now: number): Promise<string> {
  return sealCookie(
    { name: SIGNIN_COOKIE, secret: config.cookieSecret, maxAgeSeconds: SIGNIN_TTL_SECONDS },
    { ...user, exp: Math.floor(now / 1000) + SIGNIN_TTL_SECONDS },
  );
}

/** The signed-in user, or null. */
export async function readSignIn(config: Config, request: Request, now: number): Promise<SignedInUser | null> {
  const record = await openCookie(request, { name: SIGNIN_COOKIE, secret: config.cookieSecret }, now);
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
export const endSignIn = (): string => clearCookie(SIGNIN_COOKIE);
