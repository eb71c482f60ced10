/**
 * A short digest of a call's exact body (or an upstream tool call's canonical arguments), so
 * the approval page and `check_access_request` can tell apart two calls to the same URL. It is
 * a prefix of SHA-256 over the UTF-8 body: anyone holding the body can recompute it with
 * `sha256sum`, and 64 bits are plenty to tell calls apart (matching uses the full fingerprint,
 * canonical.ts). Pure apart from hashing.
 */
import { sha256Hex } from "../lib/crypto";

/** Hex characters kept of the SHA-256 (64 bits). */
export const DIGEST_HEX_CHARS = 16;

export interface BodyDigest {
  /** The first DIGEST_HEX_CHARS hex characters of SHA-256 of the body. */
  sha256: string;
  /** The body's length in UTF-8 bytes. */
  bytes: number;
}

/** The digest of a body; null when there is no body. */
export async function bodyDigest(body: string): Promise<BodyDigest | null> {
  if (body === "") return null;
  return {
    sha256: (await sha256Hex(body)).slice(0, DIGEST_HEX_CHARS),
    bytes: new TextEncoder().encode(body).length,
  };
}
