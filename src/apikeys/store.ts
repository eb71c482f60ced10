/**
 * The person's API keys inside their Durable Object (the `api_keys` table): create (at most 20
 * live), list, verify, revoke. A key is stored as SHA-256 of its value only; the value itself
 * never reaches this object. Each key acts as its own client connection, recorded when the key
 * is made, so grants, approvals, rate limits and audit work as for an OAuth client; revoking the
 * key ends that connection and its grants, and disconnecting the connection ends the key.
 */
import { timingSafeEqual } from "../lib/crypto";
import { err, ok, type Result } from "../lib/result";
import { REQUIRED_SCOPE } from "../oauth/scopes";
import type { ClientConnections } from "../session/client-connections";
import { type ApiKeyError, keyClientId, keyConnectionId, keyExpiry, MAX_API_KEYS } from "./key";

/** What /activity shows of a key: never its hash. */
export interface ApiKeyView {
  id: string;
  name: string;
  connectionId: string;
  createdAt: number;
  expiresAt: number;
  lastUsedAt: number | null;
}

export interface NewApiKey {
  id: string;
  name: string;
  /** SHA-256 (hex) of the whole key value. */
  hash: string;
  /** Days from now until it expires (1 to 365, checked by parseKeyDays). */
  days: number;
  /** The person's verified identity, carried into the props of every call made with the key. */
  issuer: string;
  subject: string;
  email: string | null;
}

/** The facts a verified key gives the /mcp request, in the shape an OAuth token's props have. */
export interface VerifiedApiKey {
  issuer: string;
  subject: string;
  email: string | null;
  clientId: string;
  clientName: string;
  connectionId: string;
  createdAt: number;
  expiresAt: number;
}

type Row = {
  id: string;
  name: string;
  hash: string;
  issuer: string;
  subject: string;
  email: string | null;
  created_at: number;
  expires_at: number;
  last_used_at: number | null;
};

const view = (row: Row): ApiKeyView => ({
  id: row.id,
  name: row.name,
  connectionId: keyConnectionId(row.id),
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  lastUsedAt: row.last_used_at,
});

export class ApiKeys {
  readonly #sql: SqlStorage;
  readonly #connections: ClientConnections;

  constructor(sql: SqlStorage, connections: ClientConnections) {
    this.#sql = sql;
    this.#connections = connections;
  }

  /** Every key the person has, live or expired, newest first. */
  list(): ApiKeyView[] {
    return this.#sql.exec<Row>("SELECT * FROM api_keys ORDER BY created_at DESC, id").toArray().map(view);
  }

  /** Store a new key's hash and record its connection; refused past 20 live keys (nothing stored). */
  async create(key: NewApiKey, now: number): Promise<Result<ApiKeyView, ApiKeyError>> {
    const live = this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM api_keys WHERE expires_at > ?", now).one().n;
    if (live >= MAX_API_KEYS) {
      return err({
        code: "too_many_keys",
        message: `You have ${MAX_API_KEYS} keys, the most there can be. Revoke one first.`,
      });
    }
    this.#sql.exec(
      `INSERT INTO api_keys (id, name, hash, issuer, subject, email, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      key.id,
      key.name,
      key.hash,
      key.issuer,
      key.subject,
      key.email,
      now,
      keyExpiry(now, key.days),
    );
    await this.#connections.record({
      connectionId: keyConnectionId(key.id),
      clientId: keyClientId(key.id),
      clientName: key.name,
      redirectUri: "",
      scopes: [REQUIRED_SCOPE],
    });
    return ok(view(this.#row(key.id) as Row));
  }

  /**
   * The key's facts when `hash` matches its stored hash (compared in constant time), it has not
   * expired and its connection was not disconnected; null otherwise, whatever the reason.
   */
  verify(id: string, hash: string, now: number): VerifiedApiKey | null {
    const row = this.#row(id);
    if (!row || !timingSafeEqual(row.hash, hash) || row.expires_at <= now) return null;
    const connectionId = keyConnectionId(id);
    const connection = this.#connections.list().find((item) => item.connectionId === connectionId);
    if (!connection || connection.revokedAt !== null) return null;
    this.#sql.exec("UPDATE api_keys SET last_used_at = ? WHERE id = ?", now, id);
    return {
      issuer: row.issuer,
      subject: row.subject,
      email: row.email,
      clientId: keyClientId(id),
      clientName: row.name,
      connectionId,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
    };
  }

  /** Delete the key and end its connection (grants end, audited). False when there is no such key. */
  async revoke(id: string): Promise<boolean> {
    if (!this.#row(id)) return false;
    this.#sql.exec("DELETE FROM api_keys WHERE id = ?", id);
    await this.#connections.revoke(keyConnectionId(id));
    return true;
  }

  #row(id: string): Row | undefined {
    return this.#sql.exec<Row>("SELECT * FROM api_keys WHERE id = ?", id).toArray()[0];
  }
}
