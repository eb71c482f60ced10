/**
 * Sentry: REST under /api/0/ on sentry.io and its regional hosts, classified by method, with a
 * personal auth token the person pastes (no OAuth app needed). Data only, no I/O.
 */
import { outsidePrefixes, restClassify } from "../classify";
import type { ProviderDefinition } from "../types";

const PATH_PREFIXES = ["/api/0/"];

export const SENTRY: ProviderDefinition = {
  id: "sentry",
  name: "Sentry",
  hosts: ["sentry.io", "us.sentry.io", "de.sentry.io"],
  pathPrefixes: PATH_PREFIXES,
  auth: {
    kind: "api_key",
    header: "Authorization",
    prefix: "Bearer ",
    hint: "Create a personal token in Sentry under User settings → Personal Tokens (https://sentry.io/settings/account/api/auth-tokens/) with the org:read, project:read and event:read scopes (add event:write to resolve issues).",
  },
  credentialHeaders: (token) => ({ authorization: `Bearer ${token}` }),
  reservedHeaders: ["authorization"],
  hints: [
    "Sentry API at https://sentry.io/api/0/ (use https://us.sentry.io or https://de.sentry.io for a region's data).",
    "GET /api/0/organizations/ lists organisations; GET /api/0/organizations/{org}/issues/?query=is:unresolved&statsPeriod=24h;",
    "GET /api/0/organizations/{org}/issues/{issue_id}/events/latest/ for a stack trace.",
    'Paginate by following the Link header\'s cursor (results="true").',
    "PUT /api/0/organizations/{org}/issues/{id}/ (e.g. status=resolved) is a write.",
  ].join(" "),
  classify(request) {
    return outsidePrefixes(request, PATH_PREFIXES) ?? restClassify(request);
  },
  allowLoopback: false,
};
