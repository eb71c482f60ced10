/**
 * The provider registry: the built-in providers (one file each under registry/) plus custom ones
 * from configuration, and the one function that says which provider, if any, owns a URL. The
 * match is strict: exact host (or a Snowflake-style suffix), the provider's scheme and port, no
 * userinfo, and a canonical path (paths.ts) under one of its prefixes. A URL no provider owns,
 * or whose path is ambiguous, gets no credential.
 * Pure; the only registry-style module allowed to gather many files.
 */
import { canonicalPath } from "../grants/paths";
import { pathHasPrefix } from "./classify";
import { ATLASSIAN } from "./registry/atlassian";
import { GITHUB } from "./registry/github";
import { GOOGLE } from "./registry/google";
import { LINEAR } from "./registry/linear";
import { NOTION } from "./registry/notion";
import { SENTRY } from "./registry/sentry";
import { SLACK } from "./registry/slack";
import { SNOWFLAKE } from "./registry/snowflake";
import type { ProviderDefinition } from "./types";

export const BUILT_IN_PROVIDERS: readonly ProviderDefinition[] = [
  LINEAR,
  GITHUB,
  NOTION,
  SLACK,
  GOOGLE,
  ATLASSIAN,
  SENTRY,
  SNOWFLAKE,
];

export interface Registry {
  all(): ProviderDefinition[];
  byId(id: string): ProviderDefinition | undefined;
  forUrl(url: URL): ProviderDefinition | undefined;
}

/** One DNS label: letters, digits, hyphens and (Snowflake account names) underscores. */
const LABEL = "[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?";
const LABELS = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);

/** Whether a provider serves this exact hostname (WHATWG-normalised: lower case, as typed otherwise). */
export function ownsHost(provider: ProviderDefinition, hostname: string): boolean {
  if (provider.hosts.includes(hostname)) return true;
  return (provider.hostSuffixes ?? []).some((suffix) => {
    if (!hostname.endsWith(suffix)) return false;
    return LABELS.test(hostname.slice(0, -suffix.length));
  });
}

/** Whether a provider owns this URL: origin, host and path prefix all match, no userinfo. */
export function ownsUrl(provider: ProviderDefinition, url: URL): boolean {
  if (url.username !== "" || url.password !== "") return false;
  if (url.protocol !== "https:" && !provider.allowLoopback) return false;
  if (provider.origin !== undefined) {
    if (url.origin !== provider.origin) return false;
  } else if (url.protocol !== "https:" || url.port !== "" || !ownsHost(provider, url.hostname)) {
    return false;
  }
  const path = canonicalPath(url.pathname);
  return path.ok && provider.pathPrefixes.some((prefix) => pathHasPrefix(path.path, prefix));
}

/**
 * Built-ins plus custom providers. Throws on a duplicate id: parseCustomProviders already refuses
 * those, so a duplicate here is a programming error, not a configuration one.
 */
export function createRegistry(custom: readonly ProviderDefinition[]): Registry {
  const providers = [...BUILT_IN_PROVIDERS, ...custom];
  const byId = new Map<string, ProviderDefinition>();
  for (const provider of providers) {
    if (byId.has(provider.id)) throw new Error(`duplicate provider id "${provider.id}"`);
    byId.set(provider.id, provider);
  }
  return {
    all: () => [...providers],
    byId: (id) => byId.get(id),
    forUrl: (url) => providers.find((provider) => ownsUrl(provider, url)),
  };
}
