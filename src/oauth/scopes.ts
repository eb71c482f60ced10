/**
 * The scopes this authorization server grants. `mcp` is the baseline every /mcp call needs;
 * `offline_access` asks for a refresh token. Anything else a client asks for is dropped before
 * the consent page, so a token never carries a scope we do not understand.
 */
export const REQUIRED_SCOPE = "mcp";
export const SCOPES_SUPPORTED: readonly string[] = [REQUIRED_SCOPE, "offline_access"];

/** The requested scopes we can grant; a request naming none of them gets the baseline. */
export function grantableScopes(requested: readonly string[]): string[] {
  const known = [...new Set(requested)].filter((scope) => SCOPES_SUPPORTED.includes(scope));
  return known.length > 0 ? known : [REQUIRED_SCOPE];
}
