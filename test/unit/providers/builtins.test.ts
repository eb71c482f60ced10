/** Built-in providers: each classifier against its API's read and write calls, and definition invariants. */
import { describe, expect, it } from "vitest";
import { BUILT_IN_PROVIDERS } from "../../../src/providers/registry";
import { ATLASSIAN } from "../../../src/providers/registry/atlassian";
import { GITHUB } from "../../../src/providers/registry/github";
import { GOOGLE } from "../../../src/providers/registry/google";
import { LINEAR } from "../../../src/providers/registry/linear";
import { NOTION } from "../../../src/providers/registry/notion";
import { SENTRY } from "../../../src/providers/registry/sentry";
import { SLACK } from "../../../src/providers/registry/slack";
import { SNOWFLAKE } from "../../../src/providers/registry/snowflake";
import type { ProviderDefinition } from "../../../src/providers/types";
import { json, request } from "./request";

type Case = [ProviderDefinition, string, string, string, Record<string, string>?];
const access = ([provider, method, url, body, headers]: Case) => {
  const result = provider.classify(request(method, url, body, headers ?? {}));
  return result.ok ? result.access : result.code;
};
/** Rows as [title, case] so titles read "slack GET https://…" instead of a dumped object. */
const named = (cases: Case[]) => cases.map((call) => [`${call[0].id} ${call[1]} ${call[2]}`, call] as const);
const SF = "https://myorg-myaccount.snowflakecomputing.com/api/v2/statements";
const JIRA = "https://api.atlassian.com/ex/jira/1a2b-3c4d/rest/api/3";

describe("built-in provider classification", () => {
  it.each(
    named([
      [LINEAR, "POST", "https://api.linear.app/graphql", json({ query: "{ viewer { id } }" })],
      [GITHUB, "GET", "https://api.github.com/repos/o/r/issues?state=open", ""],
      [GITHUB, "HEAD", "https://api.github.com/user", ""],
      [GITHUB, "POST", "https://api.github.com/markdown", json({ text: "# hi" })],
      [GITHUB, "POST", "https://api.github.com/graphql", json({ query: "query { viewer { login } }" })],
      [NOTION, "POST", "https://api.notion.com/v1/search", json({ query: "plan" })],
      [NOTION, "POST", "https://api.notion.com/v1/databases/0a1b2c3d-4e5f/query", "{}"],
      [NOTION, "POST", "https://api.notion.com/v1/data_sources/0a1b2c3d4e5f/query", "{}"],
      [NOTION, "GET", "https://api.notion.com/v1/pages/abc", ""],
      [SLACK, "POST", "https://slack.com/api/conversations.history", "channel=C1"],
      [SLACK, "GET", "https://slack.com/api/conversations.list?limit=100", ""],
      [SLACK, "GET", "https://slack.com/api/usergroups.users.list", ""],
      [SLACK, "POST", "https://slack.com/api/auth.test", ""],
      [GOOGLE, "GET", "https://gmail.googleapis.com/gmail/v1/users/me/messages?q=x", ""],
      [GOOGLE, "POST", "https://www.googleapis.com/calendar/v3/freeBusy", json({ items: [{ id: "primary" }] })],
      [GOOGLE, "GET", "https://www.googleapis.com/drive/v3/files", ""],
      [ATLASSIAN, "POST", `${JIRA}/search/jql`, json({ jql: "project = ENG" })],
      [ATLASSIAN, "POST", `${JIRA}/search`, json({ jql: "project = ENG" })],
      [ATLASSIAN, "GET", "https://api.atlassian.com/ex/confluence/1a2b/wiki/rest/api/search?cql=text~x", ""],
      [ATLASSIAN, "GET", "https://api.atlassian.com/oauth/token/accessible-resources", ""],
      [SENTRY, "GET", "https://sentry.io/api/0/organizations/", ""],
      [SNOWFLAKE, "POST", SF, json({ statement: "SELECT * FROM orders LIMIT 10", warehouse: "wh" })],
      [SNOWFLAKE, "POST", SF, json({ statement: "SELECT ';DROP TABLE x'" })],
      [SNOWFLAKE, "GET", `${SF}/01b2-handle?partition=1`, ""],
    ]),
  )("reads: %s", (_, call) => {
    expect(access(call)).toBe("read");
  });

  it.each(
    named([
      [
        LINEAR,
        "POST",
        "https://api.linear.app/graphql",
        json({ query: "mutation { issueCreate(input: {}) { success } }" }),
      ],
      [LINEAR, "GET", `https://api.linear.app/graphql?query=${encodeURIComponent("mutation { a }")}`, ""],
      [GITHUB, "POST", "https://api.github.com/repos/o/r/issues", json({ title: "x" })],
      [GITHUB, "DELETE", "https://api.github.com/repos/o/r", ""],
      [GITHUB, "GET", "https://api.github.com/repos/o/r", "", { "x-http-method-override": "DELETE" }],
      [GITHUB, "GET", "https://api.github.com/repos/o/r?_method=DELETE", ""],
      [GITHUB, "POST", "https://api.github.com/markdown/extra", "{}"],
      [
        GITHUB,
        "POST",
        "https://api.github.com/graphql",
        json({ query: "mutation { addStar(input: {}) { clientMutationId } }" }),
      ],
      [NOTION, "PATCH", "https://api.notion.com/v1/pages/abc", json({ archived: true })],
      [NOTION, "POST", "https://api.notion.com/v1/pages", "{}"],
      [NOTION, "POST", "https://api.notion.com/v1/databases/x/query/extra", "{}"],
      [NOTION, "POST", "https://api.notion.com/v1/databases/a/b/query", "{}"],
      [NOTION, "POST", "https://api.notion.com/v1/search", "_method=DELETE"],
      [SLACK, "GET", "https://slack.com/api/chat.postMessage?channel=C1&text=hi", ""],
      [SLACK, "POST", "https://slack.com/api/chat.postMessage", "channel=C1&text=hi"],
      [SLACK, "POST", "https://slack.com/api/chat.update", ""],
      [SLACK, "GET", "https://slack.com/api/reactions.add?name=x", ""],
      [SLACK, "GET", "https://slack.com/api/conversations.archive?channel=C1", ""],
      [SLACK, "GET", "https://slack.com/api/totally.unknownMethod", ""],
      [SLACK, "GET", "https://slack.com/api/Conversations.History", ""],
      [SLACK, "GET", "https://slack.com/api/conversations.history/", ""],
      [SLACK, "GET", "https://slack.com/api/conversations.history", "", { "x-http-method-override": "POST" }],
      [GOOGLE, "POST", "https://gmail.googleapis.com/gmail/v1/users/me/messages/send", "{}"],
      [
        GOOGLE,
        "GET",
        "https://www.googleapis.com/calendar/v3/calendars/primary/events/1",
        "",
        { "x-http-method-override": "DELETE" },
      ],
      [GOOGLE, "POST", "https://www.googleapis.com/batch/calendar/v3", "--batch"],
      [GOOGLE, "POST", "https://www.googleapis.com/calendar/v3/freeBusy/x", "{}"],
      [ATLASSIAN, "POST", `${JIRA}/issue`, json({ fields: {} })],
      [ATLASSIAN, "PUT", `${JIRA}/issue/ENG-1`, json({ fields: {} })],
      [ATLASSIAN, "POST", "https://api.atlassian.com/ex/jira/a/b/rest/api/3/search/jql", "{}"],
      [SENTRY, "PUT", "https://sentry.io/api/0/organizations/o/issues/1/", json({ status: "resolved" })],
      [SNOWFLAKE, "POST", SF, json({ statement: "SELECT 1; DROP TABLE x" })],
      [SNOWFLAKE, "POST", SF, json({ statement: "delete from orders" })],
      [SNOWFLAKE, "POST", SF, '{"statement":"SELECT 1","Statement":"DROP TABLE x"}'],
      [GITHUB, "GET", `https://api.github.com/graphql/?query=${encodeURIComponent("mutation { a }")}`, ""],
      [GITHUB, "GET", `https://api.github.com/GRAPHQL?query=${encodeURIComponent("mutation { a }")}`, ""],
      [SNOWFLAKE, "POST", SF, json({ statement: ["SELECT 1"] })],
      [SNOWFLAKE, "POST", SF, json({ sql: "SELECT 1" })],
      [SNOWFLAKE, "POST", SF, "statement=SELECT 1"],
      [SNOWFLAKE, "POST", SF, '{"statement":"DROP TABLE x","statement":"SELECT 1"}'],
      [SNOWFLAKE, "POST", SF, json({ statement: "SELECT 1" }), { "x-http-method-override": "DELETE" }],
      [SNOWFLAKE, "POST", `${SF}/01b2-handle/cancel`, ""],
      [SNOWFLAKE, "POST", `${SF}/`, json({ statement: "SELECT 1" })],
    ]),
  )("writes: %s", (_, call) => {
    expect(access(call)).toBe("write");
  });

  it.each(
    named([
      [LINEAR, "POST", "https://api.linear.app/graphqlx", "{}"],
      [LINEAR, "GET", "https://api.linear.app/oauth/token", ""],
      [SLACK, "GET", "https://slack.com/oauth/v2/authorize", ""],
      [SENTRY, "GET", "https://sentry.io/organizations/", ""],
      [NOTION, "GET", "https://api.notion.com/v2/pages", ""],
      [GOOGLE, "GET", "https://www.googleapis.com/youtube/v3/videos", ""],
      [ATLASSIAN, "GET", "https://api.atlassian.com/admin/v1/orgs", ""],
      [SNOWFLAKE, "GET", "https://a.snowflakecomputing.com/session", ""],
    ]),
  )("refuses a path outside the prefixes: %s", (_, call) => {
    expect(access(call)).toBe("path_not_allowed");
  });

  it("labels a Slack call by its method name", () => {
    const result = SLACK.classify(request("GET", "https://slack.com/api/chat.postMessage?channel=C1", ""));
    expect(result).toEqual({ ok: true, access: "write", operation: "Slack chat.postMessage" });
  });
});

describe("built-in provider definitions", () => {
  it.each(BUILT_IN_PROVIDERS.map((provider) => [provider.id, provider] as const))(
    "%s reserves every credential header it sends with the token",
    (_, provider) => {
      const headers = provider.credentialHeaders("TOKEN");
      const carrying = Object.entries(headers).filter(([, value]) => value.includes("TOKEN"));
      expect(carrying.length).toBeGreaterThan(0);
      for (const [name] of carrying) expect(provider.reservedHeaders).toContain(name);
      for (const name of Object.keys(headers)) expect(name).toBe(name.toLowerCase());
    },
  );

  it.each(BUILT_IN_PROVIDERS.map((provider) => [provider.id, provider] as const))(
    "%s uses https endpoints, lower-case hosts, no loopback and useful hints",
    (_, provider) => {
      expect(provider.allowLoopback).toBe(false);
      expect(provider.origin).toBeUndefined();
      for (const host of provider.hosts) expect(host).toMatch(/^[a-z0-9.-]+$/);
      expect(provider.hosts.length + (provider.hostSuffixes?.length ?? 0)).toBeGreaterThan(0);
      expect(provider.hints.length).toBeGreaterThan(80);
      if (provider.auth.kind === "oauth2") {
        for (const endpoint of [provider.auth.authorizeUrl, provider.auth.tokenUrl, provider.auth.revokeUrl]) {
          if (endpoint !== undefined) expect(new URL(endpoint).protocol).toBe("https:");
        }
      }
    },
  );

  it("gives every built-in a distinct id", () => {
    const ids = BUILT_IN_PROVIDERS.map((provider) => provider.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
