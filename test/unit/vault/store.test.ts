/** The vault in real KV: round trips, records moved between users or providers, rotation on read, no leaks. */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sealRecord } from "../../../src/vault/envelope";
import { type VaultSecret, VaultStore, vaultKey } from "../../../src/vault/store";
import {
  CANARY_ACCESS,
  CANARY_REFRESH,
  canarySecret,
  flipBit,
  K1,
  K2,
  keyring,
  type StoredRecord,
  userId,
} from "./fixtures";

const kv = env.OAUTH_KV;
const storeWith = (raw: string) => new VaultStore(kv, keyring(raw));
const stored = async (user: string, provider: string) => {
  const { value, metadata } = await kv.getWithMetadata(vaultKey(user, provider));
  return { value, record: value === null ? null : (JSON.parse(value) as StoredRecord), metadata };
};
const REAUTH = (reason: string) => ({ ok: false, error: { code: "reauth_required", reason } });

/** Everything written to the console while `run` runs, so tests can assert nothing secret was logged. */
async function consoleDuring<T>(run: () => Promise<T>): Promise<{ logs: string; result: T }> {
  const lines: unknown[][] = [];
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args));
  }
  const result = await run();
  return { logs: JSON.stringify(lines), result };
}

afterEach(() => vi.restoreAllMocks());

describe("vaultKey", () => {
  it("builds vault:<userId>:<providerId> and refuses ids that could run together", () => {
    expect(vaultKey("u_abc", "github")).toBe("vault:u_abc:github");
    expect(() => vaultKey("u_a:b", "github")).toThrow(TypeError);
    expect(() => vaultKey("u_a", "b:github")).toThrow(TypeError);
  });
});

describe("VaultStore", () => {
  it("round-trips a secret through KV and returns null when none is stored", async () => {
    const store = storeWith(K1);
    const user = userId();
    expect(await store.get(user, "github")).toEqual({ ok: true, value: null });
    await store.put(user, "github", canarySecret());
    expect(await store.get(user, "github")).toEqual({ ok: true, value: canarySecret() });
    expect(await store.get(user, "linear")).toEqual({ ok: true, value: null });
  });

  it("round-trips an api_key secret with only the required fields", async () => {
    const store = storeWith(K1);
    const user = userId();
    const secret: VaultSecret = { kind: "api_key", accessToken: "lin_api_x", obtainedAt: 5 };
    await store.put(user, "linear", secret);
    expect(await store.get(user, "linear")).toEqual({ ok: true, value: secret });
  });

  it("replaces the record on put and removes it on delete", async () => {
    const store = storeWith(K1);
    const user = userId();
    await store.put(user, "github", canarySecret());
    await store.put(user, "github", { ...canarySecret(), accessToken: "second" });
    expect(await store.get(user, "github")).toMatchObject({ ok: true, value: { accessToken: "second" } });
    await store.delete(user, "github");
    expect(await kv.get(vaultKey(user, "github"))).toBeNull();
    expect(await store.get(user, "github")).toEqual({ ok: true, value: null });
    await store.delete(user, "github");
  });

  it("stores only ciphertext, metadata { kid } and no expiry", async () => {
    const user = userId();
    await storeWith(K1).put(user, "github", canarySecret());
    const { value, record, metadata } = await stored(user, "github");
    expect(value).not.toContain(CANARY_ACCESS);
    expect(value).not.toContain(CANARY_REFRESH);
    expect(value).not.toContain("repo");
    expect(Object.keys(record ?? {}).sort()).toEqual(["ct", "iv", "kid", "v"]);
    expect(metadata).toEqual({ kid: "k1" });
    const listed = await kv.list({ prefix: vaultKey(user, "github") });
    expect(listed.keys).toHaveLength(1);
    expect(listed.keys[0]?.expiration).toBeUndefined();
  });

  it("does not decrypt user A's record copied under user B's key", async () => {
    const store = storeWith(K1);
    const [alice, bob] = [userId(), userId()];
    await store.put(alice, "github", canarySecret());
    await kv.put(vaultKey(bob, "github"), (await stored(alice, "github")).value as string);
    expect(await store.get(bob, "github")).toEqual(REAUTH("tampered"));
  });

  it("does not decrypt a record copied to another provider id", async () => {
    const store = storeWith(K1);
    const user = userId();
    await store.put(user, "github", canarySecret());
    await kv.put(vaultKey(user, "linear"), (await stored(user, "github")).value as string);
    expect(await store.get(user, "linear")).toEqual(REAUTH("tampered"));
  });

  it("re-encrypts a record written with an old key under the current key when read", async () => {
    const user = userId();
    await storeWith(K1).put(user, "github", canarySecret());
    const before = await stored(user, "github");
    expect(before.record?.kid).toBe("k1");

    const rotated = storeWith(`${K2},${K1}`);
    expect(await rotated.get(user, "github")).toEqual({ ok: true, value: canarySecret() });
    const after = await stored(user, "github");
    expect(after.record?.kid).toBe("k2");
    expect(after.metadata).toEqual({ kid: "k2" });
    expect(after.value).not.toContain(CANARY_ACCESS);

    // k1 can now be retired: the record reads back with k2 alone.
    expect(await storeWith(K2).get(user, "github")).toEqual({ ok: true, value: canarySecret() });
  });

  it("still returns the secret when the rotation write fails, and logs no token", async () => {
    const user = userId();
    await storeWith(K1).put(user, "github", canarySecret());
    const before = (await stored(user, "github")).value;
    const failingPut = new Proxy(kv, {
      get: (target, name) =>
        name === "put" ? () => Promise.reject(new Error("KV PUT failed: 429")) : Reflect.get(target, name).bind(target),
    });
    const store = new VaultStore(failingPut, keyring(`${K2},${K1}`));
    const { logs, result } = await consoleDuring(() => store.get(user, "github"));
    expect(result).toEqual({ ok: true, value: canarySecret() });
    expect(logs).toContain("vault_rotation_failed");
    expect(logs).not.toContain(CANARY_ACCESS);
    expect((await stored(user, "github")).value).toBe(before);
  });

  it("does not rewrite a record already under the current key", async () => {
    const store = storeWith(`${K2},${K1}`);
    const user = userId();
    await store.put(user, "github", canarySecret());
    const before = (await stored(user, "github")).value;
    await store.get(user, "github");
    expect((await stored(user, "github")).value).toBe(before);
  });

  it("fails closed on a record whose key was removed from VAULT_KEYS, and leaves it in place", async () => {
    const user = userId();
    await storeWith(K1).put(user, "github", canarySecret());
    const before = (await stored(user, "github")).value;
    expect(await storeWith(K2).get(user, "github")).toEqual(REAUTH("unknown_key"));
    expect((await stored(user, "github")).value).toBe(before);
  });

  it.each([
    ["a flipped IV bit", (r: StoredRecord) => ({ ...r, iv: flipBit(r.iv, 3) }), "tampered"],
    ["a flipped ciphertext bit", (r: StoredRecord) => ({ ...r, ct: flipBit(r.ct, 0) }), "tampered"],
    ["a flipped tag bit", (r: StoredRecord) => ({ ...r, ct: flipBit(r.ct, -1, 7) }), "tampered"],
    ["a truncated record", (r: StoredRecord) => JSON.stringify(r).slice(0, 30), "malformed"],
  ])("answers reauth_required for %s without throwing or leaking", async (_name, tamper, reason) => {
    const store = storeWith(K1);
    const user = userId();
    await store.put(user, "github", canarySecret());
    const { record } = await stored(user, "github");
    const changed = tamper(record as StoredRecord);
    await kv.put(vaultKey(user, "github"), typeof changed === "string" ? changed : JSON.stringify(changed));

    const { logs, result } = await consoleDuring(() => store.get(user, "github"));
    expect(result).toEqual(REAUTH(reason));
    expect(logs).toContain("vault_record_rejected");
    // The error value and every log line: neither may carry a token, the ciphertext or the key.
    const output = JSON.stringify([logs, result]);
    for (const secret of [CANARY_ACCESS, CANARY_REFRESH, record?.ct, record?.iv, K1.slice(3)]) {
      expect(output).not.toContain(secret);
    }
  });

  it("answers malformed for an authentic record that is not a secret", async () => {
    const user = userId();
    const ring = keyring(K1);
    await kv.put(vaultKey(user, "github"), await sealRecord(ring, user, "github", '{"kind":"oauth2"}'));
    expect(await new VaultStore(kv, ring).get(user, "github")).toEqual(REAUTH("malformed"));
  });

  it.each([
    ["an unknown kind", { ...canarySecret(), kind: "password" }],
    ["an empty access token", { ...canarySecret(), accessToken: "" }],
    ["a missing obtainedAt", { kind: "oauth2", accessToken: CANARY_ACCESS }],
    ["a non-finite expiresAt", { ...canarySecret(), expiresAt: Number.NaN }],
    ["non-string scopes", { ...canarySecret(), scopes: [1] }],
  ])("refuses to store %s, naming no token and writing nothing", async (_name, secret) => {
    const user = userId();
    const put = storeWith(K1).put(user, "github", secret as VaultSecret);
    await expect(put).rejects.toThrow('unexpected "secret" value');
    await put.catch((error: Error) => expect(error.message).not.toContain(CANARY_ACCESS));
    expect(await kv.get(vaultKey(user, "github"))).toBeNull();
  });

  it("drops unknown fields instead of storing them", async () => {
    const store = storeWith(K1);
    const user = userId();
    await store.put(user, "github", { ...canarySecret(), extra: "x" } as VaultSecret);
    expect(await store.get(user, "github")).toEqual({ ok: true, value: canarySecret() });
  });
});
