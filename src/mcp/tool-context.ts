/**
 * What every tool handler receives: the verified identity (from the token, never from
 * arguments), the token's scopes, the bindings and the configuration.
 */
import type { AuthProps } from "../identity/props";
import type { Config } from "../lib/config";

export interface ToolContext {
  props: AuthProps;
  scopes: string[];
  env: Env;
  config: Config;
}
