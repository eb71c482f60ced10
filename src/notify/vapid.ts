/**
 * Countersign's VAPID identity (RFC 8292): the one P-256 key the push services know us by. The
 * secret `VAPID_PRIVATE_KEY` holds only the private scalar `d` (32 bytes, base64url, the format
 * `web-push generate-vapid-keys` prints); the public key is derived from it here, so the two can
 * never disagree. Derived once per isolate and key.
 */
import { fromBase64Url, toBase64Url } from "../lib/encoding";

/** What the push library signs with, and the public key a page subscribes with. */
export interface VapidKeys {
  /** base64url of the uncompressed public point (65 bytes, 0x04 || x || y). */
  publicKey: string;
  /** base64url of `d`. */
  privateKey: string;
  /** The contact the push service may use (`mailto:` or `https:`), RFC 8292 §2.1. */
  subject: string;
}

// PKCS #8 for an id-ecPublicKey on prime256v1, wrapping an RFC 5915 ECPrivateKey (version 1)
// whose optional public key is left out; WebCrypto computes it on import.
const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
  0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x27, 0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20,
]);

/** The order n of P-256: a private scalar is an integer from 1 to n - 1 (SEC 1 §3.2.1). */
const P256_ORDER = Uint8Array.from([
  0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa,
  0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
]);

/** Whether `text` is a usable private scalar: 32 bytes of base64url, from 1 to n - 1. */
export function isVapidPrivateKey(text: string): boolean {
  const d = fromBase64Url(text);
  if (d?.length !== 32 || d.every((byte) => byte === 0)) return false;
  for (let i = 0; i < 32; i++) {
    if (d[i] !== P256_ORDER[i]) return (d[i] as number) < (P256_ORDER[i] as number);
  }
  return false;
}

const derived = new Map<string, Promise<string>>();

/** The public key of `privateKey` (base64url `d`), as a subscribing page needs it. */
export function vapidPublicKey(privateKey: string): Promise<string> {
  let publicKey = derived.get(privateKey);
  if (!publicKey) {
    publicKey = derive(privateKey);
    derived.set(privateKey, publicKey);
  }
  return publicKey;
}

async function derive(privateKey: string): Promise<string> {
  const d = fromBase64Url(privateKey);
  if (d?.length !== 32) throw new Error("VAPID_PRIVATE_KEY is not 32 bytes of base64url");
  const pkcs8 = new Uint8Array(PKCS8_PREFIX.length + 32);
  pkcs8.set(PKCS8_PREFIX);
  pkcs8.set(d, PKCS8_PREFIX.length);
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]);
  const jwk = (await crypto.subtle.exportKey("jwk", key)) as JsonWebKey;
  const x = fromBase64Url(jwk.x ?? "");
  const y = fromBase64Url(jwk.y ?? "");
  if (x?.length !== 32 || y?.length !== 32) throw new Error("VAPID public key could not be derived");
  const point = new Uint8Array(65);
  point[0] = 0x04;
  point.set(x, 1);
  point.set(y, 33);
  return toBase64Url(point);
}

/** The keys for one send. */
export async function vapidKeys(privateKey: string, subject: string): Promise<VapidKeys> {
  return { publicKey: await vapidPublicKey(privateKey), privateKey, subject };
}
