/**
 * Atlassian (Jira, Confluence) through the OAuth 2.0 (3LO) gateway at api.atlassian.com: REST
 * classified by method, with an exact allow-list of Jira search POSTs that only read. The
 * `{cloudid}` segment is one path segment, never a path. Data only, no I/O.
 */
import { outsidePrefixes, restClassify } from "../classify";
import type { ProviderDefinition } from "../types";

const PATH_PREFIXES = ["/ex/jira/", "/ex/confluence/", "/oauth/token/accessible-resources", "/me"];
const JIRA = "^/ex/jira/[0-9A-Za-z-]{1,64}/rest/api/[23]";
const READ_ONLY_POSTS = [
  { path: new RegExp(`${JIRA}/search$`) },
  { path: new RegExp(`${JIRA}/search/jql$`) },
  { path: new RegExp(`${JIRA}/search/approximate-count$`) },
  { path: new RegExp(`${JIRA}/issue/bulkfetch$`) },
];

export const ATLASSIAN: ProviderDefinition = {
  id: "atlassian",
  name: "Atlassian (Jira, Confluence)",
  hosts: ["api.atlassian.com"],
  pathPrefixes: PATH_PREFIXES,
  auth: {
    kind: "oauth2",
    authorizeUrl: "https://auth.atlassian.com/authorize",
    tokenUrl: "https://auth.atlassian.com/oauth/token",
    scopes: [
      "read:jira-work",
      "write:jira-work",
      "read:jira-user",
      "read:confluence-content.all",
      "search:confluence",
      "offline_access",
    ],
    scopeSeparator: " ",
    tokenEndpointAuth: "client_secret_post",
    extraAuthorizeParams: { audience: "api.atlassian.com", prompt: "consent" },
    // Rotating refresh tokens (offline_access): each refresh returns a new refresh token.
    refreshable: true,
  },
  credentialHeaders: (token) => ({ authorization: `Bearer ${token}`, accept: "application/json" }),
  reservedHeaders: ["authorization"],
  hints: [
    "First GET https://api.atlassian.com/oauth/token/accessible-resources to find the site's cloudid.",
    "Jira: https://api.atlassian.com/ex/jira/{cloudid}/rest/api/3/...; search with",
    'POST /rest/api/3/search/jql {"jql": "project = ENG AND status != Done", "fields": ["summary","status"], "maxResults": 50}',
    "(a read; paginate with nextPageToken), GET /rest/api/3/issue/{key}.",
    'Confluence: https://api.atlassian.com/ex/confluence/{cloudid}/wiki/rest/api/search?cql=text~"plan" (CQL search),',
    "GET /wiki/api/v2/pages/{id}?body-format=storage. Other POST, PUT and DELETE calls are writes.",
  ].join(" "),
  classify(request) {
    return outsidePrefixes(request, PATH_PREFIXES) ?? restClassify(request, READ_ONLY_POSTS);
  },
  allowLoopback: false,
};
