/**
 * GitHub: REST at api.github.com classified by method, plus GraphQL at /graphql classified by
 * operation type. A few POST endpoints that only render (Markdown) are reads. The GraphQL
 * endpoint is recognised however it is spelled (`/graphql/`, `/GraphQL`): a GET there is never
 * judged as a plain REST read. Data only, no I/O.
 */
import { graphqlAccess, isEndpoint, outsidePrefixes, restClassify } from "../classify";
import type { ProviderDefinition } from "../types";

const PATH_PREFIXES = ["/"];
/** POST endpoints that compute a result without changing anything. */
const READ_ONLY_POSTS = [{ path: "/markdown" }, { path: "/markdown/raw" }];

/** What common calls do, in words for the approval page (describe.ts). */
const OPERATIONS = [
  { method: "GET", path: "/user", words: "read your GitHub profile" },
  { method: "POST", path: "/user/repos", words: "create a repository" },
  { method: "PATCH", path: "/repos/{owner}/{repo}", words: "change the settings of the repository {owner}/{repo}" },
  { method: "DELETE", path: "/repos/{owner}/{repo}", words: "delete the repository {owner}/{repo}" },
  { method: "POST", path: "/repos/{owner}/{repo}/issues", words: "create an issue in {owner}/{repo}" },
  { method: "PATCH", path: "/repos/{owner}/{repo}/issues/{number}", words: "change issue #{number} in {owner}/{repo}" },
  {
    method: "POST",
    path: "/repos/{owner}/{repo}/issues/{number}/comments",
    words: "comment on issue or pull request #{number} in {owner}/{repo}",
  },
  { method: "POST", path: "/repos/{owner}/{repo}/pulls", words: "open a pull request in {owner}/{repo}" },
  {
    method: "PUT",
    path: "/repos/{owner}/{repo}/pulls/{number}/merge",
    words: "merge pull request #{number} in {owner}/{repo}",
  },
];

export const GITHUB: ProviderDefinition = {
  id: "github",
  name: "GitHub",
  hosts: ["api.github.com"],
  pathPrefixes: PATH_PREFIXES,
  auth: {
    kind: "oauth2",
    authorizeUrl: "https://github.com/login/oauth/authorize",
    // Answers form-encoded unless the request sends `Accept: application/json`.
    tokenUrl: "https://github.com/login/oauth/access_token",
    revokeUrl: "https://api.github.com/applications/{client_id}/grant",
    revokeStyle: "github_grant",
    scopes: ["repo", "read:user"],
    scopeSeparator: " ",
    tokenEndpointAuth: "client_secret_post",
    refreshable: false,
  },
  credentialHeaders: (token) => ({
    authorization: `Bearer ${token}`,
    accept: "application/vnd.github+json",
    "x-github-api-version": "2022-11-28",
  }),
  reservedHeaders: ["authorization"],
  hints: [
    "GitHub REST API at https://api.github.com (API version 2022-11-28 is sent for you).",
    "Useful reads: GET /user, GET /user/repos, GET /repos/{owner}/{repo}/issues?state=open,",
    "GET /repos/{owner}/{repo}/pulls, GET /repos/{owner}/{repo}/contents/{path},",
    "GET /search/issues?q=repo:{owner}/{repo}+is:open, GET /search/code?q=...",
    "Paginate with per_page (max 100) and page, following the Link header.",
    "GraphQL: POST /graphql with a JSON body; queries are reads, mutations are writes.",
    "POST /markdown renders Markdown and counts as a read; other POST, PUT, PATCH and DELETE calls are writes.",
  ].join(" "),
  classify(request) {
    const outside = outsidePrefixes(request, PATH_PREFIXES);
    if (outside) return outside;
    if (isEndpoint(request, "/graphql")) return graphqlAccess(request);
    return restClassify(request, READ_ONLY_POSTS);
  },
  operations: OPERATIONS,
  allowLoopback: false,
};
