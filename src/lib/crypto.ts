/**
 * WebCrypto helpers: hashing, random identifiers, and AES-256-GCM sealing with keys derived by
 * HKDF from one deployment secret. Every sealed value is bound to a purpose (the HKDF `info`)
 * and to caller-chosen associated data, so a value sealed for one cookie or record never opens
 * as another. Never log inputs or outputs of this module.
 */
import { fromBase64Url, toBase64Url, toHex, utf8 } from "./encoding";

const keyCache = new Map<string, Promise<CryptoKey>>();

/** SHA-256 as lowercase hex. */
export async function sha256Hex(text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(text))));
}

/** `bytes` random bytes as base64url: 32 bytes gives a 256-bit unguessable token. */
export function randomToken(bytes = 32): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** Constant-time comparison; lengths are not secret (callers compare fixed-length hashes). */
export function timingSafeEqual(a: string, b: string): boolean {
  const left = utf8(a);
  const right = utf8(b);
  if (left.length !== right.length) return false;
  let diff = 0;
  for (let i = 0; i < left.length; i++) diff |= (left[i] ?? 0) ^ (right[i] ?? 0);
  return diff === 0;
}

const macKeys = new Map<string, Promise<CryptoKey>>();

/** HMAC-SHA-256 of `message` under a key derived from `secret` for one `purpose`, base64url. */
export async function mac(secret: string, purpose: string, message: string): Promise<string> {
  const cacheKey = `${purpose}\u0000${secret}`;
  let key = macKeys.get(cacheKey);
  if (!key) {
    key = (async () => {
      const base = await crypto.subtle.importKey("raw", utf8(secret), "HKDF", false, ["deriveKey"]);
      return crypto.subtle.deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: utf8("countersign/v1"), info: utf8(`mac:${purpose}`) },
        base,
        { name: "HMAC", hash: "SHA-256", length: 256 },
        false,
        ["sign"],
      );
    })();
    macKeys.set(cacheKey, key);
  }
  return toBase64Url(new Uint8Array(await crypto.subtle.sign("HMAC", await key, utf8(message))));
}

/** An AES-256-GCM key derived with HKDF-SHA-256 from `secret` for one `purpose`. */
export function deriveKey(secret: string, purpose: string): Promise<CryptoKey> {
  const cacheKey = `${purpose}\u0000${secret}`;
  let key = keyCache.get(cacheKey);
  if (!key) {
    key = (async () => {
      const base = await crypto.subtle.importKey("raw", utf8(secret), "HKDF", false, ["deriveKey"]);
      return crypto.subtle.deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: utf8("countersign/v1"), info: utf8(purpose) },
        base,
        { name: "AES-GCM", length: 256 },
        false,
        ["encrypt", "decrypt"],
      );
    })();
    keyCache.set(cacheKey, key);
  }
  return key;
}

/** Encrypt JSON with a fresh random 96-bit IV; output `iv.ciphertext` in base64url. */
export async function seal(key: CryptoKey, value: unknown, associatedData: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: utf8(associatedData) },
    key,
    utf8(JSON.stringify(value)),
  );
  return `${toBase64Url(iv)}.${toBase64Url(new Uint8Array(sealed))}`;
}

/** Decrypt what `seal` produced; null when malformed, tampered or sealed for other data. */
export async function open(key: CryptoKey, sealed: string, associatedData: string): Promise<unknown> {
  const [ivText, bodyText, extra] = sealed.split(".");
  if (ivText === undefined || bodyText === undefined || extra !== undefined) return null;
  const iv = fromBase64Url(ivText);
  const body = fromBase64Url(bodyText);
  if (!iv || !body || iv.length !== 12) return null;
  try {
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: utf8(associatedData) }, key, body);
    return JSON.parse(new TextDecoder().decode(plain));
  } catch {
    return null;
  }
}
