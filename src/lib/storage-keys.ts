/**
 * Every KV key Countersign writes, built in one place. docs/storage-schema.md lists each with its
 * value shape and TTL; keep the two in step. The OAuth library's own keys (client:, grant:,
 * token:, transaction:, …) live in the same OAUTH_KV namespace under its own prefixes.
 */

/** OIDC sign-in transaction, keyed by SHA-256(state). TTL 600 s. */
export const signinKey = (stateHash: string) => `cs:signin:${stateHash}`;
