/** Custom providers from CUSTOM_PROVIDERS: strict parsing with fixed error wording, and their classification. */
import { describe, expect, it } from "vitest";
import { parseCustomProviders } from "../../../src/providers/custom";
import type { ProviderDefinition } from "../../../src/providers/types";
import { request } from "./request";

const BASE = { id: "acme", name: "Acme", base_url: "https://api.acme.example/v2", api_key_header: "X-Api-Key" };
const parse = (entries: unknown, allowLoopback = false) =>
  parseCustomProviders(typeof entries === "string" ? entries : JSON.stringify(entries), { allowLoopback });
const message = (entries: unknown, allowLoopback = false) => {
  const result = parse(entries, allowLoopback);
  return result.ok ? "parsed" : `${result.error.code}: ${result.error.message}`;
};
function provider(entry: Record<string, unknown>, allowLoopback = false): ProviderDefinition {
  const result = parse([{ ...BASE, ...entry }], allowLoopback);
  if (!result.ok) throw new Error(result.error.message);
  return result.value[0] as ProviderDefinition;
}

describe("parseCustomProviders", () => {
  it("parses a valid entry into an api_key provider", () => {
    const acme = provider({ api_key_header: "Authorization", api_key_prefix: "Bearer " });
    expect(acme).toMatchObject({
      id: "acme",
      name: "Acme",
      hosts: ["api.acme.example"],
      pathPrefixes: ["/v2"],
      origin: "https://api.acme.example",
      allowLoopback: false,
      reservedHeaders: ["authorization"],
      auth: { kind: "api_key", header: "Authorization", prefix: "Bearer " },
    });
    expect(acme.credentialHeaders("k1")).toEqual({ authorization: "Bearer k1" });
    expect(acme.hints).toContain("https://api.acme.example/v2");
  });

  it.each([[""], ["  "], ["[]"]])("reads %j as no custom providers", (json) => {
    expect(parse(json)).toEqual({ ok: true, value: [] });
  });

  it.each([
    [
      "a loopback base_url with both flags",
      { base_url: "http://127.0.0.1:8787", dev_loopback: true },
      "http://127.0.0.1:8787",
    ],
    ["localhost over https", { base_url: "https://localhost:8443/x", dev_loopback: true }, "https://localhost:8443"],
    ["[::1]", { base_url: "http://[::1]:9000", dev_loopback: true }, "http://[::1]:9000"],
  ])("accepts %s when the deployment allows loopback", (_, entry, origin) => {
    const dev = provider(entry, true);
    expect(dev.origin).toBe(origin);
    expect(dev.allowLoopback).toBe(true);
  });

  it.each<[string, unknown, boolean, string]>([
    ["not JSON", "[{", false, 'unexpected "CUSTOM_PROVIDERS" value: not JSON'],
    ["an object instead of an array", { id: "acme" }, false, 'unexpected "CUSTOM_PROVIDERS" value'],
    ["a non-object entry", ["acme"], false, "CUSTOM_PROVIDERS[0]: unexpected entry"],
    ["a missing id", [{ ...BASE, id: undefined }], false, 'CUSTOM_PROVIDERS[0]: missing "id"'],
    ["a missing base_url", [{ ...BASE, base_url: undefined }], false, 'missing "base_url"'],
    ["a missing api_key_header", [{ ...BASE, api_key_header: undefined }], false, 'missing "api_key_header"'],
    ["an upper-case id", [{ ...BASE, id: "Acme" }], false, 'unexpected "id" value'],
    ["an id with a slash", [{ ...BASE, id: "a/b" }], false, 'unexpected "id" value'],
    ["a built-in id", [{ ...BASE, id: "github" }], false, 'unexpected "id" value: "github" is a built-in provider'],
    [
      "a repeated id",
      [BASE, { ...BASE, base_url: "https://other.example" }],
      false,
      'CUSTOM_PROVIDERS[1]: unexpected "id" value: "acme" is declared twice',
    ],
    ["an unknown key", [{ ...BASE, api_key: "secret" }], false, 'CUSTOM_PROVIDERS[0]: unexpected "api_key"'],
    ["an empty name", [{ ...BASE, name: " " }], false, 'unexpected "name" value'],
    ["a name with a newline", [{ ...BASE, name: "A\nB" }], false, 'unexpected "name" value'],
    [
      "a base_url that is not a URL",
      [{ ...BASE, base_url: "api.acme.example" }],
      false,
      'unexpected "base_url" value: not a URL',
    ],
    [
      "userinfo in base_url",
      [{ ...BASE, base_url: "https://u:p@api.acme.example" }],
      false,
      'unexpected "base_url" value: user info',
    ],
    [
      "a user name in base_url",
      [{ ...BASE, base_url: "https://api.github.com@evil.example" }],
      false,
      'unexpected "base_url" value: user info',
    ],
    [
      "http on a public host",
      [{ ...BASE, base_url: "http://api.acme.example" }],
      false,
      'unexpected "base_url" value: use https',
    ],
    [
      "another scheme",
      [{ ...BASE, base_url: "ftp://api.acme.example" }],
      false,
      'unexpected "base_url" value: use https',
    ],
    [
      "a query in base_url",
      [{ ...BASE, base_url: "https://api.acme.example/?k=1" }],
      false,
      'unexpected "base_url" value: no query',
    ],
    [
      "a fragment in base_url",
      [{ ...BASE, base_url: "https://api.acme.example/#x" }],
      false,
      'unexpected "base_url" value: no query',
    ],
    [
      "a port on a public host",
      [{ ...BASE, base_url: "https://api.acme.example:8443" }],
      false,
      'unexpected "base_url" value: use the default https port',
    ],
    [
      "a private host",
      [{ ...BASE, base_url: "https://10.0.0.5" }],
      false,
      'unexpected "base_url" value: private hosts',
    ],
    [
      "the metadata host",
      [{ ...BASE, base_url: "https://169.254.169.254/latest" }],
      false,
      'unexpected "base_url" value: metadata hosts',
    ],
    [
      "a decimal loopback",
      [{ ...BASE, base_url: "https://2130706433" }],
      false,
      'unexpected "base_url" value: loopback hosts',
    ],
    [
      "a built-in host",
      [{ ...BASE, base_url: "https://api.github.com/repos" }],
      false,
      'unexpected "base_url" value: the host belongs to built-in provider "github"',
    ],
    [
      "a Snowflake account host",
      [{ ...BASE, base_url: "https://a.snowflakecomputing.com" }],
      false,
      'built-in provider "snowflake"',
    ],
    [
      "loopback without dev_loopback",
      [{ ...BASE, base_url: "http://127.0.0.1:8787" }],
      true,
      'unexpected "base_url" value: loopback hosts need',
    ],
    [
      "loopback on a deployment that refuses it",
      [{ ...BASE, base_url: "http://127.0.0.1:8787", dev_loopback: true }],
      false,
      'unexpected "base_url" value: loopback hosts need',
    ],
    [
      "localhost without either flag",
      [{ ...BASE, base_url: "https://localhost" }],
      false,
      'unexpected "base_url" value: loopback hosts need',
    ],
    [
      "another loopback address",
      [{ ...BASE, base_url: "http://127.0.0.2:8787", dev_loopback: true }],
      true,
      'unexpected "dev_loopback" value',
    ],
    ["dev_loopback on a public host", [{ ...BASE, dev_loopback: true }], true, 'unexpected "dev_loopback" value'],
    ["a non-boolean dev_loopback", [{ ...BASE, dev_loopback: "true" }], true, 'unexpected "dev_loopback" value'],
    [
      "overlapping base paths",
      [BASE, { ...BASE, id: "acme2", base_url: "https://api.acme.example/v2/sub" }],
      false,
      'CUSTOM_PROVIDERS[1]: unexpected "base_url" value: overlaps custom provider "acme"',
    ],
    [
      "a framing header as key header",
      [{ ...BASE, api_key_header: "Host" }],
      false,
      'unexpected "api_key_header" value',
    ],
    ["a header name with a space", [{ ...BASE, api_key_header: "X Key" }], false, 'unexpected "api_key_header" value'],
    [
      "a prefix with a newline",
      [{ ...BASE, api_key_prefix: "Bearer\r\nX: y" }],
      false,
      'unexpected "api_key_prefix" value',
    ],
    [
      "a lower-case read method",
      [{ ...BASE, reads: [{ method: "post", path: "/v2/search" }] }],
      false,
      'unexpected "reads[0].method" value',
    ],
    [
      "a read method outside the list",
      [{ ...BASE, reads: [{ method: "PROPFIND", path: "/v2/x" }] }],
      false,
      'unexpected "reads[0].method" value',
    ],
    [
      "a read path outside base_url",
      [{ ...BASE, reads: [{ method: "POST", path: "/v1/search" }] }],
      false,
      'unexpected "reads[0].path" value',
    ],
    [
      "a read path with a dot segment",
      [{ ...BASE, reads: [{ method: "POST", path: "/v2/../admin" }] }],
      false,
      'unexpected "reads[0].path" value',
    ],
    [
      "a read path with a query",
      [{ ...BASE, reads: [{ method: "POST", path: "/v2/search?x=1" }] }],
      false,
      'unexpected "reads[0].path" value',
    ],
    [
      "a read path with an inner wildcard",
      [{ ...BASE, reads: [{ method: "POST", path: "/v2/*/query" }] }],
      false,
      'unexpected "reads[0].path" value',
    ],
    [
      "a read path with a path parameter",
      [{ ...BASE, reads: [{ method: "POST", path: "/v2/search;x" }] }],
      false,
      'unexpected "reads[0].path" value',
    ],
    [
      "a read path with an encoded slash",
      [{ ...BASE, reads: [{ method: "POST", path: "/v2/a%2Fb" }] }],
      false,
      'unexpected "reads[0].path" value',
    ],
    [
      "a read path in a non-canonical spelling",
      [{ ...BASE, reads: [{ method: "POST", path: "/v2/%73earch" }] }],
      false,
      'unexpected "reads[0].path" value',
    ],
    [
      "a base path with an empty segment",
      [{ ...BASE, base_url: "https://api.acme.example/v2//x" }],
      false,
      'unexpected "base_url" value: the path is not in canonical form',
    ],
    [
      "a relative read path",
      [{ ...BASE, reads: [{ method: "POST", path: "v2/search" }] }],
      false,
      'unexpected "reads[0].path" value',
    ],
  ])("refuses %s", (_, entries, allowLoopback, expected) => {
    expect(message(entries, allowLoopback)).toContain(`custom_providers_invalid: `);
    expect(message(entries, allowLoopback)).toContain(expected);
  });

  it("allows two providers on one host with disjoint base paths", () => {
    const result = parse([BASE, { ...BASE, id: "acme-v3", base_url: "https://api.acme.example/v3" }]);
    expect(result.ok && result.value.map((entry) => entry.id)).toEqual(["acme", "acme-v3"]);
  });
});

describe("custom provider classification", () => {
  const acme = provider({
    reads: [
      { method: "POST", path: "/v2/search" },
      { method: "POST", path: "/v2/reports/*" },
    ],
  });
  const access = (method: string, url: string, body = "", headers: Record<string, string> = {}) => {
    const result = acme.classify(request(method, url, body, headers));
    return result.ok ? result.access : result.code;
  };

  it.each([
    ["GET", "https://api.acme.example/v2/items", "", {}, "read"],
    ["HEAD", "https://api.acme.example/v2/items", "", {}, "read"],
    ["POST", "https://api.acme.example/v2/search", "{}", {}, "read"],
    ["POST", "https://api.acme.example/v2/reports/weekly", "{}", {}, "read"],
    ["POST", "https://api.acme.example/v2/reports/a/b", "{}", {}, "read"],
    ["POST", "https://api.acme.example/v2/search/", "{}", {}, "write"],
    ["POST", "https://api.acme.example/v2/searchx", "{}", {}, "write"],
    ["POST", "https://api.acme.example/v2/reports", "{}", {}, "write"],
    ["PUT", "https://api.acme.example/v2/search", "{}", {}, "write"],
    ["DELETE", "https://api.acme.example/v2/items/1", "", {}, "write"],
    ["POST", "https://api.acme.example/v2/items", "{}", {}, "write"],
    ["POST", "https://api.acme.example/v2/search", "{}", { "x-http-method-override": "DELETE" }, "write"],
    ["GET", "https://api.acme.example/v2/items?_method=DELETE", "", {}, "write"],
    ["POST", "https://api.acme.example/v2/search", '{"_method":"DELETE"}', {}, "write"],
    ["GET", "https://api.acme.example/v1/items", "", {}, "path_not_allowed"],
    ["GET", "https://api.acme.example/v2/items", "{}", {}, "write"],
    ["POST", "https://api.acme.example/v2/%73earch", "{}", {}, "read"],
    ["POST", "https://api.acme.example/v2/reports/..%2f..%2fitems", "{}", {}, "path_not_allowed"],
    ["POST", "https://api.acme.example/v2/reports/..;/items", "{}", {}, "path_not_allowed"],
    ["POST", "https://api.acme.example/v2/reports//x", "{}", {}, "path_not_allowed"],
    ["POST", "https://api.acme.example/v2/search", "{}", { x_http_method_override: "DELETE" }, "write"],
  ])("classifies %s %s (body %j, headers %j) as %s", (method, url, body, headers, expected) => {
    expect(access(method, url, body, headers)).toBe(expected);
  });
});
