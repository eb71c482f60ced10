/**
 * Google (Calendar, Gmail, Drive): REST classified by method, with an exact allow-list of POST
 * endpoints that only read (Calendar free/busy). Google APIs honour X-HTTP-Method-Override, so
 * any override is a write. Batch and upload endpoints are POSTs and so writes. Data only, no I/O.
 */
import { outsidePrefixes, restClassify } from "../classify";
import type { ProviderDefinition } from "../types";

const PATH_PREFIXES = [
  "/calendar/v3/",
  "/gmail/v1/",
  "/drive/v3/",
  "/upload/",
  "/batch/",
  "/oauth2/v3/userinfo",
  "/oauth2/v2/userinfo",
];
const READ_ONLY_POSTS = [{ path: "/calendar/v3/freeBusy" }];

export const GOOGLE: ProviderDefinition = {
  id: "google",
  name: "Google (Calendar, Gmail, Drive)",
  hosts: ["www.googleapis.com", "gmail.googleapis.com", "calendar.googleapis.com"],
  pathPrefixes: PATH_PREFIXES,
  auth: {
    kind: "oauth2",
    authorizeUrl: "https://accounts.google.com/o/oauth2/v2/auth",
    tokenUrl: "https://oauth2.googleapis.com/token",
    revokeUrl: "https://oauth2.googleapis.com/revoke",
    scopes: [
      "https://www.googleapis.com/auth/calendar.readonly",
      "https://www.googleapis.com/auth/gmail.readonly",
      "https://www.googleapis.com/auth/drive.readonly",
    ],
    scopeSeparator: " ",
    tokenEndpointAuth: "client_secret_post",
    // offline + consent: Google only returns a refresh token on a consented offline grant.
    extraAuthorizeParams: { access_type: "offline", prompt: "consent", include_granted_scopes: "true" },
    refreshable: true,
  },
  credentialHeaders: (token) => ({ authorization: `Bearer ${token}` }),
  reservedHeaders: ["authorization"],
  hints: [
    "Google APIs with read-only scopes for Calendar, Gmail and Drive.",
    "Calendar: GET https://www.googleapis.com/calendar/v3/users/me/calendarList,",
    "GET /calendar/v3/calendars/primary/events?timeMin=2025-01-01T00:00:00Z&singleEvents=true&orderBy=startTime,",
    "POST /calendar/v3/freeBusy (read).",
    "Gmail: GET https://gmail.googleapis.com/gmail/v1/users/me/messages?q=from:alice newer_than:7d,",
    "then GET /gmail/v1/users/me/messages/{id}?format=metadata or format=full.",
    "Drive: GET https://www.googleapis.com/drive/v3/files?q=name contains 'plan'&fields=files(id,name,mimeType),",
    "GET /drive/v3/files/{id}?alt=media to download, GET /drive/v3/files/{id}/export?mimeType=text/plain for Docs.",
    "Paginate with pageToken from nextPageToken.",
  ].join(" "),
  classify(request) {
    return outsidePrefixes(request, PATH_PREFIXES) ?? restClassify(request, READ_ONLY_POSTS);
  },
  allowLoopback: false,
};
