/**
 * The token vault in KV: one sealed record per (user, provider) at `vault:<userId>:<providerId>`,
 * no TTL (a token lives until the person disconnects), KV metadata `{ kid }` and nothing else.
 * Owns reading, writing, deleting and rotation-on-read; it does not decide whether a call may use
 * a token (grants/) nor refresh tokens (connections/).
 *
 * Source of truth: the user's Durable Object, not KV, says whether a provider is connected. KV is
 * eventually consistent (a deleted record can still be read elsewhere for up to a minute), so a
 * caller must consult the Durable Object before trusting what `get` returns. Call this store only
 * from that Durable Object: rotation-on-read rewrites the record, and a rewrite racing a `put`
 * (or based on a stale read in another location) could restore an older token; the object's
 * serial execution and single location prevent both.
 *
 * Invariants: no token, ciphertext or key is ever logged or put in an error; a record that fails
 * to open is never returned in part, and is left in place (the reconnect flow overwrites it).
 */
import { errorLabel, log } from "../lib/log";
import { err, ok, type Result } from "../lib/result";
import { assertVaultIds, openRecord, sealRecord, type VaultOpenError } from "./envelope";
import type { VaultKeyring } from "./keys";

export interface VaultSecret {
  kind: "oauth2" | "api_key";
  accessToken: string;
  refreshToken?: string;
  /** Access token expiry, ms since the epoch. */
  expiresAt?: number;
  scopes?: string[];
  tokenType?: string;
  /** When the token was obtained, ms since the epoch. */
  obtainedAt: number;
}

/** KV metadata: which key sealed the record, so rotation progress can be listed without decrypting. */
export interface VaultMetadata {
  kid: string;
}

/**
 * KV key of one user's record for one provider. Belongs in src/lib/storage-keys.ts; kept here
 * until it is moved. Ids are validated so one id cannot run into the next.
 */
export function vaultKey(userId: string, providerId: string): string {
  assertVaultIds(userId, providerId);
  return `vault:${userId}:${providerId}`;
}

const isFiniteNumber = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value);
const isNonEmptyString = (value: unknown): value is string => typeof value === "string" && value !== "";

/** A copy with only the known fields, or null when the shape is wrong. */
function parseVaultSecret(value: unknown): VaultSecret | null {
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  if (v.kind !== "oauth2" && v.kind !== "api_key") return null;
  if (!isNonEmptyString(v.accessToken) || !isFiniteNumber(v.obtainedAt)) return null;
  const secret: VaultSecret = { kind: v.kind, accessToken: v.accessToken, obtainedAt: v.obtainedAt };
  if (v.refreshToken !== undefined) {
    if (!isNonEmptyString(v.refreshToken)) return null;
    secret.refreshToken = v.refreshToken;
  }
  if (v.expiresAt !== undefined) {
    if (!isFiniteNumber(v.expiresAt)) return null;
    secret.expiresAt = v.expiresAt;
  }
  if (v.scopes !== undefined) {
    if (!Array.isArray(v.scopes) || !v.scopes.every((scope) => typeof scope === "string")) return null;
    secret.scopes = [...v.scopes];
  }
  if (v.tokenType !== undefined) {
    if (!isNonEmptyString(v.tokenType)) return null;
    secret.tokenType = v.tokenType;
  }
  return secret;
}

export class VaultStore {
  readonly #kv: KVNamespace;
  readonly #keyring: VaultKeyring;

  constructor(kv: KVNamespace, keyring: VaultKeyring) {
    this.#kv = kv;
    this.#keyring = keyring;
  }

  /** Seal and store a provider's token for a user, replacing any earlier one. */
  async put(userId: string, providerId: string, secret: VaultSecret): Promise<void> {
    const key = vaultKey(userId, providerId);
    const normalized = parseVaultSecret(secret);
    if (!normalized) throw new TypeError('unexpected "secret" value');
    await this.#write(key, userId, providerId, normalized);
  }

  /** The stored token, null when none, or `reauth_required` when the record cannot be trusted. */
  async get(userId: string, providerId: string): Promise<Result<VaultSecret | null, VaultOpenError>> {
    const key = vaultKey(userId, providerId);
    const stored = await this.#kv.get(key);
    if (stored === null) return ok(null);
    const opened = await openRecord(this.#keyring, userId, providerId, stored);
    if (!opened.ok) {
      log.warn("vault_record_rejected", { userId, providerId, reason: opened.error.reason });
      return opened;
    }
    let parsed: VaultSecret | null = null;
    try {
      parsed = parseVaultSecret(JSON.parse(opened.value.plaintext));
    } catch {
      // Authentic but not a secret: only a bug could write it; treat like any unreadable record.
    }
    if (!parsed) {
      log.warn("vault_record_rejected", { userId, providerId, reason: "malformed" });
      return err({ code: "reauth_required", reason: "malformed" });
    }
    if (opened.value.kid !== this.#keyring.current) await this.#rotate(key, userId, providerId, parsed);
    return ok(parsed);
  }

  /** Remove a user's record for a provider (disconnect). Deleting a missing record is not an error. */
  async delete(userId: string, providerId: string): Promise<void> {
    await this.#kv.delete(vaultKey(userId, providerId));
  }

  async #write(key: string, userId: string, providerId: string, secret: VaultSecret): Promise<void> {
    const sealed = await sealRecord(this.#keyring, userId, providerId, JSON.stringify(secret));
    const metadata: VaultMetadata = { kid: this.#keyring.current };
    await this.#kv.put(key, sealed, { metadata });
  }

  /**
   * Re-seal a record read under an older key with the current one, so old keys can be retired.
   * The read already succeeded, so a failed write (e.g. KV's one-write-per-second limit) only
   * delays rotation to the next read; it must not fail the caller.
   */
  async #rotate(key: string, userId: string, providerId: string, secret: VaultSecret): Promise<void> {
    try {
      await this.#write(key, userId, providerId, secret);
    } catch (error) {
      log.warn("vault_rotation_failed", { providerId, error: errorLabel(error) });
    }
  }
}
