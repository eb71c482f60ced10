/**
 * Notion: REST at api.notion.com classified by method, except an exact allow-list of POST
 * endpoints that only search or query. `/v1/databases/{id}/query/extra` is not on the list and
 * stays a write. Data only, no I/O.
 */
import { outsidePrefixes, restClassify } from "../classify";
import type { ProviderDefinition } from "../types";

const PATH_PREFIXES = ["/v1/"];
/** Notion ids are UUIDs, with or without dashes. */
const ID = "[0-9A-Za-z-]{1,64}";
const READ_ONLY_POSTS = [
  { path: "/v1/search" },
  { path: new RegExp(`^/v1/databases/${ID}/query$`) },
  { path: new RegExp(`^/v1/data_sources/${ID}/query$`) },
];

export const NOTION: ProviderDefinition = {
  id: "notion",
  name: "Notion",
  hosts: ["api.notion.com"],
  pathPrefixes: PATH_PREFIXES,
  auth: {
    kind: "oauth2",
    authorizeUrl: "https://api.notion.com/v1/oauth/authorize",
    tokenUrl: "https://api.notion.com/v1/oauth/token",
    revokeUrl: "https://api.notion.com/v1/oauth/revoke",
    revokeStyle: "json_basic",
    // Notion has no scopes: the person picks pages during consent.
    scopes: [],
    scopeSeparator: " ",
    tokenEndpointAuth: "client_secret_basic",
    extraAuthorizeParams: { owner: "user" },
    refreshable: true,
  },
  credentialHeaders: (token) => ({ authorization: `Bearer ${token}`, "notion-version": "2022-06-28" }),
  reservedHeaders: ["authorization"],
  hints: [
    "Notion API at https://api.notion.com/v1 with Notion-Version 2022-06-28 (sent for you; send your own",
    "Notion-Version 2025-09-03 header to use /v1/data_sources). Only pages shared with the integration are visible.",
    'Reads: POST /v1/search {"query": "...", "page_size": 100}, POST /v1/databases/{id}/query,',
    "POST /v1/data_sources/{id}/query, GET /v1/pages/{id}, GET /v1/blocks/{id}/children, GET /v1/users/me.",
    "Paginate with start_cursor from next_cursor while has_more is true.",
    "Writes: POST /v1/pages, PATCH /v1/pages/{id}, PATCH /v1/blocks/{id}/children, DELETE /v1/blocks/{id}.",
  ].join(" "),
  classify(request) {
    return outsidePrefixes(request, PATH_PREFIXES) ?? restClassify(request, READ_ONLY_POSTS);
  },
  allowLoopback: false,
};
