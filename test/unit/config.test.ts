/** parseConfig: every way a deployment can be misconfigured fails closed with a stable code. */
import { describe, expect, it } from "vitest";
import { type ConfigEnv, isLoopbackHost, parseConfig } from "../../src/config";

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
    ["a rule cap of 0 hours", { RULE_MAX_HOURS: "0" }, "rule_max_invalid"],
    ["a rule cap over a week", { RULE_MAX_HOURS: "169" }, "rule_max_invalid"],
    ["a fractional rule cap", { RULE_MAX_HOURS: "1.5" }, "rule_max_invalid"],
    ["a rule cap that is not a number", { RULE_MAX_HOURS: "always" }, "rule_max_invalid"],
    ["a short vault key", { VAULT_KEYS: "k1:c2hvcnQ" }, "vault_keys_invalid"],
    ["a VAPID key of 31 bytes", { VAPID_PRIVATE_KEY: "A".repeat(41) }, "vapid_key_invalid"],
    ["a VAPID key that is not base64url", { VAPID_PRIVATE_KEY: `${"A".repeat(42)}=` }, "vapid_key_invalid"],
    ["a VAPID key in PEM", { VAPID_PRIVATE_KEY: "-----BEGIN PRIVATE KEY-----" }, "vapid_key_invalid"],
    ["a VAPID key of zeros (not a P-256 scalar)", { VAPID_PRIVATE_KEY: "A".repeat(43) }, "vapid_key_invalid"],
    [
      "a VAPID subject that is not mailto: or https:",
      { VAPID_PRIVATE_KEY: `${"A".repeat(42)}E`, VAPID_SUBJECT: "http://ops.example" },
      "vapid_subject_invalid",
    ],
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

  it("turns push on only with a VAPID key, and takes the subject from VAPID_SUBJECT or PUBLIC_URL", () => {
    const off = parseConfig(base);
    expect(off.ok && off.value.push).toBeNull();
    const key = `${"A".repeat(42)}E`;
    const on = parseConfig({ ...base, VAPID_PRIVATE_KEY: key });
    expect(on.ok && on.value.push).toEqual({ privateKey: key, subject: "https://countersign.example" });
    const contact = parseConfig({ ...base, VAPID_PRIVATE_KEY: key, VAPID_SUBJECT: "mailto:ops@example.com" });
    expect(contact.ok && contact.value.push?.subject).toBe("mailto:ops@example.com");
    const dev = parseConfig({
      ...base,
      PUBLIC_URL: "http://localhost:8787",
      DEV_SIGNIN: "enabled",
      VAPID_PRIVATE_KEY: key,
    });
    expect(dev.ok && dev.value.push?.subject).toBe("mailto:countersign@localhost");
  });

  it("caps standing rules at 24 hours unless RULE_MAX_HOURS says otherwise", () => {
    expect(parseConfig(base)).toMatchObject({ ok: true, value: { ruleMaxHours: 24 } });
    expect(parseConfig({ ...base, RULE_MAX_HOURS: "" })).toMatchObject({ ok: true, value: { ruleMaxHours: 24 } });
    expect(parseConfig({ ...base, RULE_MAX_HOURS: "168" })).toMatchObject({ ok: true, value: { ruleMaxHours: 168 } });
    expect(parseConfig({ ...base, RULE_MAX_HOURS: "1" })).toMatchObject({ ok: true, value: { ruleMaxHours: 1 } });
  });

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

describe("parseConfig: upstream MCP servers", () => {
  const dev: ConfigEnv = { ...base, PUBLIC_URL: "http://127.0.0.1:8787", DEV_SIGNIN: "enabled" };
  const catalogue = (...entries: Record<string, unknown>[]) => JSON.stringify(entries);
  const tracker = { name: "tracker", url: "https://mcp.tracker.example/mcp", read_only_tools: ["search_issues"] };
  const acme = { id: "acme", name: "Acme", base_url: "https://api.acme.example/", api_key_header: "X-Api-Key" };

  function config(env: ConfigEnv) {
    const result = parseConfig(env);
    if (!result.ok) throw new Error(`expected a configuration, got ${result.error.code}: ${result.error.message}`);
    return result.value;
  }

  function failure(env: ConfigEnv) {
    const result = parseConfig(env);
    if (result.ok) throw new Error("expected a configuration error");
    return result.error;
  }

  it("has no servers and no loopback when nothing is set", () => {
    expect(config(base)).toMatchObject({ mcpServers: [], upstreamLoopback: false });
    expect(config({ ...base, MCP_SERVERS: "" }).mcpServers).toEqual([]);
  });

  it("parses MCP_SERVERS into mcpServers", () => {
    expect(
      config({ ...base, MCP_SERVERS: catalogue(tracker, { name: "docs", url: "https://docs.example/mcp" }) })
        .mcpServers,
    ).toEqual([
      { name: "tracker", title: "tracker", url: "https://mcp.tracker.example/mcp", readOnlyTools: ["search_issues"] },
      { name: "docs", title: "docs", url: "https://docs.example/mcp", readOnlyTools: [] },
    ]);
  });

  it("reads a catalogue server's client secret from its own binding", () => {
    const env = {
      ...base,
      MCP_SERVERS: catalogue({ ...tracker, client_id: "cs" }),
      MCP_TRACKER_CLIENT_SECRET: "tracker-secret-value",
    } as ConfigEnv;
    expect(config(env).mcpServers[0]).toMatchObject({ clientId: "cs", clientSecret: "tracker-secret-value" });
  });

  it.each([
    ["not JSON", "[{"],
    ["an unknown key", catalogue({ ...tracker, command: "npx" })],
    ["a bad name", catalogue({ ...tracker, name: "Tracker" })],
    ["a duplicate name", catalogue(tracker, tracker)],
    ["a plain http URL", catalogue({ ...tracker, url: "http://mcp.tracker.example/mcp" })],
    ["a private address", catalogue({ ...tracker, url: "https://10.1.2.3/mcp" })],
    ["a loopback URL without UPSTREAM_DEV_LOOPBACK", catalogue({ ...tracker, url: "http://127.0.0.1:9000/mcp" })],
    ["shell syntax in the URL", catalogue({ ...tracker, url: "https://mcp.tracker.example/$(id)" })],
    ["a built-in provider's id", catalogue({ ...tracker, name: "github" })],
  ])("fails with mcp_servers_invalid for %s", (_label, json) => {
    const error = failure({ ...base, MCP_SERVERS: json });
    expect(error.code).toBe("mcp_servers_invalid");
    expect(error.message).toContain("MCP_SERVERS");
  });

  it("refuses a loopback server in dev mode unless UPSTREAM_DEV_LOOPBACK is enabled", () => {
    const json = catalogue({ ...tracker, url: "http://127.0.0.1:9000/mcp" });
    expect(failure({ ...dev, MCP_SERVERS: json })).toEqual({
      code: "mcp_servers_invalid",
      message: 'MCP_SERVERS[0]: unexpected "url" value (scheme_not_allowed)',
    });
    expect(config({ ...dev, MCP_SERVERS: json, UPSTREAM_DEV_LOOPBACK: "enabled" }).mcpServers[0]?.url).toBe(
      "http://127.0.0.1:9000/mcp",
    );
  });

  it("fails with upstream_loopback_not_local when UPSTREAM_DEV_LOOPBACK is enabled without dev sign-in", () => {
    for (const env of [
      { ...base, UPSTREAM_DEV_LOOPBACK: "enabled" },
      { ...base, PUBLIC_URL: "http://127.0.0.1:8787", UPSTREAM_DEV_LOOPBACK: "enabled" },
    ]) {
      expect(failure(env).code).toBe("upstream_loopback_not_local");
    }
  });

  it("enables loopback upstreams with dev sign-in on a loopback PUBLIC_URL", () => {
    for (const url of ["http://127.0.0.1:8787", "http://localhost:8787", "http://[::1]:8787"]) {
      expect(config({ ...dev, PUBLIC_URL: url, UPSTREAM_DEV_LOOPBACK: "enabled" }).upstreamLoopback).toBe(true);
    }
  });

  it.each([[""], ["true"], ["Enabled"], ["1"]])("leaves loopback off for UPSTREAM_DEV_LOOPBACK=%j", (value) => {
    expect(config({ ...dev, UPSTREAM_DEV_LOOPBACK: value }).upstreamLoopback).toBe(false);
    expect(config({ ...base, UPSTREAM_DEV_LOOPBACK: value }).upstreamLoopback).toBe(false);
  });

  it("shortens the pending life of requests with DEV_REQUEST_TTL_SECONDS in dev mode only", () => {
    expect(config(dev).grantPolicy.pendingTtlSeconds).toBe(600);
    expect(config({ ...dev, DEV_REQUEST_TTL_SECONDS: "" }).grantPolicy.pendingTtlSeconds).toBe(600);
    expect(config({ ...dev, DEV_REQUEST_TTL_SECONDS: "30" }).grantPolicy.pendingTtlSeconds).toBe(30);
    for (const [env, value] of [
      [base, "30"],
      [dev, "4"],
      [dev, "601"],
      [dev, "7.5"],
      [dev, "soon"],
    ] as const) {
      expect(failure({ ...env, DEV_REQUEST_TTL_SECONDS: value }).code).toBe("request_ttl_invalid");
    }
  });

  it("refuses a catalogue name equal to a custom provider id", () => {
    const env = { ...base, CUSTOM_PROVIDERS: JSON.stringify([acme]) };
    expect(config(env).registry.byId("acme")).toBeDefined();
    expect(failure({ ...env, MCP_SERVERS: catalogue({ ...tracker, name: "acme" }) })).toEqual({
      code: "mcp_servers_invalid",
      message: 'MCP_SERVERS[0]: unexpected "name" value (name_reserved)',
    });
    expect(config({ ...env, MCP_SERVERS: catalogue(tracker) }).mcpServers).toHaveLength(1);
  });

  it("refuses the demo provider's id in dev mode only", () => {
    const json = catalogue({ ...tracker, name: "demo" });
    expect(failure({ ...dev, MCP_SERVERS: json }).code).toBe("mcp_servers_invalid");
    expect(config({ ...base, MCP_SERVERS: json }).mcpServers[0]?.name).toBe("demo");
  });
});
