/** Snapshots of KV so security tests can assert that a rejected request stored nothing. */
import { env } from "cloudflare:test";

/** Every key currently in OAUTH_KV. */
export async function kvKeys(): Promise<Set<string>> {
  const keys = new Set<string>();
  let cursor: string | undefined;
  do {
    const page = await env.OAUTH_KV.list(cursor ? { cursor } : {});
    for (const key of page.keys) keys.add(key.name);
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return keys;
}

/** Keys added since `before`. */
export async function addedKeys(before: Set<string>): Promise<string[]> {
  return [...(await kvKeys())].filter((key) => !before.has(key));
}
