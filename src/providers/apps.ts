/**
 * Provider OAuth apps are configured per provider by Worker secrets `<ID>_CLIENT_ID` and
 * `<ID>_CLIENT_SECRET` (e.g. GITHUB_CLIENT_ID). A provider without both is "not configured" and
 * says so on the connections page; nothing falls back to a shared app.
 */
export interface ProviderApp {
  clientId: string;
  clientSecret: string;
}

const envName = (providerId: string, suffix: string) => `${providerId.toUpperCase().replace(/-/g, "_")}_${suffix}`;

/** The OAuth app configured for a provider, or null. */
export function providerApp(env: object, providerId: string): ProviderApp | null {
  const bindings = env as Record<string, unknown>;
  const clientId = bindings[envName(providerId, "CLIENT_ID")];
  const clientSecret = bindings[envName(providerId, "CLIENT_SECRET")];
  if (typeof clientId !== "string" || !clientId || typeof clientSecret !== "string" || !clientSecret) return null;
  return { clientId, clientSecret };
}
