/**
 * The browser's and the push service's side of Web Push, for tests: a subscription's keys, RFC
 * 8291 `aes128gcm` decryption with the subscription's private key, and RFC 8292 VAPID checks.
 * Written from the RFCs on WebCrypto alone, with no imports, so that workerd tests import it and
 * the e2e fake push service (Node 22, which strips these types) imports the very same file.
 * RFC 8291 Appendix A checks this decryptor before it checks anyone's encryption.
 */

const text = new TextEncoder();

export function b64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function unb64url(value: string): Uint8Array<ArrayBuffer> {
  const binary = atob(value.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

/** A subscription's keys as a browser makes them: an ECDH P-256 pair and a 16-byte auth secret. */
export interface ReceiverKeys {
  privateKey: CryptoKey;
  /** The uncompressed public point, base64url (the subscription's `p256dh`). */
  p256dh: string;
  /** base64url (the subscription's `auth`). */
  auth: string;
}

export async function newReceiverKeys(): Promise<ReceiverKeys> {
  const pair = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, [
    "deriveBits",
  ])) as CryptoKeyPair;
  const publicBytes = new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
  return {
    privateKey: pair.privateKey,
    p256dh: b64url(publicBytes),
    auth: b64url(crypto.getRandomValues(new Uint8Array(16))),
  };
}

/** Keys from a known private scalar and public point (the RFC's user agent). */
export async function receiverKeysFrom(d: string, p256dh: string, auth: string): Promise<ReceiverKeys> {
  const point = unb64url(p256dh);
  const jwk = { kty: "EC", crv: "P-256", d, x: b64url(point.slice(1, 33)), y: b64url(point.slice(33, 65)) };
  const privateKey = await crypto.subtle.importKey("jwk", jwk, { name: "ECDH", namedCurve: "P-256" }, false, [
    "deriveBits",
  ]);
  return { privateKey, p256dh, auth };
}

async function hkdf(salt: Uint8Array, ikm: Uint8Array, info: Uint8Array, bytes: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", ikm as BufferSource, "HKDF", false, ["deriveBits"]);
  const params = { name: "HKDF", hash: "SHA-256", salt: salt as BufferSource, info: info as BufferSource };
  return new Uint8Array(await crypto.subtle.deriveBits(params, key, bytes * 8));
}

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

/** ECDH parameters: the DOM spells the peer key `public`; workerd's types spell it `$public`. */
const ecdh = (peer: CryptoKey) =>
  ({ name: "ECDH", public: peer }) as unknown as Parameters<SubtleCrypto["deriveBits"]>[0];

/** What one `aes128gcm` body carried besides its plaintext (RFC 8188 §2.1 header). */
export interface Decrypted {
  plaintext: Uint8Array;
  recordSize: number;
  /** The sender's ephemeral public key (the header's key id), base64url. */
  senderKey: string;
}

/** RFC 8291 §3.4 and RFC 8188: decrypt one single-record message, or throw saying why. */
export async function decryptAes128gcm(body: Uint8Array<ArrayBuffer>, keys: ReceiverKeys): Promise<Decrypted> {
  if (body.length < 21 + 65 + 17) throw new Error("body shorter than a header and one record");
  const salt = body.slice(0, 16);
  const recordSize = new DataView(body.buffer, body.byteOffset + 16, 4).getUint32(0);
  const idLength = body[20] as number;
  if (idLength !== 65) throw new Error(`key id is ${idLength} bytes, not an uncompressed P-256 point`);
  const senderPoint = body.slice(21, 21 + 65);
  const record = body.slice(21 + 65);
  if (record.length > recordSize) throw new Error("more than one record");
  const senderKey = await crypto.subtle.importKey("raw", senderPoint, { name: "ECDH", namedCurve: "P-256" }, false, []);
  const shared = new Uint8Array(await crypto.subtle.deriveBits(ecdh(senderKey), keys.privateKey, 256));
  const receiverPoint = unb64url(keys.p256dh);
  const keyInfo = concat(text.encode("WebPush: info\0"), receiverPoint, senderPoint);
  const ikm = await hkdf(unb64url(keys.auth), shared, keyInfo, 32);
  const cek = await hkdf(salt, ikm, text.encode("Content-Encoding: aes128gcm\0"), 16);
  const nonce = await hkdf(salt, ikm, text.encode("Content-Encoding: nonce\0"), 12);
  const aes = await crypto.subtle.importKey("raw", cek as BufferSource, "AES-GCM", false, ["decrypt"]);
  const padded = new Uint8Array(
    await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce as BufferSource }, aes, record),
  );
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (padded[end] !== 0x02) throw new Error("the last record does not end with the 0x02 delimiter");
  return { plaintext: padded.slice(0, end), recordSize, senderKey: b64url(senderPoint) };
}

/** A checked VAPID `Authorization` header (RFC 8292 §3). */
export type VapidCheck =
  | { ok: true; claims: { aud: string; exp: number; sub: string }; publicKey: string }
  | { ok: false; reason: string };

/** Check `vapid t=<jwt>, k=<key>`: ES256 over the JWT under `k`, `aud` = our origin, `exp` within 24 h. */
export async function checkVapid(header: string | null, audience: string, nowSeconds: number): Promise<VapidCheck> {
  const match = /^vapid t=([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+), k=([A-Za-z0-9_-]+)$/.exec(header ?? "");
  if (!match) return { ok: false, reason: "not a vapid authorization" };
  const [jwt, k] = [match[1] as string, match[2] as string];
  const [head, payload, signature] = jwt.split(".") as [string, string, string];
  const parsedHead = JSON.parse(new TextDecoder().decode(unb64url(head)));
  if (parsedHead.alg !== "ES256") return { ok: false, reason: `alg ${parsedHead.alg}` };
  const key = await crypto.subtle.importKey("raw", unb64url(k), { name: "ECDSA", namedCurve: "P-256" }, false, [
    "verify",
  ]);
  const signed = text.encode(`${head}.${payload}`);
  const valid = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, unb64url(signature), signed);
  if (!valid) return { ok: false, reason: "bad signature" };
  const claims = JSON.parse(new TextDecoder().decode(unb64url(payload)));
  if (claims.aud !== audience) return { ok: false, reason: `aud ${claims.aud}` };
  if (typeof claims.exp !== "number" || claims.exp <= nowSeconds || claims.exp > nowSeconds + 24 * 3600) {
    return { ok: false, reason: `exp ${claims.exp}` };
  }
  if (typeof claims.sub !== "string" || !/^(mailto:|https:)/.test(claims.sub)) return { ok: false, reason: "sub" };
  return { ok: true, claims, publicKey: k };
}
