/**
 * Every KV key Countersign writes, built in one place. docs/storage-schema.md lists each with its
 * value shape and TTL; keep the two in step. The OAuth library's own keys (client:, grant:,
 * token:, transaction:, …) live in the same OAUTH_KV namespace under its own prefixes.
 */

// The token vault's key, `vault:<userId>:<providerId>`, is built by vaultKey() in src/vault/store.ts,
// next to the id validation that keeps one id from running into the next.

/** OIDC sign-in transaction, keyed by SHA-256(state). TTL 600 s. */
export const signinKey = (stateHash: string) => `cs:signin:${stateHash}`;

/** Provider connect transaction (PKCE verifier, user, provider), keyed by SHA-256(state). TTL 600 s. */
export const connectKey = (stateHash: string) => `cs:connect:${stateHash}`;

/** API key id -> the person's user id, so /mcp finds the key's Durable Object without a scan. TTL: the key's expiry. */
export const apiKeyIndexKey = (keyId: string) => `cs:apikey:${keyId}`;
