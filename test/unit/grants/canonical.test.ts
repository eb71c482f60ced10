/** Canonical calls: method and URL tricks are normalised or refused; any change is another call. */
import { describe, expect, it } from "vitest";
import { canonicalizeCall, fingerprintCall, type RawCall } from "../../../src/grants/canonical";

describe("canonicalizeCall", () => {
  it.each([
    ["post", "POST"],
    ["pAtCh", "PATCH"],
    ["DELETE ", "DELETE"],
    [" get", "GET"],
  ])("normalises method %j to %s", (method, expected) => {
    const result = canonicalizeCall({ method, url: "https://api.github.com/x" });
    expect(result.ok && result.value.method).toBe(expected);
  });

  it.each([["PROPFIND"], ["TRACE"], ["CONNECT"], ["OPTIONS"], [""], ["G ET"]])("refuses method %j", (method) => {
    const result = canonicalizeCall({ method, url: "https://api.github.com/x" });
    expect(!result.ok && result.error.code).toBe("method_invalid");
  });

  it.each([
    ["http://api.github.com/x", "scheme_not_https"],
    ["https://user@api.github.com/x", "userinfo_present"],
    ["https://api.github.com:8443/x", "port_not_default"],
    ["https://api.github.com/x#frag", "fragment_present"],
    ["https://api.github.com./x", "url_invalid"],
    ["not a url", "url_invalid"],
    ["file:///etc/passwd", "scheme_not_https"],
    ["data:text/plain,hi", "scheme_not_https"],
    ["ftp://api.github.com/", "scheme_not_https"],
    ["ws://api.github.com/", "scheme_not_https"],
  ])("refuses %s with %s", (url, code) => {
    const result = canonicalizeCall({ method: "GET", url });
    expect(!result.ok && result.error.code).toBe(code);
  });

  it.each([
    ["https://API.GitHub.com/x", "https://api.github.com/x"],
    ["https://api.github.com:443/x", "https://api.github.com/x"],
    ["https://api.github.com/a/../b?q=1", "https://api.github.com/b?q=1"],
    ["https://api.github.com/v%32/it%65ms", "https://api.github.com/v2/items"],
    ["https://api%2Egithub%2Ecom/user", "https://api.github.com/user"],
    ["https://api.github.com/caf%c3%a9", "https://api.github.com/caf%C3%A9"],
  ])("parses %s once into %s", (url, expected) => {
    const result = canonicalizeCall({ method: "GET", url });
    expect(result.ok && result.value.url).toBe(expected);
  });

  it.each([
    ["https://api.github.com\\repos"],
    ["https://api.github.com/a\\..\\b"],
    ["https://api.github.com/a/%2e%2e/b"],
    ["https://api.github.com/a/%2E/b"],
    ["https://api.github.com/a/..%2fb"],
    ["https://api.github.com/a/..%5Cb"],
    ["https://api.github.com/a/..;/b"],
    ["https://api.github.com/a//b"],
    ["https://api.github.com/a/%252e%252e/b"],
    ["https://api.github.com/a/%ff"],
  ])("refuses the ambiguous path of %s", (url) => {
    const result = canonicalizeCall({ method: "POST", url, body: "{}" });
    expect(!result.ok && result.error.code).toBe("ambiguous_path");
  });

  it("keeps a backslash in the query, where no router reads paths", () => {
    const result = canonicalizeCall({ method: "GET", url: "https://api.github.com/search?q=a\\b" });
    expect(result.ok).toBe(true);
  });

  it("refuses a GET or HEAD with a body", () => {
    for (const method of ["GET", "HEAD"]) {
      const result = canonicalizeCall({ method, url: "https://api.github.com/x", body: "{}" });
      expect(!result.ok && result.error.code).toBe("body_not_allowed");
    }
  });

  it.each([
    ["Authorization"],
    ["cookie"],
    ["Host"],
    ["Proxy-Authorization"],
    ["X-Api-Key"],
    ["x_api_key"],
    ["CF-Connecting-IP"],
    ["X-Original-URL"],
    ["x_original_url"],
    ["X-Rewrite-URL"],
    ["X-Override-URL"],
    ["X-Original-URI"],
    ["X-Original-Path"],
    ["X-Forwarded-Path"],
    ["X-Forwarded-Prefix"],
    ["X-Forwarded-Host"],
    ["X_Forwarded_For"],
    ["X-Envoy-Original-Path"],
    ["Forwarded"],
    ["X-Middleware-Subrequest"],
  ])("never lets the agent set %s", (header) => {
    const result = canonicalizeCall({ method: "GET", url: "https://api.github.com/x", headers: { [header]: "v" } });
    expect(!result.ok && result.error.code).toBe("header_forbidden");
  });

  it.each([
    ["a duplicate name in another case", { "X-A": "1", "x-a": "2" }],
    ["a value outside visible ASCII", { "X-A": "caf\u00e9" }],
    ["a value with a bidi control", { "X-A": "a\u202eb" }],
    ["a name with a space", { "X A": "1" }],
  ])("refuses %s as header_invalid", (_label, headers) => {
    const result = canonicalizeCall({ method: "GET", url: "https://api.github.com/x", headers });
    expect(!result.ok && result.error.code).toBe("header_invalid");
  });

  it("trims a header value as fetch will", () => {
    const result = canonicalizeCall({ method: "GET", url: "https://api.github.com/x", headers: { "X-A": " v \t" } });
    expect(result.ok && result.value.headers).toEqual([{ name: "x-a", value: "v" }]);
  });

  it("refuses header injection", () => {
    const result = canonicalizeCall({
      method: "GET",
      url: "https://api.github.com/x",
      headers: { "X-Ok": "a\r\nAuthorization: x" },
    });
    expect(!result.ok && result.error.code).toBe("header_invalid");
  });
});

describe("fingerprintCall", () => {
  const base: RawCall = {
    method: "POST",
    url: "https://api.github.com/repos/a/b/issues",
    body: '{"title":"x"}',
    headers: { "X-B": "1", "x-a": "2" },
  };
  const fingerprint = async (raw: RawCall) => {
    const result = canonicalizeCall(raw);
    if (!result.ok) throw new Error(result.error.code);
    return fingerprintCall(result.value);
  };

  it("is stable for the same call, whatever the header order or case", async () => {
    expect(await fingerprint(base)).toBe(
      await fingerprint({ ...base, method: "post", headers: { "x-a": "2", "x-b": "1" } }),
    );
  });

  it.each([
    ["body", { body: '{"title":"y"}' }],
    ["url", { url: "https://api.github.com/repos/a/c/issues" }],
    ["query", { url: "https://api.github.com/repos/a/b/issues?x=1" }],
    ["method", { method: "PUT" }],
    ["header value", { headers: { "X-B": "2", "x-a": "2" } }],
  ])("changes when the %s changes", async (_label, change) => {
    expect(await fingerprint({ ...base, ...change })).not.toBe(await fingerprint(base));
  });
});
