/** GraphQL classification: only documents made entirely of queries are reads; everything else fails closed. */
import { describe, expect, it } from "vitest";
import { graphqlAccess } from "../../../src/providers/classify";
import type { ProviderRequest } from "../../../src/providers/types";
import { json, request } from "./request";

const URL_ = "https://api.linear.app/graphql";
const post = (body: string, headers: Record<string, string> = {}) => request("POST", URL_, body, headers);
const get = (query: string) => request("GET", `${URL_}?${query}`);
const q = (query: string) => `query=${encodeURIComponent(query)}`;

describe("graphqlAccess", () => {
  it.each<[string, ProviderRequest, string]>([
    ["a named query", post(json({ query: "query Me { viewer { id } }" })), "GraphQL query"],
    ["anonymous shorthand", post(json({ query: "{ viewer { id } }" })), "GraphQL query"],
    [
      "a query with variables and operationName",
      post(
        json({
          query: "query A($n: Int) { issues(first: $n) { nodes { id } } }",
          operationName: "A",
          variables: { n: 5 },
        }),
      ),
      "GraphQL query",
    ],
    [
      "a query with a fragment",
      post(json({ query: "query { viewer { ...F } } fragment F on User { id }" })),
      "GraphQL query",
    ],
    [
      "two queries in one document",
      post(json({ query: "query A { a } query B { b }", operationName: "A" })),
      "GraphQL query",
    ],
    ["a batch of queries", post(json([{ query: "{ a }" }, { query: "query B { b }" }])), "GraphQL query batch (2)"],
    ["a GET ?query= query", get(q("{ viewer { id } }")), "GraphQL query"],
    [
      "a GET query with variables",
      get(`${q("query($id: ID!) { node(id: $id) { id } }")}&variables=${encodeURIComponent('{"id":"1"}')}`),
      "GraphQL query",
    ],
    ["non-persisted extensions", post(json({ query: "{ a }", extensions: { tracing: true } })), "GraphQL query"],
  ])("reads %s", (_, call, operation) => {
    expect(graphqlAccess(call)).toEqual({ ok: true, access: "read", operation });
  });

  it.each<[string, ProviderRequest]>([
    ["a mutation in the POST body", post(json({ query: 'mutation { issueDelete(id: "1") { success } }' }))],
    ["a mutation in GET ?query=", get(q('mutation { issueDelete(id: "1") { success } }'))],
    [
      "a mutation in a batch mixed with queries",
      post(json([{ query: "{ a }" }, { query: "mutation { b }" }, { query: "{ c }" }])),
    ],
    ["a subscription", post(json({ query: "subscription { issueUpdated { id } }" }))],
    [
      "operationName selecting a query next to a mutation",
      post(json({ query: "query A { a } mutation B { b }", operationName: "A" })),
    ],
    ["a mutation after a fragment", post(json({ query: "fragment F on X { id } mutation { b { ...F } }" }))],
    ["a persisted-query id without a query", post(json({ id: "abc123" }))],
    ["a documentId without a query", post(json({ documentId: "abc123", variables: {} }))],
    ["an id next to a query", post(json({ id: "abc123", query: "{ a }" }))],
    ["an APQ hash without a query", post(json({ extensions: { persistedQuery: { version: 1, sha256Hash: "ab" } } }))],
    [
      "an APQ hash with a query",
      post(json({ query: "{ a }", extensions: { persistedQuery: { version: 1, sha256Hash: "ab" } } })),
    ],
    ["extensions that are not an object", post(json({ query: "{ a }", extensions: '{"persistedQuery":{}}' }))],
    [
      "a GET persisted query",
      get(`extensions=${encodeURIComponent('{"persistedQuery":{"version":1,"sha256Hash":"ab"}}')}`),
    ],
    ["a GET with an id", get("id=abc123")],
    ["a GET with two query parameters", get(`${q("{ a }")}&${q("mutation { b }")}`)],
    ["a GET without a query", get("variables=%7B%7D")],
    ["a GET with a body", request("GET", `${URL_}?${q("{ a }")}`, json({ query: "mutation { b }" }))],
    ["a parse error", post(json({ query: "query { a " }))],
    ["an empty document", post(json({ query: "" }))],
    ["a document of type definitions", post(json({ query: "type T { a: Int }" }))],
    ["a document with only a fragment", post(json({ query: "fragment F on X { id }" }))],
    ["a query that is not a string", post(json({ query: ["{ a }"] }))],
    ["a body that is not JSON", post("{ viewer { id } }")],
    ["a raw application/graphql body", post("query { a }", { "content-type": "application/graphql" })],
    ["a JSON string body", post(json("{ a }"))],
    ["a JSON null body", post("null")],
    ["an empty batch", post("[]")],
    ["a batch with a non-object", post(json([{ query: "{ a }" }, 1]))],
    [
      "duplicate query keys (JSON.parse keeps the last, some servers the first)",
      post('{"query":"mutation { b }","query":"{ a }"}'),
    ],
    ["a POST with ?query= in the URL", request("POST", `${URL_}?${q("mutation { b }")}`, json({ query: "{ a }" }))],
    ["a method override header", post(json({ query: "{ a }" }), { "x-http-method-override": "DELETE" })],
    ["_method in the JSON body", post(json({ query: "{ a }", _method: "DELETE" }))],
    ["PUT", request("PUT", URL_, json({ query: "{ a }" }))],
    ["HEAD", request("HEAD", `${URL_}?${q("{ a }")}`)],
    ["a document over the token limit", post(json({ query: `{ ${"a ".repeat(25_000)}}` }))],
  ])("writes on %s", (_, call) => {
    const result = graphqlAccess(call);
    expect(result.ok && result.access).toBe("write");
  });

  it("names the operation type that made it a write", () => {
    const result = graphqlAccess(post(json({ query: "subscription { s }" })));
    expect(result).toEqual({ ok: true, access: "write", operation: "GraphQL subscription" });
  });
});
