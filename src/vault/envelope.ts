/**
 * The vault's sealed record: AES-256-GCM under the owner's derived key, stored as
 * `{ "v": 1, "kid": "…", "iv": "<b64url>", "ct": "<b64url>" }` (`ct` is ciphertext plus the 128-bit tag).
 * Owns sealing, opening and the record's wire format; does no storage I/O and no logging.
 *
 * Invariants: a fresh random 96-bit IV per seal; `openRecord` never throws for bad input and
 * never returns partial data: any flaw is `reauth_required` with a reason, and the person
 * reconnects the provider. Nothing here puts plaintext, ciphertext or key material in an error.
 */
import { fromBase64Url, toBase64Url, utf8 } from "../lib/encoding";
import { err, ok, type Result } from "../lib/result";
import { KID_PATTERN, type VaultKeyring } from "./keys";

export type VaultFailureReason = "unknown_key" | "tampered" | "malformed";

export interface VaultOpenError {
  code: "reauth_required";
  reason: VaultFailureReason;
}

export interface OpenedRecord {
  plaintext: string;
  /** The kid it was sealed with; not the current one means the record should be rewritten. */
  kid: string;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Countersign user ids are `u_<hex>`; the pattern leaves room but excludes `:` and NUL. */
const USER_ID_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
const PROVIDER_ID_PATTERN = /^[a-z0-9_-]{1,32}$/;

/**
 * Throws on ids that could make a KV key or the associated data ambiguous (a `:` or NUL inside
 * one id could shift the boundary to the next). A bad id is a programming error, not input.
 */
export function assertVaultIds(userId: string, providerId: string): void {
  if (!USER_ID_PATTERN.test(userId)) throw new TypeError('unexpected "userId" value');
  if (!PROVIDER_ID_PATTERN.test(providerId)) throw new TypeError('unexpected "providerId" value');
}

/**
 * Associated data binds the ciphertext to where it may be opened: the user and provider stop a
 * record copied under another user's or provider's KV key from decrypting there; the kid stops
 * the record's unauthenticated `kid` field from being edited to steer decryption. The version
 * prefix separates this from any other use of the same keys.
 */
const associatedData = (userId: string, providerId: string, kid: string) =>
  utf8(`countersign-vault/v1\u0000${userId}\u0000${providerId}\u0000${kid}`);

/** Seal `plaintext` for one user and provider under the keyring's current key; returns the stored JSON. */
export async function sealRecord(
  keyring: VaultKeyring,
  userId: string,
  providerId: string,
  plaintext: string,
): Promise<string> {
  assertVaultIds(userId, providerId);
  const kid = keyring.current;
  const key = await keyring.userKey(kid, userId);
  if (!key) throw new Error("vault keyring has no current key");
  // Random 96-bit IVs: with per-user keys the 2^32-seals-per-key bound is far out of reach.
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ct = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: associatedData(userId, providerId, kid), tagLength: TAG_BYTES * 8 },
    key,
    utf8(plaintext),
  );
  return JSON.stringify({ v: 1, kid, iv: toBase64Url(iv), ct: toBase64Url(new Uint8Array(ct)) });
}

interface ParsedRecord {
  kid: string;
  iv: Uint8Array<ArrayBuffer>;
  ct: Uint8Array<ArrayBuffer>;
}

function parseRecord(stored: string): ParsedRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(stored);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const record = value as Record<string, unknown>;
  if (Object.keys(record).sort().join(",") !== "ct,iv,kid,v" || record.v !== 1) return null;
  const { kid, iv, ct } = record;
  if (typeof kid !== "string" || typeof iv !== "string" || typeof ct !== "string") return null;
  if (!KID_PATTERN.test(kid)) return null;
  const ivBytes = fromBase64Url(iv);
  const ctBytes = fromBase64Url(ct);
  if (ivBytes?.length !== IV_BYTES || !ctBytes || ctBytes.length < TAG_BYTES) return null;
  return { kid, iv: ivBytes, ct: ctBytes };
}

const failure = (reason: VaultFailureReason) => err<VaultOpenError>({ code: "reauth_required", reason });

/** Open what `sealRecord` stored for this user and provider; every flaw is `reauth_required`. */
export async function openRecord(
  keyring: VaultKeyring,
  userId: string,
  providerId: string,
  stored: string,
): Promise<Result<OpenedRecord, VaultOpenError>> {
  assertVaultIds(userId, providerId);
  const record = parseRecord(stored);
  if (!record) return failure("malformed");
  // Fail closed: a kid no longer in VAULT_KEYS means the record cannot be trusted or read.
  const key = await keyring.userKey(record.kid, userId);
  if (!key) return failure("unknown_key");
  let plain: ArrayBuffer;
  try {
    plain = await crypto.subtle.decrypt(
      {
        name: "AES-GCM",
        iv: record.iv,
        additionalData: associatedData(userId, providerId, record.kid),
        tagLength: TAG_BYTES * 8,
      },
      key,
      record.ct,
    );
  } catch {
    // An authentication failure: a flipped bit, another user's or provider's record, a wrong key.
    return failure("tampered");
  }
  try {
    return ok({ plaintext: new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(plain), kid: record.kid });
  } catch {
    return failure("malformed");
  }
}
