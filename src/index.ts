/**
 * Worker entry: wires configuration, the OAuth provider (which fronts /mcp and the web app) and
 * the Durable Object class. It decides nothing itself.
 */
import { apiKeyAsBearer } from "./apikeys/mcp-auth";
import { loadConfig } from "./config";
import { createProvider } from "./oauth/provider";
import { floodGuard } from "./web/rate-limits";
import { setupErrorResponse } from "./web/setup-error";

export { UserSession } from "./session/user-session";

const providers = new WeakMap<Env, ReturnType<typeof createProvider>>();

export default {
  async fetch(request, env, ctx) {
    const config = loadConfig(env);
    if (!config.ok) return setupErrorResponse(request, config.error);
    const limited = await floodGuard(request, env);
    if (limited) return limited;
    let provider = providers.get(env);
    if (!provider) {
      provider = createProvider(config.value, env);
      providers.set(env, provider);
    }
    return provider.fetch(apiKeyAsBearer(request, config.value), env, ctx);
  },
} satisfies ExportedHandler<Env>;
