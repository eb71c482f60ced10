/** parseEndpoint: the gate every upstream-supplied URL passes (docs/threat-model.md B, E; CVE-2025-6514). */
import { describe, expect, it } from "vitest";
import { MAX_ENDPOINT_LENGTH, parseEndpoint } from "../../../../src/upstream/client/endpoint";
import { HOSTILE_ENDPOINTS } from "./fixtures";

const strict = { allowLoopback: false };
const dev = { allowLoopback: true };
const code = (raw: unknown, options = strict) => {
  const result = parseEndpoint(raw, options);
  return result.ok ? "ok" : result.error.code;
};

describe("parseEndpoint", () => {
  it.each(HOSTILE_ENDPOINTS)("rejects %j with %s", (raw, expected) => {
    expect(code(raw)).toBe(expected);
  });

  it.each([
    ["https://mcp.example.com/mcp", "https://mcp.example.com/mcp"],
    ["https://MCP.Example.COM/mcp", "https://mcp.example.com/mcp"],
    ["https://auth.example.com", "https://auth.example.com/"],
    ["https://auth.example.com:8443/oauth/token", "https://auth.example.com:8443/oauth/token"],
    ["https://auth.example.com/authorize?audience=mcp&prompt=consent", null],
    ["https://auth.example.com/a$b/c(d)", null],
    ["https://8.8.8.8/x", null],
    ["https://[2606:4700::1111]/x", null],
    ["https://bücher.example/x", "https://xn--bcher-kva.example/x"],
  ])("accepts %j", (raw, href) => {
    const result = parseEndpoint(raw, strict);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.value.href).toBe(href ?? raw);
  });

  it.each([[undefined], [null], [42], [{ href: "https://a.example/" }], [["https://a.example/"]], [true]])(
    "rejects the non-string %j as invalid_url",
    (raw) => {
      expect(code(raw)).toBe("invalid_url");
    },
  );

  it("accepts exactly the maximum length and rejects one more", () => {
    const base = "https://a.example/";
    expect(code(base + "a".repeat(MAX_ENDPOINT_LENGTH - base.length))).toBe("ok");
    expect(code(base + "a".repeat(MAX_ENDPOINT_LENGTH - base.length + 1))).toBe("invalid_url");
  });

  it.each([
    ["http://127.0.0.1:8787/token", "ok"],
    ["http://localhost:8787/token", "ok"],
    ["http://[::1]:8787/token", "ok"],
    ["https://localhost/token", "ok"],
    ["http://mcp.example.com/token", "scheme_not_allowed"],
    ["http://10.0.0.1/token", "scheme_not_allowed"],
    ["https://10.0.0.1/token", "address_not_allowed"],
    ["https://169.254.169.254/", "address_not_allowed"],
    ["http://169.254.169.254/", "scheme_not_allowed"],
    ["https://metadata.google.internal/", "address_not_allowed"],
    ["https://[fe80::1]/", "address_not_allowed"],
    ["http://localhost/$(id)", "unsafe_characters"],
    ["http://user@localhost/", "userinfo_present"],
    ["file:///etc/passwd", "scheme_not_allowed"],
  ])("with dev loopback allowed, answers %j with %s", (raw, expected) => {
    expect(code(raw, dev)).toBe(expected);
  });

  it("returns a fresh URL that callers may modify without affecting the input", () => {
    const raw = "https://auth.example.com/authorize";
    const first = parseEndpoint(raw, strict);
    const second = parseEndpoint(raw, strict);
    if (!first.ok || !second.ok) throw new Error("expected both to parse");
    first.value.searchParams.set("x", "1");
    expect(second.value.href).toBe(raw);
  });
});
