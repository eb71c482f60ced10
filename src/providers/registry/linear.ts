/**
 * Linear: one GraphQL endpoint. Reads are GraphQL documents made only of queries; everything
 * else (mutations, persisted queries, anything unparseable) is a write. Data only, no I/O.
 */
import { graphqlAccess, outsidePrefixes } from "../classify";
import type { ProviderDefinition } from "../types";

const PATH_PREFIXES = ["/graphql"];

export const LINEAR: ProviderDefinition = {
  id: "linear",
  name: "Linear",
  hosts: ["api.linear.app"],
  pathPrefixes: PATH_PREFIXES,
  auth: {
    kind: "oauth2",
    authorizeUrl: "https://linear.app/oauth/authorize",
    tokenUrl: "https://api.linear.app/oauth/token",
    revokeUrl: "https://api.linear.app/oauth/revoke",
    revokeStyle: "bearer",
    scopes: ["read", "write"],
    scopeSeparator: ",",
    tokenEndpointAuth: "client_secret_post",
    refreshable: true,
  },
  credentialHeaders: (token) => ({ authorization: `Bearer ${token}` }),
  reservedHeaders: ["authorization"],
  hints: [
    "Linear has one GraphQL endpoint: POST https://api.linear.app/graphql with a JSON body",
    '{"query": "...", "variables": {...}}. Queries are reads; any mutation is a write.',
    "Start with `{ viewer { id name email } }`; list with `issues(first: 50, after: $cursor, filter: {...})`",
    "and page with `pageInfo { hasNextPage endCursor }` (Relay-style connections).",
    'Find issues by key with `issue(id: "ENG-123")`; teams with `teams { nodes { id key name } }`.',
    "Persisted queries and batched arrays containing mutations are treated as writes.",
  ].join(" "),
  classify(request) {
    return outsidePrefixes(request, PATH_PREFIXES) ?? graphqlAccess(request);
  },
  allowLoopback: false,
};
