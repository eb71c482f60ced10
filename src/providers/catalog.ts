/**
 * The providers a grant can name: id, display name (what the approval page shows next to a
 * checkbox) and the exact API hosts a call to that provider may target. The vault, OAuth
 * endpoints and read/write classification of each provider build on this list.
 */
export interface ProviderInfo {
  id: string;
  name: string;
  hosts: readonly string[];
}

export const PROVIDERS: readonly ProviderInfo[] = [
  { id: "linear", name: "Linear", hosts: ["api.linear.app"] },
  { id: "github", name: "GitHub", hosts: ["api.github.com"] },
  { id: "notion", name: "Notion", hosts: ["api.notion.com"] },
  { id: "slack", name: "Slack", hosts: ["slack.com"] },
  {
    id: "google",
    name: "Google (Calendar, Gmail, Drive)",
    hosts: ["www.googleapis.com", "gmail.googleapis.com", "calendar.googleapis.com"],
  },
  { id: "atlassian", name: "Atlassian (Jira, Confluence)", hosts: ["api.atlassian.com"] },
  { id: "sentry", name: "Sentry", hosts: ["sentry.io", "us.sentry.io", "de.sentry.io"] },
  { id: "snowflake", name: "Snowflake", hosts: [] },
];

const BY_ID = new Map(PROVIDERS.map((provider) => [provider.id, provider]));

/** The provider with this id, or undefined. */
export const providerById = (id: string): ProviderInfo | undefined => BY_ID.get(id);

/** The provider that owns exactly this host (lower-case, no trailing dot), or undefined. */
export function providerForHost(host: string): ProviderInfo | undefined {
  return PROVIDERS.find((provider) => provider.hosts.includes(host));
}
