/** Shared fixtures for the vault tests: fresh master keys, keyrings, unique ids and bit flips. */
import { fromBase64Url, toBase64Url } from "../../../src/lib/encoding";
import { parseVaultKeys, type VaultKeyring } from "../../../src/vault/keys";
import type { VaultSecret } from "../../../src/vault/store";

/** A fresh master secret: `bytes` random bytes, base64url. */
export const masterSecret = (bytes = 32) => toBase64Url(crypto.getRandomValues(new Uint8Array(bytes)));

/** Two master keys for rotation tests; fresh per test file. */
export const K1 = `k1:${masterSecret()}`;
export const K2 = `k2:${masterSecret()}`;

/** A keyring from `VAULT_KEYS`, failing the test if the value does not parse. */
export function keyring(raw: string): VaultKeyring {
  const parsed = parseVaultKeys(raw);
  if (!parsed.ok) throw new Error(parsed.error.message);
  return parsed.value;
}

/** A user id shaped like Countersign's (`u_<40 hex>`), unique per call. */
export function userId(): string {
  const hex = Array.from(crypto.getRandomValues(new Uint8Array(20)), (b) => b.toString(16).padStart(2, "0"));
  return `u_${hex.join("")}`;
}

/** Recognisable token values: if one shows up where it must not, the test names it. */
export const CANARY_ACCESS = "canary-access-7f3c9e1d2b4a";
export const CANARY_REFRESH = "canary-refresh-5e8a1c0f9d6b";

export const canarySecret = (): VaultSecret => ({
  kind: "oauth2",
  accessToken: CANARY_ACCESS,
  refreshToken: CANARY_REFRESH,
  expiresAt: 1_900_000_000_000,
  scopes: ["repo", "read:org"],
  tokenType: "bearer",
  obtainedAt: 1_800_000_000_000,
});

export interface StoredRecord {
  v: number;
  kid: string;
  iv: string;
  ct: string;
}

/** `text` (base64url) with one bit flipped at byte `index` (negative counts from the end). */
export function flipBit(text: string, index: number, bit = 0): string {
  const bytes = fromBase64Url(text);
  if (!bytes) throw new Error("not base64url");
  const at = index < 0 ? bytes.length + index : index;
  bytes[at] = (bytes[at] ?? 0) ^ (1 << bit);
  return toBase64Url(bytes);
}

/** Length in bytes of a base64url value. */
export const byteLength = (text: string) => fromBase64Url(text)?.length ?? 0;
