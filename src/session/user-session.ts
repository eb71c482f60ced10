/**
 * One Durable Object per user, named by the verified user id (never by anything a client sends).
 * It owns the user's MCP client connections and remembered consents; later, grants, timers and
 * the audit log. Thin on purpose: it stores and answers, policy lives in pure modules.
 * Public methods are RPC; every time value is passed in by the caller's clock or read once here.
 */
import { DurableObject } from "cloudflare:workers";
import { migrate } from "./schema";

export interface Connection {
  connectionId: string;
  clientId: string;
  clientName: string;
  redirectUri: string;
  scopes: string[];
  authorizedAt: number;
  lastSeenAt: number | null;
  calls: number;
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
  calls: number;
};

const toConnection = (row: ConnectionRow): Connection => ({
  connectionId: row.connection_id,
  clientId: row.client_id,
  clientName: row.client_name,
  redirectUri: row.redirect_uri,
  scopes: JSON.parse(row.scopes) as string[],
  authorizedAt: row.authorized_at,
  lastSeenAt: row.last_seen_at,
  calls: row.calls,
});

export class UserSession extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => migrate(this.#sql));
  }

  /** Record an MCP client connection (one OAuth grant) at authorization time. */
  recordConnection(connection: NewConnection): Connection {
    this.#sql.exec(
      `INSERT INTO connections (connection_id, client_id, client_name, redirect_uri, scopes, authorized_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (connection_id) DO NOTHING`,
      connection.connectionId,
      connection.clientId,
      connection.clientName,
      connection.redirectUri,
      JSON.stringify(connection.scopes),
      Date.now(),
    );
    return this.#connection(connection.connectionId) as Connection;
  }

  /**
   * Note a tool call from a connection and return it. A connection this object never recorded
   * (authorized before this object existed, or purged) is recorded now from the token's facts.
   */
  touchConnection(connection: Omit<NewConnection, "redirectUri">): Connection {
    const now = Date.now();
    this.#sql.exec(
      `INSERT INTO connections (connection_id, client_id, client_name, redirect_uri, scopes, authorized_at, last_seen_at, calls)
       VALUES (?, ?, ?, '', ?, ?, ?, 1)
       ON CONFLICT (connection_id) DO UPDATE SET last_seen_at = excluded.last_seen_at, calls = calls + 1`,
      connection.connectionId,
      connection.clientId,
      connection.clientName,
      JSON.stringify(connection.scopes),
      now,
      now,
    );
    return this.#connection(connection.connectionId) as Connection;
  }

  /** Every connection this user has authorized, most recent first. */
  listConnections(): Connection[] {
    return this.#sql
      .exec<ConnectionRow>("SELECT * FROM connections ORDER BY authorized_at DESC")
      .toArray()
      .map(toConnection);
  }

  /** Remember that the user approved `scopes` for this client + redirect URI + resource. */
  rememberConsent(key: ConsentKey, scopes: string[]): void {
    this.#sql.exec(
      `INSERT INTO consents (client_id, redirect_uri, resource, scopes, granted_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (client_id, redirect_uri, resource) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`,
      key.clientId,
      key.redirectUri,
      key.resource,
      JSON.stringify([...new Set(scopes)].sort()),
      Date.now(),
    );
  }

  /** Whether a remembered consent covers every scope now requested. */
  consentCovers(key: ConsentKey, scopes: string[]): boolean {
    const row = this.#sql
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

  /** Forget every remembered consent for a client; returns how many were removed. */
  forgetConsent(clientId: string): number {
    return this.#sql.exec("DELETE FROM consents WHERE client_id = ?", clientId).rowsWritten;
  }

  #connection(connectionId: string): Connection | null {
    const row = this.#sql
      .exec<ConnectionRow>("SELECT * FROM connections WHERE connection_id = ?", connectionId)
      .toArray()[0];
    return row ? toConnection(row) : null;
  }
}

/** The Durable Object of a verified user. */
export function sessionFor(namespace: DurableObjectNamespace<UserSession>, userId: string) {
  return namespace.get(namespace.idFromName(userId));
}
