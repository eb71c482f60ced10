/**
 * Who a person is to Countersign. Users are keyed by (issuer, subject) from a verified sign-in,
 * never by e-mail alone: two providers may both vouch for the same address.
 */
import { sha256Hex } from "../lib/crypto";

export interface SignedInUser {
  /** Stable id derived from (issuer, subject); names the user's Durable Object. */
  userId: string;
  issuer: string;
  subject: string;
  email?: string;
  name?: string;
}

/** The user id for an (issuer, subject) pair: `u_` + 160 bits of SHA-256. */
export async function userIdFor(issuer: string, subject: string): Promise<string> {
  const digest = await sha256Hex(JSON.stringify([issuer, subject]));
  return `u_${digest.slice(0, 40)}`;
}

/** Build a user from verified identity claims. */
export async function makeUser(claims: {
  issuer: string;
  subject: string;
  email?: string;
  name?: string;
}): Promise<SignedInUser> {
  return {
    userId: await userIdFor(claims.issuer, claims.subject),
    issuer: claims.issuer,
    subject: claims.subject,
    ...(claims.email ? { email: claims.email } : {}),
    ...(claims.name ? { name: claims.name } : {}),
  };
}
