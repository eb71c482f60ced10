/**
 * What every tool handler receives: the verified identity (from the token, never from
 * arguments), the token's scopes, the bindings and the configuration.
 */

import type { Config } from "../config";
import type { AuthProps } from "../identity/props";

export interface ToolContext {
  props: AuthProps;
  scopes: string[];
  env: Env;
  config: Config;
}
