/**
 * The SQLite schema of the per-user Durable Object, applied in order by `migrate`. Append new
 * steps; never edit a shipped one. docs/storage-schema.md describes every table.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE connections (
     connection_id TEXT PRIMARY KEY,
     client_id TEXT NOT NULL,
     client_name TEXT NOT NULL,
     redirect_uri TEXT NOT NULL,
     scopes TEXT NOT NULL,
     authorized_at INTEGER NOT NULL,
     last_seen_at INTEGER,
     calls INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE consents (
     client_id TEXT NOT NULL,
     redirect_uri TEXT NOT NULL,
     resource TEXT NOT NULL,
     scopes TEXT NOT NULL,
     granted_at INTEGER NOT NULL,
     PRIMARY KEY (client_id, redirect_uri, resource)
   );`,
  `CREATE TABLE grants (
     id TEXT PRIMARY KEY,
     kind TEXT NOT NULL,
     status TEXT NOT NULL,
     connection_id TEXT NOT NULL,
     client_name TEXT NOT NULL,
     reason TEXT NOT NULL,
     requested_level TEXT NOT NULL,
     requested_providers TEXT NOT NULL,
     requested_duration_s INTEGER NOT NULL,
     call TEXT,
     call_fingerprint TEXT,
     level TEXT,
     providers TEXT NOT NULL DEFAULT '[]',
     duration_s INTEGER,
     note TEXT,
     requested_at INTEGER NOT NULL,
     pending_expires_at INTEGER NOT NULL,
     decided_at INTEGER,
     expires_at INTEGER,
     ended_at INTEGER,
     link_token_hash TEXT NOT NULL,
     request_key TEXT NOT NULL
   );
   CREATE INDEX grants_open ON grants (status, connection_id) WHERE status IN ('pending', 'approved');
   CREATE INDEX grants_dedupe ON grants (connection_id, request_key) WHERE status = 'pending';
   CREATE TABLE audit (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     at INTEGER NOT NULL,
     event TEXT NOT NULL,
     actor TEXT NOT NULL,
     grant_id TEXT,
     connection_id TEXT,
     client_name TEXT,
     detail TEXT NOT NULL DEFAULT '{}'
   );
   ALTER TABLE connections ADD COLUMN revoked_at INTEGER;`,
  `CREATE TABLE provider_links (
     provider_id TEXT PRIMARY KEY,
     kind TEXT NOT NULL,
     status TEXT NOT NULL,
     scopes TEXT NOT NULL DEFAULT '[]',
     token_obtained_at INTEGER NOT NULL,
     connected_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );`,
  // Per-account APIs (Snowflake): the one host the person connected; calls elsewhere are refused.
  "ALTER TABLE provider_links ADD COLUMN account_host TEXT;",
  // Upstream MCP servers the person added (or the catalogue offers), their auth and cached tools.
  `CREATE TABLE upstream_servers (
     name TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     source TEXT NOT NULL,
     title TEXT NOT NULL,
     auth TEXT NOT NULL,
     api_key_header TEXT,
     status TEXT NOT NULL,
     last_error TEXT,
     oauth TEXT,
     session TEXT,
     tools TEXT NOT NULL DEFAULT '[]',
     tools_at INTEGER,
     read_tools TEXT NOT NULL DEFAULT '[]',
     token_obtained_at INTEGER,
     added_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );`,
  // Connect callbacks claimed once: KV cannot take a transaction atomically, this table can.
  `CREATE TABLE connect_claims (
     state_hash TEXT PRIMARY KEY,
     claimed_at INTEGER NOT NULL
   );`,
  // One word per thing: a one-call grant's kind is `call` (it was `request`, which also named every
  // access request). The coalescing key starts with the kind, so pending ones keep coalescing.
  `UPDATE grants SET kind = 'call', request_key = '["call"' || substr(request_key, 11)
     WHERE kind = 'request' AND substr(request_key, 1, 10) = '["request"';
   UPDATE grants SET kind = 'call' WHERE kind = 'request';`,
  // Reaching the person (src/notify/): the phones that asked for a push, the one webhook, and
  // the deliveries still owed to them (retried with backoff by the alarm).
  `CREATE TABLE push_devices (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     endpoint TEXT NOT NULL UNIQUE,
     p256dh TEXT NOT NULL,
     auth TEXT NOT NULL,
     added_at INTEGER NOT NULL,
     last_delivery_at INTEGER,
     last_status TEXT
   );
   CREATE TABLE webhook (
     id TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     added_at INTEGER NOT NULL,
     last_delivery_at INTEGER,
     last_status TEXT
   );
   CREATE TABLE deliveries (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     grant_id TEXT NOT NULL,
     channel TEXT NOT NULL,
     target_id TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     next_at INTEGER NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE INDEX deliveries_due ON deliveries (next_at);`,
  // Standing rules: the person's allow ("don't ask me again") and never rules, each with an end.
  // IF NOT EXISTS so that a test re-running earlier steps over a fresh object can pass over it.
  `CREATE TABLE IF NOT EXISTS standing_rules (
     id TEXT PRIMARY KEY,
     connection_id TEXT,
     target TEXT NOT NULL,
     level TEXT NOT NULL,
     effect TEXT NOT NULL,
     source TEXT NOT NULL,
     grant_id TEXT,
     created_at INTEGER NOT NULL,
     ends_at INTEGER NOT NULL,
     ended_at INTEGER,
     end_reason TEXT
   );
   CREATE INDEX IF NOT EXISTS standing_rules_live ON standing_rules (ends_at) WHERE ended_at IS NULL;`,
  // Personal API keys for headless clients (src/apikeys/store.ts): SHA-256 of the key only.
  `CREATE TABLE IF NOT EXISTS api_keys (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     hash TEXT NOT NULL,
     issuer TEXT NOT NULL,
     subject TEXT NOT NULL,
     email TEXT,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     last_used_at INTEGER
   );`,
  // URL-mode elicitation (src/session/elicitations.ts): what a 2025-11-25 connection declared at
  // initialize, and which access request was made for which exact call of which connection.
  `CREATE TABLE IF NOT EXISTS client_capabilities (
     connection_id TEXT PRIMARY KEY,
     url_elicitation INTEGER NOT NULL,
     declared_at INTEGER NOT NULL
   );
   CREATE TABLE IF NOT EXISTS elicitations (
     request_id TEXT NOT NULL,
     call_fingerprint TEXT NOT NULL,
     connection_id TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     used_at INTEGER,
     PRIMARY KEY (request_id, call_fingerprint)
   );
   CREATE INDEX IF NOT EXISTS elicitations_call ON elicitations (connection_id, call_fingerprint, created_at);`,
  // "Last used" is recorded at most once a minute per connection (src/mcp/last-seen.ts), so a
  // count of requests could no longer be kept; the column goes.
  `ALTER TABLE connections DROP COLUMN calls;`,
];

/** Bring `sql` up to the latest schema, tracked in a one-row `schema_version` table. */
export function migrate(sql: SqlStorage): void {
  sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  const row = sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0];
  let version = row?.version ?? 0;
  if (!row) sql.exec("INSERT INTO schema_version (version) VALUES (0)");
  while (version < MIGRATIONS.length) {
    sql.exec(MIGRATIONS[version] as string);
    version++;
    sql.exec("UPDATE schema_version SET version = ?", version);
  }
}
