/**
 * The vault's master keys, parsed from the `VAULT_KEYS` Worker secret, and the per-user AES-256-GCM
 * keys derived from them. Owns parsing, validation and derivation; does no storage I/O.
 *
 * Format: `"<kid>:<base64 or base64url of >=32 random bytes>,<kid>:<…>"`. The first key is the
 * current one (every new write); the others only decrypt older records until they are rewritten,
 * which is how a key is rotated out.
 *
 * Invariants: master bytes and derived keys never leave this module (derived keys are
 * non-extractable); no error message ever contains any part of a secret, only its position.
 */
import { fromBase64Url, utf8 } from "../lib/encoding";
import { err, ok, type Result } from "../lib/result";

/** A key id: short, so it is cheap to store in every record and safe to show in messages. */
export const KID_PATTERN = /^[a-z0-9_-]{1,16}$/;

/** 256 bits: the AES-256 key size, and HKDF's input should carry at least that much entropy. */
const MIN_SECRET_BYTES = 32;

/** Bounds the per-isolate cache so a busy isolate cannot grow without limit (one key per user). */
const MAX_CACHED_USER_KEYS = 1024;

const HKDF_SALT = utf8("countersign/vault/v1");

export interface VaultKeyring {
  /** The kid every new record is sealed with. */
  readonly current: string;
  /** Every kid this keyring can decrypt, current first. */
  readonly kids: readonly string[];
  /** The AES-256-GCM key for one user under one master key; null when the kid is unknown. */
  userKey(kid: string, userId: string): Promise<CryptoKey | null>;
}

export interface VaultKeysError {
  code: "vault_keys_invalid";
  message: string;
}

class Keyring implements VaultKeyring {
  readonly current: string;
  readonly kids: readonly string[];
  readonly #masters: Map<string, Promise<CryptoKey>>;
  readonly #userKeys = new Map<string, Promise<CryptoKey>>();

  constructor(entries: ReadonlyArray<readonly [string, Uint8Array<ArrayBuffer>]>) {
    this.kids = entries.map(([kid]) => kid);
    this.current = this.kids[0] as string;
    // Import once as a non-extractable HKDF base key, so the raw bytes are not kept around.
    this.#masters = new Map(
      entries.map(([kid, bytes]) => [kid, crypto.subtle.importKey("raw", bytes, "HKDF", false, ["deriveKey"])]),
    );
  }

  userKey(kid: string, userId: string): Promise<CryptoKey | null> {
    const master = this.#masters.get(kid);
    if (!master) return Promise.resolve(null);
    const cacheKey = `${kid}\u0000${userId}`;
    let key = this.#userKeys.get(cacheKey);
    if (!key) {
      // HKDF per user (RFC 5869): a record can only open under its owner's key, even if the
      // associated-data check were ever bypassed, and the AES-GCM invocation limit for random IVs
      // (NIST SP 800-38D §8.3) is spent per user instead of once for the whole deployment.
      key = master.then((base) =>
        crypto.subtle.deriveKey(
          { name: "HKDF", hash: "SHA-256", salt: HKDF_SALT, info: utf8(`user:${userId}`) },
          base,
          { name: "AES-GCM", length: 256 },
          false,
          ["encrypt", "decrypt"],
        ),
      );
      if (this.#userKeys.size >= MAX_CACHED_USER_KEYS) {
        const oldest = this.#userKeys.keys().next().value;
        if (oldest !== undefined) this.#userKeys.delete(oldest);
      }
      this.#userKeys.set(cacheKey, key);
    }
    return key;
  }
}

/** Decode standard base64 or base64url (padding optional); null for anything else. */
function decodeSecret(text: string): Uint8Array<ArrayBuffer> | null {
  const match = /^([A-Za-z0-9+/_-]+)(={0,2})$/.exec(text);
  const body = match?.[1];
  const padding = match?.[2] ?? "";
  if (body === undefined) return null;
  // Both alphabets at once is a paste error, not a key.
  if (/[+/]/.test(body) && /[-_]/.test(body)) return null;
  if (padding && (body.length + padding.length) % 4 !== 0) return null;
  return fromBase64Url(body.replace(/\+/g, "-").replace(/\//g, "_"));
}

const invalid = (detail: string) =>
  err<VaultKeysError>({ code: "vault_keys_invalid", message: `unexpected "VAULT_KEYS" value: ${detail}` });

let memo: { raw: string; result: Result<VaultKeyring, VaultKeysError> } | undefined;

/** Parse `VAULT_KEYS`; the same raw value returns the same keyring, so its key cache is reused. */
export function parseVaultKeys(raw: string | undefined): Result<VaultKeyring, VaultKeysError> {
  if (memo && memo.raw === raw) return memo.result;
  const result = parse(raw);
  if (raw !== undefined) memo = { raw, result };
  return result;
}

function parse(raw: string | undefined): Result<VaultKeyring, VaultKeysError> {
  if (raw === undefined || raw.trim() === "") {
    return invalid('missing; set it to "<kid>:<base64 of 32+ random bytes>"');
  }
  const entries: Array<readonly [string, Uint8Array<ArrayBuffer>]> = [];
  const seen = new Set<string>();
  for (const [index, entry] of raw.trim().split(",").entries()) {
    // Positions, never contents: a malformed entry may well be the secret itself.
    const position = `key ${index + 1}`;
    const trimmed = entry.trim();
    if (trimmed === "") return invalid(`${position} is empty`);
    const colon = trimmed.indexOf(":");
    if (colon === -1) return invalid(`${position} is not "<kid>:<base64>"`);
    const kid = trimmed.slice(0, colon).trim();
    const secret = trimmed.slice(colon + 1).trim();
    if (!KID_PATTERN.test(kid)) return invalid(`${position} has an invalid kid (use 1-16 of a-z 0-9 _ -)`);
    if (seen.has(kid)) return invalid(`${position} repeats the kid of an earlier key`);
    const bytes = decodeSecret(secret);
    if (!bytes) return invalid(`${position} is not base64 or base64url`);
    if (bytes.length < MIN_SECRET_BYTES) return invalid(`${position} decodes to fewer than ${MIN_SECRET_BYTES} bytes`);
    seen.add(kid);
    entries.push([kid, bytes]);
  }
  return ok(new Keyring(entries));
}
