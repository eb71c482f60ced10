/** parseConfig: every way a deployment can be misconfigured fails closed with a stable code. */
import { describe, expect, it } from "vitest";
import { type ConfigEnv, isLoopbackHost, parseConfig } from "../../src/lib/config";

const base: ConfigEnv = {
  PUBLIC_URL: "https://countersign.example",
  OIDC_ISSUER: "https://idp.example",
  OIDC_CLIENT_ID: "client",
  OIDC_CLIENT_SECRET: "oidc-client-secret-value",
  DEV_SIGNIN: "",
  MCP_ALLOWED_ORIGINS: "",
  COOKIE_SECRET: "cookie-secret-value-0123456789abcdef",
  VAULT_KEYS: "k1:Y29va2llLXNlY3JldC12YWx1ZS0wMTIzNDU2Nzg5YWJjZGVm",
};

describe("parseConfig", () => {
  it("builds the resource and issuer from PUBLIC_URL", () => {
    const result = parseConfig(base);
    expect(result.ok && result.value).toMatchObject({
      publicOrigin: "https://countersign.example",
      publicHost: "countersign.example",
      resource: "https://countersign.example/mcp",
      signIn: {
        kind: "oidc",
        issuer: "https://idp.example",
        clientId: "client",
        clientSecret: "oidc-client-secret-value",
      },
    });
  });

  it("normalises a trailing slash and upper-case host", () => {
    const result = parseConfig({ ...base, PUBLIC_URL: "https://Countersign.Example/" });
    expect(result.ok && result.value.resource).toBe("https://countersign.example/mcp");
  });

  it("enables dev sign-in only on loopback", () => {
    for (const url of ["http://localhost:8787", "http://127.0.0.1:9000", "http://[::1]:8787", "http://app.localhost"]) {
      const result = parseConfig({ ...base, PUBLIC_URL: url, DEV_SIGNIN: "enabled" });
      expect(result.ok && result.value.signIn.kind).toBe("dev");
    }
  });

  const failures: [string, Partial<ConfigEnv>, string][] = [
    ["missing PUBLIC_URL", { PUBLIC_URL: "" }, "public_url_invalid"],
    ["PUBLIC_URL not a URL", { PUBLIC_URL: "countersign" }, "public_url_invalid"],
    ["PUBLIC_URL with path", { PUBLIC_URL: "https://a.example/x" }, "public_url_invalid"],
    ["PUBLIC_URL with query", { PUBLIC_URL: "https://a.example/?q=1" }, "public_url_invalid"],
    ["PUBLIC_URL with userinfo", { PUBLIC_URL: "https://u:p@a.example" }, "public_url_invalid"],
    ["plain http off loopback", { PUBLIC_URL: "http://a.example" }, "public_url_invalid"],
    ["ftp", { PUBLIC_URL: "ftp://a.example" }, "public_url_invalid"],
    ["short cookie secret", { COOKIE_SECRET: "cookie-secret-value-short" }, "cookie_secret_missing"],
    ["dev sign-in on https", { DEV_SIGNIN: "enabled" }, "dev_signin_not_local"],
    [
      "dev sign-in on a look-alike host",
      { DEV_SIGNIN: "enabled", PUBLIC_URL: "https://localhost.evil.example" },
      "dev_signin_not_local",
    ],
    ["no sign-in", { OIDC_ISSUER: "", OIDC_CLIENT_ID: "" }, "signin_missing"],
    ["issuer without client id", { OIDC_CLIENT_ID: "" }, "oidc_incomplete"],
    ["client id without issuer", { OIDC_ISSUER: "" }, "oidc_incomplete"],
    ["http issuer", { OIDC_ISSUER: "http://idp.example" }, "oidc_incomplete"],
    ["no vault keys", { VAULT_KEYS: "" }, "vault_keys_invalid"],
    ["a grant cap below 5 minutes", { GRANT_MAX_MINUTES: "4" }, "grant_max_invalid"],
    ["a grant cap over a day", { GRANT_MAX_MINUTES: "1441" }, "grant_max_invalid"],
    ["a fractional grant cap", { GRANT_MAX_MINUTES: "7.5" }, "grant_max_invalid"],
    ["a grant cap that is not a number", { GRANT_MAX_MINUTES: "forever" }, "grant_max_invalid"],
    ["a short vault key", { VAULT_KEYS: "k1:c2hvcnQ" }, "vault_keys_invalid"],
    ["custom providers that are not JSON", { CUSTOM_PROVIDERS: "{nope" }, "custom_providers_invalid"],
    [
      "a loopback custom provider outside dev mode",
      {
        CUSTOM_PROVIDERS: JSON.stringify([
          { id: "mine", name: "Mine", base_url: "http://127.0.0.1:9000/", api_key_header: "X-Key", dev_loopback: true },
        ]),
      },
      "custom_providers_invalid",
    ],
  ];
  for (const [label, overrides, code] of failures) {
    it(`fails with ${code} for ${label}`, () => {
      const result = parseConfig({ ...base, ...overrides });
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error.code).toBe(code);
        // Messages name settings, never their values.
        expect(result.error.message).not.toContain("secret-value");
      }
    });
  }

  it("parses extra MCP origins as lower-case hostnames", () => {
    const result = parseConfig({ ...base, MCP_ALLOWED_ORIGINS: " Inspector.Example , ,tools.example" });
    expect(result.ok && result.value.extraMcpOrigins).toEqual(["inspector.example", "tools.example"]);
  });
});

describe("isLoopbackHost", () => {
  it.each([
    ["localhost", true],
    ["127.0.0.1", true],
    ["[::1]", true],
    ["dev.localhost", true],
    ["localhost.example", false],
    ["127.0.0.1.nip.io", false],
    ["10.0.0.1", false],
  ])("%s → %s", (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});
