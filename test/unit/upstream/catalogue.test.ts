/** Server names and the MCP_SERVERS catalogue: strict parsing that fails the whole configuration on any doubt. */
import { describe, expect, it } from "vitest";
import {
  type CatalogueServer,
  checkServerName,
  clientSecretBinding,
  parseCatalogue,
  SERVER_NAME,
} from "../../../src/upstream/catalogue";

const PROVIDER_IDS = ["github", "google", "linear", "acme"];
const strict = { allowLoopback: false, providerIds: PROVIDER_IDS, secrets: {} };
const dev = { ...strict, allowLoopback: true };

const parse = (entries: unknown, options: Parameters<typeof parseCatalogue>[1] = strict) =>
  parseCatalogue(typeof entries === "string" ? entries : JSON.stringify(entries), options);

/** The servers of a catalogue that must parse. */
function servers(entries: unknown, options: Parameters<typeof parseCatalogue>[1] = strict): CatalogueServer[] {
  const result = parse(entries, options);
  if (!result.ok) throw new Error(`expected a catalogue, got: ${result.error.message}`);
  return result.value;
}

/** The error message of a catalogue that must be refused (with the one code it may carry). */
function refusal(entries: unknown, options: Parameters<typeof parseCatalogue>[1] = strict): string {
  const result = parse(entries, options);
  if (result.ok) throw new Error("expected mcp_servers_invalid, got a catalogue");
  expect(result.error.code).toBe("mcp_servers_invalid");
  return result.error.message;
}

const server = (fields: Record<string, unknown> = {}) => ({
  name: "linear-mcp",
  url: "https://mcp.example.com/mcp",
  ...fields,
});

describe("checkServerName", () => {
  it.each([
    "a",
    "tracker",
    "my-tools",
    "a1",
    "x-1-y",
    "s3",
    "abcdefghijklmnopqrstuvwx", // 24 characters
  ])("accepts %j", (name) => {
    expect(SERVER_NAME.test(name)).toBe(true);
    expect(checkServerName(name, PROVIDER_IDS)).toBeNull();
  });

  it.each([
    ["", "empty"],
    ["Linear", "upper case"],
    ["LINEAR", "all upper case"],
    ["1linear", "a leading digit"],
    ["-linear", "a leading hyphen"],
    ["my__tools", "a double underscore"],
    ["my_tools", "an underscore"],
    ["__tools", "a leading double underscore"],
    ["tools-", "a trailing hyphen"],
    ["my--tools", "a double hyphen"],
    ["abcdefghijklmnopqrstuvwxy", "25 characters"],
    ["my.tools", "a dot"],
    ["my tools", "a space"],
    ["linear\n", "a trailing newline"],
    ["lіnear", "a Cyrillic look-alike"],
  ])("refuses %j (%s) as name_invalid", (name) => {
    expect(checkServerName(name, PROVIDER_IDS)).toBe("name_invalid");
  });

  it.each(["countersign", "mcp", "oauth", "callback"])("refuses the reserved name %j", (name) => {
    expect(checkServerName(name, [])).toBe("name_reserved");
  });

  it.each(PROVIDER_IDS)("refuses the provider id %j as name_reserved", (name) => {
    expect(checkServerName(name, PROVIDER_IDS)).toBe("name_reserved");
  });

  it("allows a provider's id once the deployment has no such provider", () => {
    expect(checkServerName("acme", ["github"])).toBeNull();
  });
});

describe("clientSecretBinding", () => {
  it.each([
    ["linear", "MCP_LINEAR_CLIENT_SECRET"],
    ["my-tools", "MCP_MY_TOOLS_CLIENT_SECRET"],
    ["a-b-c1", "MCP_A_B_C1_CLIENT_SECRET"],
  ])("names %j's secret %s", (name, binding) => {
    expect(clientSecretBinding(name)).toBe(binding);
  });
});

describe("parseCatalogue", () => {
  it.each([[""], ["   "], ["\n"]])("reads %j as an empty catalogue", (json) => {
    expect(servers(json)).toEqual([]);
  });

  it("reads an empty array as an empty catalogue", () => {
    expect(servers([])).toEqual([]);
  });

  it("parses a full entry and normalises its URL", () => {
    expect(
      servers([
        server({
          name: "tracker",
          title: "  Linear  ",
          url: "https://MCP.Linear.APP/mcp",
          read_only_tools: ["search_issues", "get_issue", "search_issues"],
        }),
      ]),
    ).toEqual([
      {
        name: "tracker",
        title: "Linear",
        url: "https://mcp.linear.app/mcp",
        readOnlyTools: ["search_issues", "get_issue"],
      },
    ]);
  });

  it("defaults the title to the name and read-only tools to none", () => {
    expect(servers([server()])).toEqual([
      { name: "linear-mcp", title: "linear-mcp", url: "https://mcp.example.com/mcp", readOnlyTools: [] },
    ]);
  });

  it("keeps the order of the entries", () => {
    const names = servers([server({ name: "b" }), server({ name: "a" }), server({ name: "c" })]).map((s) => s.name);
    expect(names).toEqual(["b", "a", "c"]);
  });

  it.each([["{nope"], ["[{"], ["undefined"], ["'[]'"]])("refuses %j as not JSON", (json) => {
    expect(refusal(json)).toBe('unexpected "MCP_SERVERS" value: not JSON');
  });

  it.each([[{}], ['"https://mcp.example.com/mcp"'], [null], [42]])("refuses the non-array %j", (json) => {
    expect(refusal(json)).toMatch(/^unexpected value at MCP_SERVERS: /);
  });

  it("refuses more than 50 servers", () => {
    const many = Array.from({ length: 51 }, (_, index) => server({ name: `s${index}` }));
    expect(refusal(many)).toMatch(/^unexpected value at MCP_SERVERS: /);
    expect(servers(many.slice(0, 50))).toHaveLength(50);
  });

  it.each([
    ["command", { command: "npx", args: ["-y", "some-mcp-server"] }],
    ["headers", { headers: { Authorization: "Bearer x" } }],
    ["client_secret", { client_id: "abc", client_secret: "inline-secret-value" }],
    ["readOnlyTools", { readOnlyTools: ["a"] }],
  ])("refuses the unknown key %j", (key, fields) => {
    const message = refusal([server(fields)]);
    expect(message).toContain("MCP_SERVERS[0]");
    expect(message).toContain(key);
    expect(message).not.toContain("inline-secret-value");
  });

  it.each([
    ["a missing name", { name: undefined }, "name"],
    ["a number as name", { name: 7 }, "name"],
    ["a missing url", { url: undefined }, "url"],
    ["an empty url", { url: "" }, "url"],
    ["an empty title", { title: "   " }, "title"],
    ["a title with a control character", { title: "Linear\u001b[31m" }, "title"],
    ["a 65-character title", { title: "t".repeat(65) }, "title"],
    ["read_only_tools not an array", { read_only_tools: "search" }, "read_only_tools"],
    ["a read-only tool with a space", { read_only_tools: ["search issues"] }, "read_only_tools"],
    ["a read-only tool with a slash", { read_only_tools: ["a/b"] }, "read_only_tools"],
    ["a read-only tool of 65 characters", { read_only_tools: ["t".repeat(65)] }, "read_only_tools"],
    ["an empty read-only tool", { read_only_tools: [""] }, "read_only_tools"],
    ["a client id with a space", { client_id: "my client" }, "client_id"],
    ["an empty client id", { client_id: "" }, "client_id"],
  ])("refuses %s, naming the field", (_label, fields, field) => {
    const message = refusal([{ ...server(), ...fields }]);
    expect(message).toMatch(/^unexpected value at MCP_SERVERS\[0\]/);
    expect(message).toContain(field);
  });

  it.each([
    ["title", { title: "" }, "MCP_SERVERS[0].title"],
    ["read-only tool name", { read_only_tools: ["ok", "not ok"] }, "MCP_SERVERS[0].read_only_tools[1]"],
  ])("names the exact place of a bad %s", (_label, fields, where) => {
    const prefix = `unexpected value at ${where}: `;
    expect(refusal([server(fields)]).slice(0, prefix.length)).toBe(prefix);
  });

  it("points at the failing entry, not the first", () => {
    expect(refusal([server({ name: "a" }), server({ name: "b", title: "" })])).toContain("MCP_SERVERS[1]");
  });

  it.each([
    ["Linear", "name_invalid"],
    ["1st", "name_invalid"],
    ["my__tools", "name_invalid"],
    ["tools-", "name_invalid"],
    ["abcdefghijklmnopqrstuvwxy", "name_invalid"],
    ["countersign", "name_reserved"],
    ["mcp", "name_reserved"],
    ["github", "name_reserved"],
    ["acme", "name_reserved"],
  ])("refuses the name %j with %s", (name, code) => {
    expect(refusal([server({ name })])).toBe(`MCP_SERVERS[0]: unexpected "name" value (${code})`);
  });

  it("refuses a duplicate name", () => {
    expect(refusal([server({ name: "a" }), server({ name: "b" }), server({ name: "a" })])).toBe(
      'MCP_SERVERS[2]: duplicate "name"',
    );
  });

  it.each([
    ["http://mcp.example.com/mcp", "scheme_not_allowed"],
    ["ftp://mcp.example.com/mcp", "scheme_not_allowed"],
    ["javascript:alert(1)", "scheme_not_allowed"],
    ["https://10.0.0.1/mcp", "address_not_allowed"],
    ["https://192.168.1.20/mcp", "address_not_allowed"],
    ["https://169.254.169.254/latest/meta-data/", "address_not_allowed"],
    ["https://metadata.google.internal/", "address_not_allowed"],
    ["https://127.0.0.1/mcp", "address_not_allowed"],
    ["https://localhost/mcp", "address_not_allowed"],
    ["https://[::1]/mcp", "address_not_allowed"],
    ["http://127.0.0.1:8788/mcp", "scheme_not_allowed"],
    ["http://localhost:8788/mcp", "scheme_not_allowed"],
    ["https://user:pass@mcp.example.com/mcp", "userinfo_present"],
    ["https://mcp.example.com/mcp#x", "fragment_present"],
    ["https://mcp.example.com/$(touch /tmp/pwned)", "unsafe_characters"],
    ["https://mcp.example.com/mcp;id", "unsafe_characters"],
    ["https://mcp.example.com/`id`", "unsafe_characters"],
    ["https://mcp.example.com/a|sh", "unsafe_characters"],
    ["https://mcp.example.com/a&&id", "unsafe_characters"],
    ["https://mcp.example.com/$\u007bIFS}", "unsafe_characters"],
    ["https://mcp.example.com/\nmcp", "unsafe_characters"],
    ["npx -y @acme/mcp-server", "unsafe_characters"],
    ["not a url", "unsafe_characters"],
    ["mcp.example.com/mcp", "invalid_url"],
  ])("refuses the url %j with %s", (url, code) => {
    expect(refusal([server({ url })])).toBe(`MCP_SERVERS[0]: unexpected "url" value (${code})`);
  });

  it.each([
    ["http://127.0.0.1:8788/mcp", "http://127.0.0.1:8788/mcp"],
    ["http://localhost:8788/mcp", "http://localhost:8788/mcp"],
    ["http://[::1]:8788/mcp", "http://[::1]:8788/mcp"],
    ["https://localhost/mcp", "https://localhost/mcp"],
  ])("accepts the loopback url %j only when loopback is allowed", (url, href) => {
    expect(refusal([server({ url })])).toMatch(/^MCP_SERVERS\[0\]: unexpected "url" value/);
    expect(servers([server({ url })], dev)[0]?.url).toBe(href);
  });

  it.each([
    ["http://10.0.0.1/mcp", "scheme_not_allowed"],
    ["https://10.0.0.1/mcp", "address_not_allowed"],
    ["https://169.254.169.254/", "address_not_allowed"],
    ["http://localhost:8788/$(id)", "unsafe_characters"],
  ])("still refuses %j when loopback is allowed", (url, code) => {
    expect(refusal([server({ url })], dev)).toBe(`MCP_SERVERS[0]: unexpected "url" value (${code})`);
  });

  it("reads the client secret from MCP_<NAME>_CLIENT_SECRET when a client id is given", () => {
    const secrets = { MCP_MY_TOOLS_CLIENT_SECRET: "s3cret-value", MCP_OTHER_CLIENT_SECRET: "other-value" };
    expect(servers([server({ name: "my-tools", client_id: "cs-client" })], { ...strict, secrets })[0]).toMatchObject({
      clientId: "cs-client",
      clientSecret: "s3cret-value",
    });
  });

  it("ignores the client secret binding when no client id is given", () => {
    const secrets = { MCP_MY_TOOLS_CLIENT_SECRET: "s3cret-value" };
    const [parsed] = servers([server({ name: "my-tools" })], { ...strict, secrets });
    expect(parsed).not.toHaveProperty("clientId");
    expect(parsed).not.toHaveProperty("clientSecret");
  });

  it("gives a public client (no secret) when the binding is missing, empty or not a string", () => {
    for (const secret of [undefined, "", 42, { value: "x" }]) {
      const secrets = secret === undefined ? {} : { MCP_TRACKER_CLIENT_SECRET: secret };
      const [parsed] = servers([server({ name: "tracker", client_id: "cs-client" })], { ...strict, secrets });
      expect(parsed).toMatchObject({ clientId: "cs-client" });
      expect(parsed).not.toHaveProperty("clientSecret");
    }
  });

  it("reads no binding but the server's own", () => {
    const secrets = {
      MCP_TRACKER_CLIENT_SECRET: "tracker-secret",
      LINEAR_CLIENT_SECRET: "provider-secret",
      COOKIE_SECRET: "cookie-secret",
    };
    const parsed = servers([server({ name: "tracker", client_id: "a" }), server({ name: "other", client_id: "b" })], {
      ...strict,
      secrets,
    });
    expect(parsed.map((entry) => entry.clientSecret)).toEqual(["tracker-secret", undefined]);
  });

  it("never puts a secret in an error message", () => {
    const secrets = { MCP_TRACKER_CLIENT_SECRET: "s3cret-value" };
    const message = refusal([server({ name: "tracker", client_id: "a" }), server({ name: "tracker" })], {
      ...strict,
      secrets,
    });
    expect(message).not.toContain("s3cret-value");
  });

  it("accepts read-only tool names with MCP's tool-name characters", () => {
    const tools = ["search_issues", "get-issue", "issues.list", "A1", "t".repeat(64)];
    expect(servers([server({ read_only_tools: tools })])[0]?.readOnlyTools).toEqual(tools);
  });

  it("refuses more than 500 read-only tools", () => {
    const tools = Array.from({ length: 501 }, (_, index) => `tool_${index}`);
    expect(refusal([server({ read_only_tools: tools })])).toContain("read_only_tools");
  });
});
