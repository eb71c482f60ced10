/**
 * SQL for the `connections` and `consents` tables: the MCP client connections (one per OAuth
 * grant) a user authorized, and the consents they asked us to remember. Persistence only.
 */
/** The least time between two "last used" writes for one connection (see `touch`). */
export const LAST_SEEN_INTERVAL_MS = 60_000;

export interface Connection {
  connectionId: string;
  clientId: string;
  clientName: string;
  redirectUri: string;
  scopes: string[];
  authorizedAt: number;
  lastSeenAt: number | null;
  revokedAt: number | null;
}

export interface NewConnection {
  connectionId: string;
  clientId: string;
  clientName: string;
  redirectUri: string;
  scopes: string[];
}

export interface ConsentKey {
  clientId: string;
  redirectUri: string;
  resource: string;
}

type ConnectionRow = {
  connection_id: string;
  client_id: string;
  client_name: string;
  redirect_uri: string;
  scopes: string;
  authorized_at: number;
  last_seen_at: number | null;
  revoked_at: number | null;
};

const toConnection = (row: ConnectionRow): Connection => ({
  connectionId: row.connection_id,
  clientId: row.client_id,
  clientName: row.client_name,
  redirectUri: row.redirect_uri,
  scopes: JSON.parse(row.scopes) as string[],
  authorizedAt: row.authorized_at,
  lastSeenAt: row.last_seen_at,
  revokedAt: row.revoked_at,
});

export class ConnectionStore {
  constructor(private readonly sql: SqlStorage) {}

  record(connection: NewConnection, now: number): Connection {
    this.sql.exec(
      `INSERT INTO connections (connection_id, client_id, client_name, redirect_uri, scopes, authorized_at)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (connection_id) DO NOTHING`,
      connection.connectionId,
      connection.clientId,
      connection.clientName,
      connection.redirectUri,
      JSON.stringify(connection.scopes),
      now,
    );
    return this.get(connection.connectionId) as Connection;
  }

  /**
   * Record that the connection was used at `now`, recording a connection first seen here (e.g.
   * authorized before this object) from the token's facts. A row used less than
   * `LAST_SEEN_INTERVAL_MS` ago is not written again, however many isolates ask. True when a row
   * was written.
   */
  touch(connection: Omit<NewConnection, "redirectUri">, now: number): boolean {
    const { rowsWritten } = this.sql.exec(
      `INSERT INTO connections (connection_id, client_id, client_name, redirect_uri, scopes, authorized_at, last_seen_at)
       VALUES (?, ?, ?, '', ?, ?, ?)
       ON CONFLICT (connection_id) DO UPDATE SET last_seen_at = excluded.last_seen_at
       WHERE last_seen_at IS NULL OR excluded.last_seen_at - last_seen_at >= ? OR excluded.last_seen_at < last_seen_at`,
      connection.connectionId,
      connection.clientId,
      connection.clientName,
      JSON.stringify(connection.scopes),
      now,
      now,
      LAST_SEEN_INTERVAL_MS,
    );
    return rowsWritten > 0;
  }

  /**
   * The connection, inserted from the token's facts when this object has no row for it. A token
   * does not carry the redirect URI, so the row records none (as `touch` does). Read first: this
   * runs on every `whoami`, and an `INSERT … DO NOTHING` is still a write transaction the object
   * must commit (docs/performance.md, "Floors").
   */
  ensure(connection: Omit<NewConnection, "redirectUri">, now: number): Connection {
    return this.get(connection.connectionId) ?? this.record({ ...connection, redirectUri: "" }, now);
  }

  get(connectionId: string): Connection | null {
    const row = this.sql
      .exec<ConnectionRow>("SELECT * FROM connections WHERE connection_id = ?", connectionId)
      .toArray()[0];
    return row ? toConnection(row) : null;
  }

  list(): Connection[] {
    return this.sql
      .exec<ConnectionRow>("SELECT * FROM connections ORDER BY authorized_at DESC")
      .toArray()
      .map(toConnection);
  }

  /** Connections of the same client and redirect URI other than `keep`, still marked live. */
  supersededBy(keep: string, clientId: string, redirectUri: string): Connection[] {
    return this.sql
      .exec<ConnectionRow>(
        `SELECT * FROM connections WHERE client_id = ? AND redirect_uri = ? AND connection_id != ? AND revoked_at IS NULL`,
        clientId,
        redirectUri,
        keep,
      )
      .toArray()
      .map(toConnection);
  }

  markRevoked(connectionId: string, now: number): void {
    this.sql.exec("UPDATE connections SET revoked_at = ? WHERE connection_id = ?", now, connectionId);
  }

  rememberConsent(key: ConsentKey, scopes: string[], now: number): void {
    this.sql.exec(
      `INSERT INTO consents (client_id, redirect_uri, resource, scopes, granted_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (client_id, redirect_uri, resource) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`,
      key.clientId,
      key.redirectUri,
      key.resource,
      JSON.stringify([...new Set(scopes)].sort()),
      now,
    );
  }

  /** Whether a remembered consent covers every scope now requested. */
  consentCovers(key: ConsentKey, scopes: string[]): boolean {
    const row = this.sql
      .exec<{ scopes: string }>(
        "SELECT scopes FROM consents WHERE client_id = ? AND redirect_uri = ? AND resource = ?",
        key.clientId,
        key.redirectUri,
        key.resource,
      )
      .toArray()[0];
    if (!row) return false;
    const granted = new Set(JSON.parse(row.scopes) as string[]);
    return scopes.every((scope) => granted.has(scope));
  }

  forgetConsent(clientId: string): number {
    return this.sql.exec("DELETE FROM consents WHERE client_id = ?", clientId).rowsWritten;
  }
}
