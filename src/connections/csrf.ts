/**
 * The CSRF scope of every form that changes a person's connections: /connections (providers and
 * MCP servers) and the connect card on an approval page, which posts to the same routes. One
 * scope, so a token minted for one of these forms is accepted by the others and by nothing else.
 */
export const CSRF_SCOPE = "connections";
