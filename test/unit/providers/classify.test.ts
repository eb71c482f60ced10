/** Shared classifier helpers: REST by method, method override, read-only POST allow-lists, strict JSON. */
import { describe, expect, it } from "vitest";
import {
  hasMethodOverride,
  isEndpoint,
  outsidePrefixes,
  pathHasPrefix,
  readOnlyPost,
  restAccess,
  restClassify,
} from "../../../src/providers/classify";
import { hasCaseVariantKey, parseJsonStrict } from "../../../src/providers/strict-json";
import { json, request } from "./request";

describe("restAccess", () => {
  it.each([["GET"], ["HEAD"]])("reads on %s", (method) => {
    expect(restAccess(method)).toBe("read");
  });

  it.each([
    ["POST"],
    ["PUT"],
    ["PATCH"],
    ["DELETE"],
    ["PROPFIND"],
    ["TRACE"],
    ["CONNECT"],
    ["OPTIONS"],
    ["get"],
    ["GET "],
    [" HEAD"],
    ["pAtCh"],
    [""],
  ])("writes on %j (anything not exactly GET or HEAD)", (method) => {
    expect(restAccess(method)).toBe("write");
  });
});

describe("hasMethodOverride", () => {
  const url = "https://api.github.com/repos/o/r/issues";

  it.each([
    ["x-http-method-override header", request("POST", url, "", { "x-http-method-override": "DELETE" })],
    ["x-http-method header", request("POST", url, "", { "x-http-method": "DELETE" })],
    ["x-method-override header", request("POST", url, "", { "x-method-override": "PUT" })],
    ["an override header even on GET", request("GET", url, "", { "x-http-method-override": "DELETE" })],
    ["an override header with an empty value", request("GET", url, "", { "x-http-method-override": "" })],
    ["_method in the query", request("GET", `${url}?_method=DELETE`)],
    ["percent-encoded _method in the query", request("GET", `${url}?%5Fmethod=DELETE`)],
    ["_METHOD in the query", request("GET", `${url}?_METHOD=DELETE`)],
    ["_method in a form body", request("POST", url, "title=x&_method=DELETE")],
    ["percent-encoded _method in a form body", request("POST", url, "%5fmethod=PATCH")],
    ["_method in a JSON body", request("POST", url, json({ title: "x", _method: "DELETE" }))],
    [
      "_method in a multipart body",
      request("POST", url, '--b\r\nContent-Disposition: form-data; name="_method"\r\n\r\nDELETE\r\n--b--'),
    ],
  ])("detects %s", (_, call) => {
    expect(hasMethodOverride(call)).toBe(true);
  });

  it.each([
    ["a plain GET", request("GET", `${url}?state=open`)],
    ["a JSON body without _method", request("POST", url, json({ title: "x", method: "DELETE" }))],
    ["_method nested in JSON (only the top level counts)", request("POST", url, json({ inner: { _method: "x" } }))],
    ["an unrelated header", request("POST", url, "", { "x-request-id": "1" })],
  ])("ignores %s", (_, call) => {
    expect(hasMethodOverride(call)).toBe(false);
  });
});

describe("readOnlyPost", () => {
  const allow = [{ path: "/v1/search" }, { path: /\/v1\/databases\/[a-z0-9-]+\/query/ }];

  it.each([
    ["POST", "https://api.notion.com/v1/search", true],
    ["POST", "https://api.notion.com/v1/databases/abc-1/query", true],
    ["POST", "https://api.notion.com/v1/databases/abc-1/query/extra", false],
    ["POST", "https://api.notion.com/prefix/v1/databases/abc-1/query", false],
    ["POST", "https://api.notion.com/v1/search/", false],
    ["POST", "https://api.notion.com/v1/searchx", false],
    ["POST", "https://api.notion.com//v1/search", false],
    // Matched on the path the API routes (decoded once), not on its spelling.
    ["POST", "https://api.notion.com/v1/%73earch", true],
    ["POST", "https://api.notion.com/v1/search%2f..", false],
    ["POST", "https://api.notion.com/v1/search;x", false],
    ["PATCH", "https://api.notion.com/v1/search", false],
    ["PUT", "https://api.notion.com/v1/search", false],
  ])("%s %s → %s (whole-path match, unanchored RegExp included)", (method, url, expected) => {
    expect(readOnlyPost(request(method, url, "{}"), allow)).toBe(expected);
  });

  it("refuses an allow-listed POST that carries a method override", () => {
    const call = request("POST", "https://api.notion.com/v1/search", "{}", { "x-http-method-override": "DELETE" });
    expect(readOnlyPost(call, allow)).toBe(false);
  });
});

describe("restClassify", () => {
  it.each([
    ["GET", "", {}, "read"],
    ["HEAD", "", {}, "read"],
    ["POST", "{}", {}, "write"],
    ["DELETE", "", {}, "write"],
    ["GET", "", { "x-http-method-override": "DELETE" }, "write"],
    ["GET", '{"a":1}', {}, "write"],
    ["HEAD", "x", {}, "write"],
  ] as const)("classifies %s with body %j and headers %j as %s", (method, body, headers, access) => {
    const result = restClassify(request(method, "https://api.github.com/user", body, { ...headers }));
    expect(result.ok && result.access).toBe(access);
  });

  it("labels a read-only POST as such", () => {
    const result = restClassify(request("POST", "https://api.notion.com/v1/search", "{}"), [{ path: "/v1/search" }]);
    expect(result).toEqual({ ok: true, access: "read", operation: "POST /v1/search (read-only endpoint)" });
  });
});

describe("hasMethodOverride header spellings", () => {
  it.each([["X-HTTP-Method-Override"], ["X_HTTP_Method_Override"], ["x_http_method"], ["X-Method-Override"]])(
    "sees %s however it is spelled",
    (header) => {
      expect(hasMethodOverride(request("GET", "https://api.github.com/user", "", { [header]: "DELETE" }))).toBe(true);
      expect(restClassify(request("GET", "https://api.github.com/user", "", { [header]: "DELETE" }))).toMatchObject({
        access: "write",
      });
    },
  );
});

describe("isEndpoint and outsidePrefixes", () => {
  it.each([
    ["https://api.github.com/graphql", true],
    ["https://api.github.com/graphql/", true],
    ["https://api.github.com/GraphQL", true],
    ["https://api.github.com/graphq%6C", true],
    ["https://api.github.com/graphql/x", false],
    ["https://api.github.com/graphqlx", false],
    ["https://api.github.com//graphql", false],
  ])("%s is /graphql → %s", (url, expected) => {
    expect(isEndpoint(request("GET", url), "/graphql")).toBe(expected);
  });

  it.each([
    ["https://api.notion.com/v1/a%2f..%2f..%2fx"],
    ["https://api.notion.com/v1/a;b"],
    ["https://api.notion.com/v1//a"],
  ])("refuses the ambiguous path %s as path_not_allowed", (url) => {
    expect(outsidePrefixes(request("GET", url), ["/v1/"])).toMatchObject({ ok: false, code: "path_not_allowed" });
  });
});

describe("pathHasPrefix", () => {
  it.each([
    ["/graphql", "/graphql", true],
    ["/graphql/x", "/graphql", true],
    ["/graphqlx", "/graphql", false],
    ["/api/0/x", "/api/0/", true],
    ["/api/0", "/api/0/", false],
    ["/anything", "/", true],
  ])("%s under %s → %s", (path, prefix, expected) => {
    expect(pathHasPrefix(path, prefix)).toBe(expected);
  });
});

describe("parseJsonStrict", () => {
  it.each([
    ['{"query":"{a}","query":"mutation{b}"}'],
    ['{"query":"{a}","\\u0071uery":"mutation{b}"}'],
    ['[{"a":1},{"b":{"c":1,"c":2}}]'],
  ])("refuses duplicate keys in %s", (text) => {
    expect(parseJsonStrict(text)).toEqual({ ok: false, error: "duplicate_key" });
  });

  it.each([['{"a":{"a":1},"b":["a","a"]}'], ['[{"a":1},{"a":2}]'], ['{"a\\"":1,"a":2}'], ["1"]])(
    "accepts %s",
    (text) => {
      expect(parseJsonStrict(text)).toEqual({ ok: true, value: JSON.parse(text) });
    },
  );

  it("refuses text that is not JSON", () => {
    expect(parseJsonStrict("query { a }")).toEqual({ ok: false, error: "invalid" });
  });
});

describe("hasCaseVariantKey", () => {
  it.each([
    [["query", "Query"], true],
    [["QUERY"], true],
    [["operationname"], true],
    [["statemen\u017ft"], false],
    [["\u017ftatement"], true],
    [["query", "variables"], false],
    [["queryX"], false],
  ])("%j against the GraphQL and SQL keys → %s", (keys, expected) => {
    expect(hasCaseVariantKey(keys, ["query", "operationName", "variables", "statement"])).toBe(expected);
  });
});
