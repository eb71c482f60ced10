/** Sealed vault records: every flaw (tampering, wrong user or provider, unknown key, bad JSON) fails closed. */
import { describe, expect, it } from "vitest";
import { fromBase64Url, toBase64Url } from "../../../src/lib/encoding";
import { assertVaultIds, openRecord, sealRecord } from "../../../src/vault/envelope";
import { byteLength, CANARY_ACCESS, flipBit, K1, K2, keyring, type StoredRecord, userId } from "./fixtures";

const ring = keyring(K1);
const PLAINTEXT = JSON.stringify({ accessToken: CANARY_ACCESS });

async function sealed(user = userId(), provider = "github") {
  const stored = await sealRecord(ring, user, provider, PLAINTEXT);
  return { user, provider, stored, record: JSON.parse(stored) as StoredRecord };
}

const withRecord = (record: StoredRecord, change: Partial<StoredRecord>) => JSON.stringify({ ...record, ...change });

describe("sealRecord", () => {
  it("stores exactly v, kid, iv and ct, with a 96-bit IV and a 128-bit tag", async () => {
    const { record } = await sealed();
    expect(Object.keys(record).sort()).toEqual(["ct", "iv", "kid", "v"]);
    expect(record).toMatchObject({ v: 1, kid: "k1" });
    expect(byteLength(record.iv)).toBe(12);
    expect(byteLength(record.ct)).toBe(new TextEncoder().encode(PLAINTEXT).length + 16);
  });

  it("never stores the plaintext", async () => {
    const { stored } = await sealed();
    expect(stored).not.toContain(CANARY_ACCESS);
    expect(stored).not.toContain(btoa(CANARY_ACCESS).slice(0, 12));
  });

  it("uses a fresh IV for each of 1000 seals of the same value", async () => {
    const user = userId();
    const ivs = new Set<string>();
    const cts = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const record = JSON.parse(await sealRecord(ring, user, "github", PLAINTEXT)) as StoredRecord;
      ivs.add(record.iv);
      cts.add(record.ct);
    }
    expect(ivs.size).toBe(1000);
    expect(cts.size).toBe(1000);
  });

  it("seals with the current key", async () => {
    const record = JSON.parse(await sealRecord(keyring(`${K2},${K1}`), userId(), "linear", "x")) as StoredRecord;
    expect(record.kid).toBe("k2");
  });
});

describe("openRecord", () => {
  it("round-trips the plaintext and reports the kid", async () => {
    const { user, provider, stored } = await sealed();
    expect(await openRecord(ring, user, provider, stored)).toEqual({
      ok: true,
      value: { plaintext: PLAINTEXT, kid: "k1" },
    });
  });

  it("refuses a flipped bit anywhere in the IV", async () => {
    const { user, provider, record } = await sealed();
    for (let byte = 0; byte < 12; byte++) {
      for (const bit of [0, 7]) {
        const result = await openRecord(
          ring,
          user,
          provider,
          withRecord(record, { iv: flipBit(record.iv, byte, bit) }),
        );
        expect(result).toEqual({ ok: false, error: { code: "reauth_required", reason: "tampered" } });
      }
    }
  });

  it("refuses a flipped bit anywhere in the ciphertext or the tag", async () => {
    const { user, provider, record } = await sealed();
    const length = byteLength(record.ct);
    // Every byte: the first length - 16 are ciphertext, the last 16 the GCM tag.
    for (let byte = 0; byte < length; byte++) {
      const result = await openRecord(
        ring,
        user,
        provider,
        withRecord(record, { ct: flipBit(record.ct, byte, byte % 8) }),
      );
      expect(result).toEqual({ ok: false, error: { code: "reauth_required", reason: "tampered" } });
    }
  });

  it("refuses a truncated tag or extra trailing bytes", async () => {
    const { user, provider, record } = await sealed();
    const bytes = fromBase64Url(record.ct) as Uint8Array;
    for (const ct of [bytes.slice(0, -1), Uint8Array.from([...bytes, 0])]) {
      const result = await openRecord(ring, user, provider, withRecord(record, { ct: toBase64Url(ct) }));
      expect(result).toEqual({ ok: false, error: { code: "reauth_required", reason: "tampered" } });
    }
  });

  it("refuses a record opened as another user's", async () => {
    const { provider, stored } = await sealed();
    const result = await openRecord(ring, userId(), provider, stored);
    expect(result).toEqual({ ok: false, error: { code: "reauth_required", reason: "tampered" } });
  });

  it("refuses a record opened for another provider", async () => {
    const { user, stored } = await sealed(userId(), "github");
    const result = await openRecord(ring, user, "linear", stored);
    expect(result).toEqual({ ok: false, error: { code: "reauth_required", reason: "tampered" } });
  });

  it("refuses a record whose kid was edited, even to a kid with the same master secret", async () => {
    const { user, provider, record } = await sealed();
    // Same secret under two kids: only the kid in the associated data tells them apart.
    const twin = keyring(`k9:${K1.slice("k1:".length)},${K1}`);
    const result = await openRecord(twin, user, provider, withRecord(record, { kid: "k9" }));
    expect(result).toEqual({ ok: false, error: { code: "reauth_required", reason: "tampered" } });
  });

  it("fails closed on a kid that is not in the keyring", async () => {
    const { user, provider, stored } = await sealed();
    const result = await openRecord(keyring(K2), user, provider, stored);
    expect(result).toEqual({ ok: false, error: { code: "reauth_required", reason: "unknown_key" } });
  });

  it("decrypts an old record with the old key while a newer key is current", async () => {
    const { user, provider, stored } = await sealed();
    const result = await openRecord(keyring(`${K2},${K1}`), user, provider, stored);
    expect(result).toEqual({ ok: true, value: { plaintext: PLAINTEXT, kid: "k1" } });
  });

  it.each([
    ["empty text", () => ""],
    ["not JSON", () => "{v:1"],
    ["JSON null", () => "null"],
    ["a JSON string", () => '"abc"'],
    ["a JSON array", () => "[1]"],
    ["version 2", (r: StoredRecord) => withRecord(r, { v: 2 })],
    ["version as a string", (r: StoredRecord) => JSON.stringify({ ...r, v: "1" })],
    ["a missing iv", (r: StoredRecord) => JSON.stringify({ v: r.v, kid: r.kid, ct: r.ct })],
    ["a missing ct", (r: StoredRecord) => JSON.stringify({ v: r.v, kid: r.kid, iv: r.iv })],
    ["an extra field", (r: StoredRecord) => JSON.stringify({ ...r, plaintext: "x" })],
    ["a numeric kid", (r: StoredRecord) => JSON.stringify({ ...r, kid: 1 })],
    ["a kid with bad characters", (r: StoredRecord) => withRecord(r, { kid: "K1\u0000" })],
    ["an iv that is not base64url", (r: StoredRecord) => withRecord(r, { iv: `${r.iv.slice(1)}+` })],
    ["an 8-byte iv", (r: StoredRecord) => withRecord(r, { iv: "AAAAAAAAAAA" })],
    ["a 16-byte iv", (r: StoredRecord) => withRecord(r, { iv: "A".repeat(22) })],
    ["a ct shorter than a tag", (r: StoredRecord) => withRecord(r, { ct: "A".repeat(20) })],
    ["an empty ct", (r: StoredRecord) => withRecord(r, { ct: "" })],
    ["a ct with padding", (r: StoredRecord) => withRecord(r, { ct: `${r.ct}=` })],
  ])("refuses a malformed record: %s", async (_name, make) => {
    const { user, provider, record } = await sealed();
    const result = await openRecord(ring, user, provider, make(record));
    expect(result).toEqual({ ok: false, error: { code: "reauth_required", reason: "malformed" } });
  });
});

describe("assertVaultIds", () => {
  it.each([
    ["", "github"],
    ["u_a:b", "github"],
    ["u_a\u0000b", "github"],
    ["u_a", ""],
    ["u_a", "git:hub"],
    ["u_a", "GitHub"],
    ["u_a", "git\u0000hub"],
    ["x".repeat(129), "github"],
  ])("throws on ambiguous ids %j / %j", async (user, provider) => {
    expect(() => assertVaultIds(user, provider)).toThrow(TypeError);
    await expect(sealRecord(ring, user, provider, "x")).rejects.toThrow(TypeError);
  });
});
