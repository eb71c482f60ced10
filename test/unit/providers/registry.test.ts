/** The registry: which provider owns a URL (exact host, scheme, port, prefix) and the catalog derived from it. */
import { describe, expect, it } from "vitest";
import { parseCustomProviders } from "../../../src/providers/custom";
import { BUILT_IN_PROVIDERS, createRegistry } from "../../../src/providers/registry";
import type { ProviderDefinition } from "../../../src/providers/types";

function customProviders(json: unknown, allowLoopback = false): ProviderDefinition[] {
  const result = parseCustomProviders(JSON.stringify(json), { allowLoopback });
  if (!result.ok) throw new Error(result.error.message);
  return result.value;
}

const registry = createRegistry(
  customProviders(
    [
      { id: "acme", name: "Acme", base_url: "https://api.acme.example/v2", api_key_header: "X-Api-Key" },
      {
        id: "devapi",
        name: "Dev API",
        base_url: "http://127.0.0.1:8787/api",
        api_key_header: "Authorization",
        api_key_prefix: "Bearer ",
        dev_loopback: true,
      },
    ],
    true,
  ),
);
const owner = (url: string) => registry.forUrl(new URL(url))?.id;

describe("createRegistry().forUrl", () => {
  it.each([
    ["https://api.github.com/repos/o/r", "github"],
    ["https://API.GitHub.COM/user", "github"],
    ["https://api.github.com:443/user", "github"],
    ["https://api.linear.app/graphql", "linear"],
    ["https://api.notion.com/v1/search", "notion"],
    ["https://slack.com/api/auth.test", "slack"],
    ["https://gmail.googleapis.com/gmail/v1/users/me/messages", "google"],
    ["https://calendar.googleapis.com/calendar/v3/calendars/primary/events", "google"],
    ["https://api.atlassian.com/ex/jira/abc/rest/api/3/myself", "atlassian"],
    ["https://de.sentry.io/api/0/organizations/", "sentry"],
    ["https://myorg-myaccount.snowflakecomputing.com/api/v2/statements", "snowflake"],
    ["https://xy12345.us-east-2.aws.snowflakecomputing.com/api/v2/statements", "snowflake"],
    ["https://my_account.snowflakecomputing.com/api/v2/statements", "snowflake"],
    ["https://api.acme.example/v2/items", "acme"],
    ["https://api.acme.example/v2", "acme"],
    ["http://127.0.0.1:8787/api/items", "devapi"],
  ])("gives %s to %s", (url, id) => {
    expect(owner(url)).toBe(id);
  });

  it.each([
    ["a trailing dot", "https://api.github.com./user"],
    ["userinfo", "https://user:pass@api.github.com/user"],
    ["userinfo spoofing the host", "https://api.github.com@evil.example/user"],
    ["another host", "https://evil.example/user"],
    ["a look-alike host", "https://api.github.com.evil.example/user"],
    ["a sub-domain of an exact host", "https://x.api.github.com/user"],
    ["an explicit port", "https://api.github.com:8443/user"],
    ["http", "http://api.github.com/user"],
    ["a path outside the prefixes", "https://api.linear.app/oauth/token"],
    ["a prefix look-alike", "https://api.linear.app/graphqlx"],
    ["a path outside Slack's /api/", "https://slack.com/intl/en"],
    ["a bare Snowflake suffix", "https://snowflakecomputing.com/api/v2/statements"],
    ["an empty Snowflake label", "https://.snowflakecomputing.com/api/v2/statements"],
    ["a Snowflake look-alike", "https://a.snowflakecomputing.com.evil.example/api/v2/statements"],
    ["a Snowflake host on a port", "https://a.snowflakecomputing.com:444/api/v2/statements"],
    ["a custom provider outside its base path", "https://api.acme.example/v1/items"],
    ["a custom base-path look-alike", "https://api.acme.example/v2x"],
    ["a custom https provider over http", "http://api.acme.example/v2/items"],
    ["a loopback provider on another port", "http://127.0.0.1:8788/api/items"],
    ["a loopback provider over https", "https://127.0.0.1:8787/api/items"],
    ["a loopback provider under another loopback name", "http://localhost:8787/api/items"],
  ])("matches nothing for %s", (_, url) => {
    expect(owner(url)).toBeUndefined();
  });

  it("lists built-ins first, then custom providers, and finds them by id", () => {
    expect(registry.all().map((provider) => provider.id)).toEqual([
      ...BUILT_IN_PROVIDERS.map((provider) => provider.id),
      "acme",
      "devapi",
    ]);
    expect(registry.byId("acme")?.name).toBe("Acme");
    expect(registry.byId("nope")).toBeUndefined();
  });

  it("throws on a duplicate id (a programming error: the parser refuses them)", () => {
    expect(() => createRegistry([{ ...(BUILT_IN_PROVIDERS[0] as ProviderDefinition) }])).toThrow(/duplicate/);
  });

  it("never matches an http custom provider that does not allow loopback", () => {
    const [acme] = customProviders([
      { id: "acme", name: "Acme", base_url: "https://a.example", api_key_header: "X-K" },
    ]);
    const tampered = { ...(acme as ProviderDefinition), origin: "http://a.example" };
    expect(createRegistry([tampered]).forUrl(new URL("http://a.example/x"))).toBeUndefined();
  });
});
