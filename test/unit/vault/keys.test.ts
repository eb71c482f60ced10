/** VAULT_KEYS parsing and per-user key derivation: bad configuration fails closed, without echoing secrets. */
import { describe, expect, it } from "vitest";
import { toBase64Url } from "../../../src/lib/encoding";
import { parseVaultKeys } from "../../../src/vault/keys";
import { keyring, masterSecret, userId } from "./fixtures";

const bytes = (length: number, fill = 7) => new Uint8Array(length).fill(fill);
const standardBase64 = (data: Uint8Array) => btoa(String.fromCharCode(...data));
// 0xfb 0xff bytes encode to "+" and "/" in standard base64, "-" and "_" in base64url.
const SPECIAL = new Uint8Array(33).fill(0xfb).map((b, i) => (i % 3 === 2 ? 0xff : b));
const GOOD = masterSecret();

describe("parseVaultKeys", () => {
  it.each([
    ["one base64url key", `k1:${GOOD}`, "k1", ["k1"]],
    ["standard base64 with padding", `k1:${standardBase64(bytes(32))}`, "k1", ["k1"]],
    ["standard base64 with + and /", `k1:${standardBase64(SPECIAL)}`, "k1", ["k1"]],
    ["base64url with - and _", `k1:${toBase64Url(SPECIAL)}`, "k1", ["k1"]],
    ["the first key as current", `k2:${GOOD},k1:${masterSecret()}`, "k2", ["k2", "k1"]],
    ["whitespace around entries and colons", `  k2 : ${GOOD} ,\n k1:${masterSecret(48)}\n`, "k2", ["k2", "k1"]],
    ["a 16-character kid of every allowed class", `a-z_09abcdefghij:${GOOD}`, "a-z_09abcdefghij", ["a-z_09abcdefghij"]],
  ])("accepts %s", (_name, raw, current, kids) => {
    const parsed = keyring(raw);
    expect(parsed.current).toBe(current);
    expect(parsed.kids).toEqual(kids);
  });

  it.each([
    ["undefined", undefined, "missing"],
    ["empty", "", "missing"],
    ["blank", " \n\t ", "missing"],
    ["a bare secret with no kid", GOOD, 'key 1 is not "<kid>:<base64>"'],
    ["an empty kid", `:${GOOD}`, "key 1 has an invalid kid"],
    ["an uppercase kid", `K1:${GOOD}`, "key 1 has an invalid kid"],
    ["a kid with a dot", `k.1:${GOOD}`, "key 1 has an invalid kid"],
    ["a kid with a space inside", `k 1:${GOOD}`, "key 1 has an invalid kid"],
    ["a 17-character kid", `abcdefghijklmnopq:${GOOD}`, "key 1 has an invalid kid"],
    ["a duplicate kid", `k1:${GOOD},k1:${masterSecret()}`, "key 2 repeats the kid"],
    ["an empty entry in the middle", `k1:${GOOD},,k2:${masterSecret()}`, "key 2 is empty"],
    ["a trailing comma", `k1:${GOOD},`, "key 2 is empty"],
    ["an empty secret", "k1:", "key 1 is not base64"],
    ["a secret with a space inside", `k1:${GOOD.slice(0, 20)} ${GOOD.slice(20)}`, "key 1 is not base64"],
    ["a secret with a non-base64 character", `k1:${GOOD.slice(0, -1)}!`, "key 1 is not base64"],
    ["mixed base64 alphabets", `k1:${standardBase64(SPECIAL)}${toBase64Url(SPECIAL)}`, "key 1 is not base64"],
    ["padding in the middle", `k1:${standardBase64(bytes(32)).replace(/=$/, "")}=AAAA`, "key 1 is not base64"],
    ["too much padding", `k1:${standardBase64(bytes(32))}==`, "key 1 is not base64"],
    ["an impossible length", `k1:${GOOD}AA`, "key 1 is not base64"],
    ["a 31-byte secret", `k1:${masterSecret(31)}`, "key 1 decodes to fewer than 32 bytes"],
    ["a short second key", `k1:${GOOD},k2:${masterSecret(16)}`, "key 2 decodes to fewer than 32 bytes"],
    ["a 32-character text secret that is only 24 bytes", `k1:${"a".repeat(32)}`, "key 1 decodes to fewer than 32"],
  ])("rejects %s", (_name, raw, detail) => {
    const parsed = parseVaultKeys(raw);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.error.code).toBe("vault_keys_invalid");
    expect(parsed.error.message).toMatch(/^unexpected "VAULT_KEYS" value: /);
    expect(parsed.error.message).toContain(detail);
  });

  it.each([
    ["a bare secret", GOOD],
    ["a secret given as the kid", `${GOOD}:${GOOD}`],
    ["a short secret", `k1:${masterSecret(31)}`],
    ["a bad base64 secret", `k1:${GOOD}!`],
    ["a good key then a bad one", `k1:${GOOD},k1:${masterSecret()}`],
  ])("never echoes secret material for %s", (_name, raw) => {
    const parsed = parseVaultKeys(raw);
    expect(parsed.ok).toBe(false);
    const text = JSON.stringify(parsed);
    for (const part of raw.split(/[,:]/).filter((p) => p.length >= 8)) expect(text).not.toContain(part.slice(0, 8));
  });

  it("returns the same keyring for the same value, so derived keys stay cached", () => {
    const raw = `k1:${masterSecret()}`;
    expect(keyring(raw)).toBe(keyring(raw));
  });
});

describe("VaultKeyring.userKey", () => {
  it("derives a non-extractable AES-256-GCM key", async () => {
    const key = await keyring(`k1:${GOOD}`).userKey("k1", userId());
    expect(key?.algorithm).toMatchObject({ name: "AES-GCM", length: 256 });
    expect(key?.extractable).toBe(false);
    expect(key?.usages.sort()).toEqual(["decrypt", "encrypt"]);
    await expect(crypto.subtle.exportKey("raw", key as CryptoKey)).rejects.toThrow();
  });

  it("caches one key per kid and user", async () => {
    const ring = keyring(`k2:${masterSecret()},k1:${GOOD}`);
    const alice = userId();
    const first = await ring.userKey("k1", alice);
    expect(await ring.userKey("k1", alice)).toBe(first);
    expect(await ring.userKey("k1", userId())).not.toBe(first);
    expect(await ring.userKey("k2", alice)).not.toBe(first);
  });

  it("derives keys that differ per user and per master key", async () => {
    const ring = keyring(`k2:${masterSecret()},k1:${GOOD}`);
    const [alice, bob] = [userId(), userId()];
    const iv = new Uint8Array(12);
    const encryptWith = async (kid: string, user: string) => {
      const key = (await ring.userKey(kid, user)) as CryptoKey;
      return toBase64Url(new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, bytes(16))));
    };
    const aliceK1 = await encryptWith("k1", alice);
    expect(await encryptWith("k1", alice)).toBe(aliceK1);
    expect(await encryptWith("k1", bob)).not.toBe(aliceK1);
    expect(await encryptWith("k2", alice)).not.toBe(aliceK1);
  });

  it("returns null for a kid that is not in the keyring", async () => {
    expect(await keyring(`k1:${GOOD}`).userKey("k0", userId())).toBeNull();
  });
});
