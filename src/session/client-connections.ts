/**
 * The life of a person's MCP client connections beyond their rows: a new authorization
 * supersedes the earlier connections of the same client and redirect URI, and the person's
 * disconnect ends a connection's grants, forgets its client's remembered consent and is audited.
 * Grants are ended only through the grant book, so each end is audited and wakes its waiters.
 * The rest ("last used", remembered consents) is the store's, with the clock read here.
 */
import type { AuditLog } from "./audit-log";
import type { Connection, ConnectionStore, ConsentKey, NewConnection } from "./connection-store";
import type { GrantBook } from "./grant-book";

export class ClientConnections {
  readonly #store: ConnectionStore;
  readonly #book: GrantBook;
  readonly #audit: AuditLog;

  constructor(store: ConnectionStore, book: GrantBook, audit: AuditLog) {
    this.#store = store;
    this.#book = book;
    this.#audit = audit;
  }

  /** Every connection the person has authorized, most recent first. */
  list(): Connection[] {
    return this.#store.list();
  }

  /** One connection as recorded, or null. */
  get(connectionId: string): Connection | null {
    return this.#store.get(connectionId);
  }

  /** Record "last used" for a connection, recording it from the token's facts when missing. */
  touch(connection: Omit<NewConnection, "redirectUri">): void {
    this.#store.touch(connection, Date.now());
  }

  /** The connection as recorded, recording it from the token's facts when missing (no count). */
  ensure(connection: Omit<NewConnection, "redirectUri">): Connection {
    return this.#store.ensure(connection, Date.now());
  }

  /** Remember that the person approved `scopes` for this client + redirect URI + resource. */
  rememberConsent(key: ConsentKey, scopes: string[]): void {
    this.#store.rememberConsent(key, scopes, Date.now());
  }

  /** Whether a remembered consent covers every scope now requested. */
  consentCovers(key: ConsentKey, scopes: string[]): boolean {
    return this.#store.consentCovers(key, scopes);
  }

  /**
   * Record a connection at authorization time. The OAuth library revokes the earlier grants of
   * the same client and redirect URI when a new one completes, so those connections end here
   * too, with any grants they still held.
   */
  async record(connection: NewConnection): Promise<Connection> {
    const now = Date.now();
    const recorded = this.#store.record(connection, now);
    const superseded = this.#store.supersededBy(connection.connectionId, connection.clientId, connection.redirectUri);
    for (const old of superseded) {
      this.#book.endForConnection(old.connectionId, "system");
      this.#store.markRevoked(old.connectionId, now);
    }
    if (superseded.length > 0) await this.#book.schedule();
    return recorded;
  }

  /**
   * The person disconnects a client connection: its grants end, it is marked revoked and its
   * client's remembered consent is forgotten. Null when this person has no such connection.
   */
  async revoke(connectionId: string): Promise<Connection | null> {
    const connection = this.#store.get(connectionId);
    if (!connection) return null;
    const now = Date.now();
    this.#book.endForConnection(connectionId, "human");
    this.#store.markRevoked(connectionId, now);
    this.#store.forgetConsent(connection.clientId);
    this.#audit.append({
      at: now,
      event: "connection_revoked",
      actor: "human",
      grantId: null,
      connectionId,
      clientName: connection.clientName,
      detail: {},
    });
    await this.#book.schedule();
    return this.#store.get(connectionId);
  }
}
