/**
 * The pure part of personal API keys (src/apikeys/key.ts): the key's shape, the form fields, and
 * where /mcp reads `x-api-key` (src/apikeys/mcp-auth.ts); plus the log redaction of key-named
 * fields (src/lib/log.ts).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  apiKeyId,
  DEFAULT_KEY_DAYS,
  generateApiKey,
  keyExpiry,
  looksLikeApiKey,
  parseKeyDays,
  parseKeyName,
} from "../../../src/apikeys/key";
import { apiKeyAsBearer } from "../../../src/apikeys/mcp-auth";
import type { Config } from "../../../src/config";
import { log } from "../../../src/lib/log";

const config = { resource: "https://countersign.test/mcp" } as Config;

afterEach(() => {
  vi.restoreAllMocks();
});

describe("generateApiKey", () => {
  it("makes cs_key_<16 hex>_<64 hex> keys whose id it parses back, never twice the same", () => {
    const first = generateApiKey();
    const second = generateApiKey();
    expect(first.key).toMatch(/^cs_key_[0-9a-f]{16}_[0-9a-f]{64}$/);
    expect(apiKeyId(first.key)).toBe(first.id);
    expect(second.key).not.toBe(first.key);
    expect(second.id).not.toBe(first.id);
  });
});

describe("apiKeyId", () => {
  const malformed = [
    "cs_key_",
    `cs_key_${"a".repeat(16)}`,
    `cs_key_${"A".repeat(16)}_${"0".repeat(64)}`,
    `cs_key_${"a".repeat(15)}_${"0".repeat(65)}`,
    `cs_key_${"a".repeat(16)}_${"0".repeat(63)}`,
    ` cs_key_${"a".repeat(16)}_${"0".repeat(64)}`,
    `cs_key_${"a".repeat(16)}_${"0".repeat(64)}\n`,
    `xcs_key_${"a".repeat(16)}_${"0".repeat(64)}`,
  ];
  for (const token of malformed) {
    it(`refuses ${JSON.stringify(token.slice(0, 30))}`, () => {
      expect(apiKeyId(token)).toBeNull();
    });
  }

  it("tells a key-shaped bearer from an OAuth token", () => {
    expect(looksLikeApiKey("cs_key_anything")).toBe(true);
    expect(looksLikeApiKey("u_abc:grant:secret")).toBe(false);
  });
});

describe("parseKeyName and parseKeyDays", () => {
  it("trims the name and refuses empty, long or control-character names", () => {
    expect(parseKeyName("  nightly CI ")).toEqual({ ok: true, value: "nightly CI" });
    for (const bad of [null, "", "   ", "x".repeat(61), "a\tb", "a\u007fb", 42]) {
      expect(parseKeyName(bad)).toMatchObject({ ok: false, error: { code: "name_invalid" } });
    }
  });

  it("defaults to 90 days and allows 1 to 365", () => {
    expect(parseKeyDays(null)).toEqual({ ok: true, value: DEFAULT_KEY_DAYS });
    expect(parseKeyDays("")).toEqual({ ok: true, value: 90 });
    expect(parseKeyDays("1")).toEqual({ ok: true, value: 1 });
    expect(parseKeyDays("365")).toEqual({ ok: true, value: 365 });
    for (const bad of ["0", "366", "-1", "1.5", "1e2", " 30", "abc", "0999"]) {
      expect(parseKeyDays(bad)).toMatchObject({ ok: false, error: { code: "days_invalid" } });
    }
  });

  it("expires a key exactly `days` days after it was made", () => {
    expect(keyExpiry(1_000, 2)).toBe(1_000 + 2 * 86_400_000);
  });
});

describe("apiKeyAsBearer", () => {
  const key = `cs_key_${"a".repeat(16)}_${"0".repeat(64)}`;
  const request = (path: string, headers: Record<string, string>) =>
    new Request(`https://countersign.test${path}`, { method: "POST", headers });

  it("moves x-api-key into Authorization on /mcp only", () => {
    const moved = apiKeyAsBearer(request("/mcp", { "x-api-key": key }), config);
    expect(moved.headers.get("Authorization")).toBe(`Bearer ${key}`);
    expect(moved.headers.has("x-api-key")).toBe(false);
    for (const path of ["/activity", "/oauth/token", "/approve/g_1", "/mcp/x", "/"]) {
      const untouched = apiKeyAsBearer(request(path, { "x-api-key": key }), config);
      expect(untouched.headers.has("Authorization")).toBe(false);
    }
  });

  it("leaves an Authorization header the client sent as it is", () => {
    const sent = apiKeyAsBearer(request("/mcp", { "x-api-key": key, Authorization: "Bearer other" }), config);
    expect(sent.headers.get("Authorization")).toBe("Bearer other");
  });
});

describe("log redaction", () => {
  it("never prints a field named like an API key", () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => lines.push(line));
    log.info("test.event", {
      "x-api-key": "cs_key_secret",
      apiKey: "cs_key_secret",
      api_key: "cs_key_secret",
      id: "k1",
    });
    expect(lines.join("\n")).not.toContain("cs_key_secret");
    expect(lines.join("\n")).toContain('"id":"k1"');
  });
});
