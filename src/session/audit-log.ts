/**
 * The append-only audit log: who did what to which grant, and when. Nothing here updates or
 * deletes a row; only purging the whole user (account deletion) removes history.
 * Entries never carry tokens, cookies or link secrets.
 *
 * Time order: `seq` is the order of events, and `at` never goes backwards along it. An entry
 * stamped earlier than the newest one (a caller that read the clock before another caller's
 * entry landed, or a clock moved back) is stored at the newest entry's `at`, so sorting by `seq`
 * and sorting by `at` never disagree.
 */
export type AuditEvent =
  | "requested"
  | "approved"
  | "denied"
  | "expired"
  | "revoked"
  | "consumed"
  | "call_allowed"
  | "call_denied"
  | "call_completed"
  | "provider_connected"
  | "provider_disconnected"
  | "connection_revoked"
  | "server_added"
  | "server_connected"
  | "server_disconnected"
  | "server_removed"
  | "device_added"
  | "device_removed"
  | "webhook_set"
  | "webhook_removed"
  | "rule_created"
  | "rule_removed"
  | "rule_expired"
  | "extended";

export type AuditActor = "agent" | "human" | "system";

/** Small JSON facts about an event; never a token, cookie or link secret. */
export type AuditDetail = Record<string, string | number | boolean | null | string[]>;

export interface AuditEntry {
  seq: number;
  at: number;
  event: AuditEvent;
  actor: AuditActor;
  grantId: string | null;
  connectionId: string | null;
  clientName: string | null;
  detail: AuditDetail;
}

type AuditRow = {
  seq: number;
  at: number;
  event: AuditEvent;
  actor: AuditActor;
  grant_id: string | null;
  connection_id: string | null;
  client_name: string | null;
  detail: string;
};

export class AuditLog {
  constructor(private readonly sql: SqlStorage) {}

  /** Append one entry; its `at` is clamped to the newest entry's, never earlier (see the header). */
  append(entry: Omit<AuditEntry, "seq">): void {
    // One statement, so the clamp reads the row it follows: nothing can land in between.
    this.sql.exec(
      `INSERT INTO audit (at, event, actor, grant_id, connection_id, client_name, detail)
       VALUES (MAX(?, COALESCE((SELECT at FROM audit ORDER BY seq DESC LIMIT 1), 0)), ?, ?, ?, ?, ?, ?)`,
      entry.at,
      entry.event,
      entry.actor,
      entry.grantId,
      entry.connectionId,
      entry.clientName,
      JSON.stringify(entry.detail),
    );
  }

  /** Newest first; `before` pages backwards by sequence number. */
  list(limit: number, before?: number): AuditEntry[] {
    const rows =
      before === undefined
        ? this.sql.exec<AuditRow>("SELECT * FROM audit ORDER BY seq DESC LIMIT ?", limit)
        : this.sql.exec<AuditRow>("SELECT * FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT ?", before, limit);
    return rows.toArray().map((row) => ({
      seq: row.seq,
      at: row.at,
      event: row.event,
      actor: row.actor,
      grantId: row.grant_id,
      connectionId: row.connection_id,
      clientName: row.client_name,
      detail: JSON.parse(row.detail) as AuditDetail,
    }));
  }
}
