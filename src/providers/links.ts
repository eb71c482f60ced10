/**
 * SQL for `provider_links`: which providers the person connected and whether each still works.
 * This table, not KV, is the source of truth for "connected": the sealed token lives in the
 * vault (KV), and `token_obtained_at` lets the object notice a stale KV read after a refresh.
 */
export type LinkStatus = "connected" | "reauth_required";

export interface ProviderLink {
  providerId: string;
  kind: "oauth2" | "api_key";
  status: LinkStatus;
  scopes: string[];
  tokenObtainedAt: number;
  connectedAt: number;
  updatedAt: number;
  /** For per-account providers (host suffixes): the only host this credential may be sent to. */
  accountHost: string | null;
}

type LinkRow = {
  provider_id: string;
  kind: "oauth2" | "api_key";
  status: LinkStatus;
  scopes: string;
  token_obtained_at: number;
  connected_at: number;
  updated_at: number;
  account_host: string | null;
};

const fromRow = (row: LinkRow): ProviderLink => ({
  providerId: row.provider_id,
  kind: row.kind,
  status: row.status,
  scopes: JSON.parse(row.scopes) as string[],
  tokenObtainedAt: row.token_obtained_at,
  connectedAt: row.connected_at,
  updatedAt: row.updated_at,
  accountHost: row.account_host,
});

export class ProviderLinkStore {
  constructor(private readonly sql: SqlStorage) {}

  get(providerId: string): ProviderLink | null {
    const row = this.sql.exec<LinkRow>("SELECT * FROM provider_links WHERE provider_id = ?", providerId).toArray()[0];
    return row ? fromRow(row) : null;
  }

  list(): ProviderLink[] {
    return this.sql.exec<LinkRow>("SELECT * FROM provider_links ORDER BY provider_id").toArray().map(fromRow);
  }

  /** A new or replaced connection: always `connected`. */
  connect(
    providerId: string,
    kind: ProviderLink["kind"],
    scopes: string[],
    obtainedAt: number,
    now: number,
    accountHost: string | null = null,
  ): void {
    this.sql.exec(
      `INSERT INTO provider_links (provider_id, kind, status, scopes, token_obtained_at, connected_at, updated_at, account_host)
       VALUES (?, ?, 'connected', ?, ?, ?, ?, ?)
       ON CONFLICT (provider_id) DO UPDATE SET kind = excluded.kind, status = 'connected', scopes = excluded.scopes,
         token_obtained_at = excluded.token_obtained_at, connected_at = excluded.connected_at,
         updated_at = excluded.updated_at, account_host = excluded.account_host`,
      providerId,
      kind,
      JSON.stringify(scopes),
      obtainedAt,
      now,
      now,
      accountHost,
    );
  }

  /** After a refresh: the newer token's time, so an older KV copy is recognised as stale. */
  refreshed(providerId: string, obtainedAt: number, now: number): void {
    this.sql.exec(
      "UPDATE provider_links SET token_obtained_at = ?, updated_at = ? WHERE provider_id = ?",
      obtainedAt,
      now,
      providerId,
    );
  }

  markReauth(providerId: string, now: number): void {
    this.sql.exec(
      "UPDATE provider_links SET status = 'reauth_required', updated_at = ? WHERE provider_id = ?",
      now,
      providerId,
    );
  }

  delete(providerId: string): boolean {
    return this.sql.exec("DELETE FROM provider_links WHERE provider_id = ?", providerId).rowsWritten > 0;
  }
}
