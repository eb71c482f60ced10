/**
 * Slack: an RPC API where the method name, not the HTTP verb, decides the effect (a GET to
 * chat.postMessage posts). Reads are an exact allow-list of method names; every other method,
 * including unknown ones, is a write whatever the verb. Data only, no I/O.
 */
import { hasMethodOverride, outsidePrefixes, read, routedPath, write } from "../classify";
import type { ProviderDefinition } from "../types";

const PATH_PREFIXES = ["/api/"];
const METHOD_PATH = /^\/api\/([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)+)$/;

/** Web API methods that only read (https://api.slack.com/methods). Exact names, never prefixes. */
const READ_METHODS = new Set([
  "api.test",
  "auth.test",
  "bookmarks.list",
  "bots.info",
  "channels.history",
  "channels.info",
  "channels.list",
  "chat.getPermalink",
  "chat.scheduledMessages.list",
  "conversations.history",
  "conversations.info",
  "conversations.list",
  "conversations.members",
  "conversations.replies",
  "dnd.info",
  "emoji.list",
  "files.info",
  "files.list",
  "pins.list",
  "reactions.get",
  "reactions.list",
  "reminders.info",
  "reminders.list",
  "search.all",
  "search.files",
  "search.messages",
  "stars.list",
  "team.info",
  "team.profile.get",
  "usergroups.list",
  "usergroups.users.list",
  "users.conversations",
  "users.getPresence",
  "users.info",
  "users.list",
  "users.lookupByEmail",
  "users.profile.get",
]);

/** Read and write user scopes matching READ_METHODS and the common writes. */
const USER_SCOPES = [
  "channels:history",
  "channels:read",
  "groups:history",
  "groups:read",
  "im:history",
  "im:read",
  "mpim:history",
  "mpim:read",
  "users:read",
  "users:read.email",
  "search:read",
  "files:read",
  "reactions:read",
  "reactions:write",
  "pins:read",
  "bookmarks:read",
  "team:read",
  "chat:write",
];

export const SLACK: ProviderDefinition = {
  id: "slack",
  name: "Slack",
  hosts: ["slack.com"],
  pathPrefixes: PATH_PREFIXES,
  auth: {
    kind: "oauth2",
    authorizeUrl: "https://slack.com/oauth/v2/authorize",
    tokenUrl: "https://slack.com/api/oauth.v2.access",
    revokeUrl: "https://slack.com/api/auth.revoke",
    revokeStyle: "bearer",
    scopes: USER_SCOPES,
    scopeSeparator: ",",
    scopeParam: "user_scope",
    tokenEndpointAuth: "client_secret_basic",
    tokenResponse: "slack_authed_user",
    refreshable: false,
  },
  credentialHeaders: (token) => ({ authorization: `Bearer ${token}` }),
  reservedHeaders: ["authorization"],
  hints: [
    "Slack Web API at https://slack.com/api/{method}, acting as the person (user token).",
    "Reads: conversations.list, conversations.history?channel=C…, conversations.replies?channel=C…&ts=…,",
    "users.info?user=U…, search.messages?query=…, auth.test. Pass arguments as query parameters (GET) or",
    "a form/JSON body (POST; JSON needs Content-Type: application/json; charset=utf-8).",
    "Paginate with cursor=response_metadata.next_cursor and limit (≤ 200). Errors come back as HTTP 200 with ok:false.",
    "The method name decides read or write: chat.postMessage, chat.update, reactions.add… are writes even as GET.",
  ].join(" "),
  classify(request) {
    const outside = outsidePrefixes(request, PATH_PREFIXES);
    if (outside) return outside;
    const path = routedPath(request) ?? "";
    const name = METHOD_PATH.exec(path)?.[1];
    if (!name) return write(`Slack ${path.slice(0, 100)} (not a method name)`);
    if (hasMethodOverride(request)) return write(`Slack ${name} (method override)`);
    return READ_METHODS.has(name) ? read(`Slack ${name}`) : write(`Slack ${name}`);
  },
  allowLoopback: false,
};
