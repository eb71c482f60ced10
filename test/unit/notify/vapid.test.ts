/**
 * The VAPID key in workerd: the public key derived from `d` alone is the one WebCrypto pairs with
 * it (a signature made with `d` verifies under it), and malformed secrets are told apart.
 */
import { describe, expect, it } from "vitest";
import { fromBase64Url, toBase64Url } from "../../../src/lib/encoding";
import { isVapidPrivateKey, vapidPublicKey } from "../../../src/notify/vapid";

describe("vapidPublicKey", () => {
  it("derives the public point that verifies signatures made with the private key", async () => {
    const pair = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
      "sign",
      "verify",
    ])) as CryptoKeyPair;
    const jwk = (await crypto.subtle.exportKey("jwk", pair.privateKey)) as JsonWebKey;
    const expected = new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
    const derived = await vapidPublicKey(jwk.d as string);
    expect(derived).toBe(toBase64Url(expected));
    const signature = await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-256" },
      pair.privateKey,
      new Uint8Array([1]),
    );
    const imported = await crypto.subtle.importKey(
      "raw",
      fromBase64Url(derived) as Uint8Array<ArrayBuffer>,
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["verify"],
    );
    expect(
      await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, imported, signature, new Uint8Array([1])),
    ).toBe(true);
  });

  it("tells a 32-byte base64url scalar from anything else", () => {
    expect(isVapidPrivateKey(toBase64Url(new Uint8Array(32).fill(7)))).toBe(true);
    expect(isVapidPrivateKey(toBase64Url(new Uint8Array(31).fill(7)))).toBe(false);
    expect(isVapidPrivateKey(toBase64Url(new Uint8Array(33).fill(7)))).toBe(false);
    expect(isVapidPrivateKey("not base64url!")).toBe(false);
    expect(isVapidPrivateKey("")).toBe(false);
  });

  it("accepts only scalars from 1 to n - 1 of P-256", () => {
    const n = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
    const key = (hex: string) =>
      toBase64Url(Uint8Array.from(hex.match(/../g) ?? [], (byte) => Number.parseInt(byte, 16)));
    expect(isVapidPrivateKey(key("00".repeat(32)))).toBe(false);
    expect(isVapidPrivateKey(key(n))).toBe(false);
    expect(isVapidPrivateKey(key("ff".repeat(32)))).toBe(false);
    expect(isVapidPrivateKey(key(`${n.slice(0, -2)}50`))).toBe(true);
    expect(isVapidPrivateKey(key(`${"00".repeat(31)}01`))).toBe(true);
  });

  it("refuses to derive from a scalar that is not 32 bytes", async () => {
    await expect(vapidPublicKey("AAAA")).rejects.toThrow(/32 bytes/);
  });
});
