/**
 * Personal API keys, the pure part: the key's shape, its limits and the parsing of what a person
 * or a client sends. A key reads `cs_key_<id>_<secret>`: the prefix makes a leaked key easy to
 * recognise (and to scan for), the id finds the person without a scan, and the secret is 256
 * random bits. Only SHA-256 of the whole key is ever stored. No I/O, no clock: `now` is passed in.
 */
import { toHex } from "../lib/encoding";
import { err, ok, type Result } from "../lib/result";

export const API_KEY_PREFIX = "cs_key_";
export const MAX_API_KEYS = 20;
export const DEFAULT_KEY_DAYS = 90;
export const MAX_KEY_DAYS = 365;
export const MAX_KEY_NAME = 60;

const KEY_SHAPE = /^cs_key_([0-9a-f]{16})_([0-9a-f]{64})$/;
const ID_SHAPE = /^[0-9a-f]{16}$/;
const DAY_MS = 24 * 3600 * 1000;

export type ApiKeyError =
  | { code: "name_invalid"; message: string }
  | { code: "days_invalid"; message: string }
  | { code: "too_many_keys"; message: string }
  | { code: "not_found"; message: string };

/** A new key: its id, the value shown once, and nothing else. */
export function generateApiKey(): { id: string; key: string } {
  const id = toHex(crypto.getRandomValues(new Uint8Array(8)));
  const secret = toHex(crypto.getRandomValues(new Uint8Array(32)));
  return { id, key: `${API_KEY_PREFIX}${id}_${secret}` };
}

/** True for anything that claims to be one of our keys (it may still be malformed). */
export const looksLikeApiKey = (token: string): boolean => token.startsWith(API_KEY_PREFIX);

/** The key's id when `token` has exactly our shape; null otherwise. */
export function apiKeyId(token: string): string | null {
  return KEY_SHAPE.exec(token)?.[1] ?? null;
}

export const isApiKeyId = (id: string): boolean => ID_SHAPE.test(id);

/** The client connection a key acts as: one per key, so its grants are its own. */
export const keyConnectionId = (id: string) => `key_${id}`;
/** The client id a key's connection carries (never a registered OAuth client's id: those are opaque or URLs). */
export const keyClientId = (id: string) => `cs-api-key:${id}`;

/** The headless client's name as typed on /activity. */
export function parseKeyName(value: unknown): Result<string, ApiKeyError> {
  const name = typeof value === "string" ? value.trim() : "";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (name.length === 0 || name.length > MAX_KEY_NAME || /[\u0000-\u001f\u007f]/.test(name)) {
    return err({ code: "name_invalid", message: `Name the client in 1 to ${MAX_KEY_NAME} characters.` });
  }
  return ok(name);
}

/** Days until the key expires: 1 to 365, 90 when left empty. */
export function parseKeyDays(value: unknown): Result<number, ApiKeyError> {
  if (value === null || value === undefined || value === "") return ok(DEFAULT_KEY_DAYS);
  const days = typeof value === "string" && /^\d{1,3}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(days) || days < 1 || days > MAX_KEY_DAYS) {
    return err({ code: "days_invalid", message: `A key lasts 1 to ${MAX_KEY_DAYS} days.` });
  }
  return ok(days);
}

/** When a key made `now` for `days` expires (ms). */
export const keyExpiry = (now: number, days: number) => now + days * DAY_MS;
