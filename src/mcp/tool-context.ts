/**
 * What every tool handler receives: the verified identity (from the token, never from
 * arguments), the token's scopes, the bindings and the configuration.
 */

import type { Config } from "../config";
import type { AuthProps } from "../identity/props";
import { sessionFor } from "../session/user-session";

export interface ToolContext {
  props: AuthProps;
  scopes: string[];
  env: Env;
  config: Config;
}

/** The person's object, named by the verified user id. */
export const sessionOf = (context: ToolContext) => sessionFor(context.env.SESSION, context.props.userId);
