/**
 * SQL for the `grants` table: rows in, Grant values out. No policy here: transitions are
 * decided by src/grants and this module only persists what they return.
 */
import type { AccessLevel, CanonicalCall, Grant, GrantKind, GrantStatus } from "../grants/types";

type GrantRow = {
  id: string;
  kind: GrantKind;
  status: GrantStatus;
  connection_id: string;
  client_name: string;
  reason: string;
  requested_level: AccessLevel;
  requested_providers: string;
  requested_duration_s: number;
  call: string | null;
  call_fingerprint: string | null;
  level: AccessLevel | null;
  providers: string;
  duration_s: number | null;
  note: string | null;
  requested_at: number;
  pending_expires_at: number;
  decided_at: number | null;
  expires_at: number | null;
  ended_at: number | null;
  link_token_hash: string;
  request_key: string;
};

export interface StoredGrant extends Grant {
  linkTokenHash: string;
  requestKey: string;
}

const fromRow = (row: GrantRow): StoredGrant => ({
  id: row.id,
  kind: row.kind,
  status: row.status,
  connectionId: row.connection_id,
  clientName: row.client_name,
  reason: row.reason,
  requestedLevel: row.requested_level,
  requestedProviders: JSON.parse(row.requested_providers) as string[],
  requestedDurationSeconds: row.requested_duration_s,
  call: row.call === null ? null : (JSON.parse(row.call) as CanonicalCall),
  callFingerprint: row.call_fingerprint,
  level: row.level,
  providers: JSON.parse(row.providers) as string[],
  durationSeconds: row.duration_s,
  note: row.note,
  requestedAt: row.requested_at,
  pendingExpiresAt: row.pending_expires_at,
  decidedAt: row.decided_at,
  expiresAt: row.expires_at,
  endedAt: row.ended_at,
  linkTokenHash: row.link_token_hash,
  requestKey: row.request_key,
});

/** Strip storage-only fields before a grant leaves the object. */
export function publicGrant(grant: StoredGrant): Grant {
  const { linkTokenHash: _hash, requestKey: _key, ...rest } = grant;
  return rest;
}

export class GrantStore {
  constructor(private readonly sql: SqlStorage) {}

  insert(grant: StoredGrant): void {
    this.sql.exec(
      `INSERT INTO grants (id, kind, status, connection_id, client_name, reason, requested_level, requested_providers,
         requested_duration_s, call, call_fingerprint, level, providers, duration_s, note, requested_at,
         pending_expires_at, decided_at, expires_at, ended_at, link_token_hash, request_key)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      grant.id,
      grant.kind,
      grant.status,
      grant.connectionId,
      grant.clientName,
      grant.reason,
      grant.requestedLevel,
      JSON.stringify(grant.requestedProviders),
      grant.requestedDurationSeconds,
      grant.call === null ? null : JSON.stringify(grant.call),
      grant.callFingerprint,
      grant.level,
      JSON.stringify(grant.providers),
      grant.durationSeconds,
      grant.note,
      grant.requestedAt,
      grant.pendingExpiresAt,
      grant.decidedAt,
      grant.expiresAt,
      grant.endedAt,
      grant.linkTokenHash,
      grant.requestKey,
    );
  }

  /** Persist the fields a transition may change. */
  update(grant: Grant): void {
    this.sql.exec(
      `UPDATE grants SET status = ?, level = ?, providers = ?, duration_s = ?, note = ?, decided_at = ?,
         expires_at = ?, ended_at = ? WHERE id = ?`,
      grant.status,
      grant.level,
      JSON.stringify(grant.providers),
      grant.durationSeconds,
      grant.note,
      grant.decidedAt,
      grant.expiresAt,
      grant.endedAt,
      grant.id,
    );
  }

  get(id: string): StoredGrant | null {
    const row = this.sql.exec<GrantRow>("SELECT * FROM grants WHERE id = ?", id).toArray()[0];
    return row ? fromRow(row) : null;
  }

  /** Pending and approved grants (the only ones that can still change or allow anything). */
  open(connectionId?: string): StoredGrant[] {
    const rows =
      connectionId === undefined
        ? this.sql.exec<GrantRow>("SELECT * FROM grants WHERE status IN ('pending', 'approved') ORDER BY requested_at")
        : this.sql.exec<GrantRow>(
            "SELECT * FROM grants WHERE status IN ('pending', 'approved') AND connection_id = ? ORDER BY requested_at",
            connectionId,
          );
    return rows.toArray().map(fromRow);
  }

  /** A pending request from this connection with the same request key, for coalescing. */
  pendingDuplicate(connectionId: string, requestKey: string): StoredGrant | null {
    const row = this.sql
      .exec<GrantRow>(
        "SELECT * FROM grants WHERE status = 'pending' AND connection_id = ? AND request_key = ? LIMIT 1",
        connectionId,
        requestKey,
      )
      .toArray()[0];
    return row ? fromRow(row) : null;
  }

  countPending(now: number): number {
    const row = this.sql
      .exec<{ n: number }>("SELECT COUNT(*) AS n FROM grants WHERE status = 'pending' AND pending_expires_at > ?", now)
      .toArray()[0];
    return row?.n ?? 0;
  }

  /** Open grants whose deadline has passed at `now`. */
  due(now: number, limit: number): StoredGrant[] {
    return this.sql
      .exec<GrantRow>(
        `SELECT * FROM grants WHERE (status = 'pending' AND pending_expires_at <= ?)
           OR (status = 'approved' AND expires_at <= ?) LIMIT ?`,
        now,
        now,
        limit,
      )
      .toArray()
      .map(fromRow);
  }

  /** The earliest deadline of any open grant, or null. */
  nextDeadline(): number | null {
    const row = this.sql
      .exec<{ at: number | null }>(
        `SELECT MIN(CASE WHEN status = 'pending' THEN pending_expires_at ELSE expires_at END) AS at
           FROM grants WHERE status IN ('pending', 'approved')`,
      )
      .toArray()[0];
    return row?.at ?? null;
  }

  /** Recent grants of any status, newest first. */
  recent(limit: number): StoredGrant[] {
    return this.sql
      .exec<GrantRow>("SELECT * FROM grants ORDER BY requested_at DESC LIMIT ?", limit)
      .toArray()
      .map(fromRow);
  }
}
