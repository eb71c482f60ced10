/**
 * The Hono environment shared by every web route: the Worker bindings (plus the OAuth helpers
 * the provider injects) and the parsed configuration.
 */
import type { OAuthHelpers } from "@cloudflare/workers-oauth-provider";
import type { Context } from "hono";
import type { Config } from "../config";

export type WebBindings = Env & { OAUTH_PROVIDER: OAuthHelpers };
export type WebEnv = { Bindings: WebBindings; Variables: { config: Config } };
export type WebContext = Context<WebEnv>;
