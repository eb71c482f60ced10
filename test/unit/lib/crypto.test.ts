/** AES-GCM sealing and sealed cookies: tampering, wrong purpose or data, expiry all fail closed. */
import { describe, expect, it } from "vitest";
import { openCookie, readCookie, sealCookie } from "../../../src/lib/cookies";
import { deriveKey, open, randomToken, seal, sha256Hex, timingSafeEqual } from "../../../src/lib/crypto";
import { fromBase64Url, toBase64Url } from "../../../src/lib/encoding";

const SECRET = "unit-test-secret-0123456789abcdef0123";

describe("seal/open", () => {
  it("round-trips a value", async () => {
    const key = await deriveKey(SECRET, "purpose-a");
    expect(await open(key, await seal(key, { a: 1 }, "ad"), "ad")).toEqual({ a: 1 });
  });

  it("uses a fresh IV every time", async () => {
    const key = await deriveKey(SECRET, "purpose-a");
    const ivs = new Set<string>();
    for (let i = 0; i < 200; i++) ivs.add((await seal(key, 1, "ad")).split(".")[0] as string);
    expect(ivs.size).toBe(200);
  });

  it("refuses a flipped bit in the IV, the ciphertext or the tag", async () => {
    const key = await deriveKey(SECRET, "purpose-a");
    const sealed = await seal(key, { secret: "v" }, "ad");
    const [iv, body] = sealed.split(".") as [string, string];
    const flip = (text: string, index: number) => {
      const bytes = fromBase64Url(text) as Uint8Array;
      bytes[index] = (bytes[index] ?? 0) ^ 1;
      return toBase64Url(bytes);
    };
    const bodyLength = (fromBase64Url(body) as Uint8Array).length;
    for (const tampered of [
      `${flip(iv, 0)}.${body}`,
      `${iv}.${flip(body, 0)}`,
      `${iv}.${flip(body, bodyLength - 1)}`,
    ]) {
      expect(await open(key, tampered, "ad")).toBeNull();
    }
  });

  it("refuses another purpose's key or other associated data", async () => {
    const sealed = await seal(await deriveKey(SECRET, "purpose-a"), 1, "ad");
    expect(await open(await deriveKey(SECRET, "purpose-b"), sealed, "ad")).toBeNull();
    expect(await open(await deriveKey(SECRET, "purpose-a"), sealed, "other")).toBeNull();
    expect(await open(await deriveKey(`${SECRET}x`, "purpose-a"), sealed, "ad")).toBeNull();
  });

  it.each([[""], ["."], ["a.b.c"], ["!!.!!"], ["AAAA.AAAA"]])("refuses malformed input %j", async (input) => {
    expect(await open(await deriveKey(SECRET, "p"), input, "ad")).toBeNull();
  });
});

describe("sealed cookies", () => {
  const options = { name: "__Host-test" as const, secret: SECRET, maxAgeSeconds: 60 };
  const requestWith = (setCookie: string) =>
    new Request("https://countersign.test", { headers: { Cookie: setCookie.split(";")[0] as string } });

  it("is Secure, HttpOnly, SameSite=Lax and host-only", async () => {
    const header = await sealCookie(options, { exp: 2_000_000_000 });
    expect(header).toMatch(/^__Host-test=[^;]+; Max-Age=60; Path=\/; Secure; HttpOnly; SameSite=Lax$/);
  });

  it("opens before exp and not after", async () => {
    const header = await sealCookie(options, { exp: 1000 });
    expect(await openCookie(requestWith(header), options, 999_000)).toMatchObject({ exp: 1000 });
    expect(await openCookie(requestWith(header), options, 1_000_000)).toBeNull();
  });

  it("does not open under another cookie name", async () => {
    const header = await sealCookie(options, { exp: 2_000_000_000 });
    const renamed = new Request("https://countersign.test", {
      headers: { Cookie: `__Host-other=${readCookie(requestWith(header), "__Host-test")}` },
    });
    expect(await openCookie(renamed, { name: "__Host-other", secret: SECRET }, 0)).toBeNull();
  });
});

describe("helpers", () => {
  it("hashes, compares and generates tokens", async () => {
    expect(await sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(timingSafeEqual("abc", "abc")).toBe(true);
    expect(timingSafeEqual("abc", "abd")).toBe(false);
    expect(timingSafeEqual("abc", "abcd")).toBe(false);
    expect(randomToken()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(randomToken()).not.toBe(randomToken());
  });
});
