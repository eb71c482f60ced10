/**
 * URL-mode elicitation in the person's object: what each 2025-11-25 client connection declared at
 * `initialize` (that protocol sends capabilities only then, and the stateless /mcp lane forgets
 * them), and which access request was made for which exact call of which connection, so a retry
 * of that call finds its request, holds while the person decides, and gets one final answer.
 *
 * Invariants: a link names one connection and one call fingerprint, and only a retry from that
 * connection of that exact call can settle it; an approved link is claimed (marked used) in the
 * same synchronous step that reads the approval, so two retries never both proceed; every final
 * answer (approved, denied, expired) uses the link up, so a replayed request state is refused.
 * This module grants nothing: a claimed link only lets the caller try the call, which the grant
 * book decides as it decides every call.
 */
import type { Grant } from "../grants/types";
import type { GrantBook } from "./grant-book";

/** Links older than this are forgotten when a new one is made (far past any request's life). */
const LINK_RETENTION_MS = 24 * 60 * 60_000;

/** How a retry stands, as the tool answers it. */
export type Settled =
  | { kind: "not_declared" }
  | { kind: "none" }
  | { kind: "unknown_request" | "other_call" | "replayed" }
  | { kind: "pending"; requestId: string }
  | { kind: "approved"; requestId: string }
  | { kind: "denied"; requestId: string; note: string | null }
  | { kind: "expired"; requestId: string };

/** A retry to settle: with `requestId` (from a verified request state) only that link counts. */
export interface SettleInput {
  fingerprint: string;
  requestId?: string;
  holdMs: number;
}

interface LinkRow {
  request_id: string;
  call_fingerprint: string;
  connection_id: string;
  used_at: number | null;
  [column: string]: SqlStorageValue;
}

export class Elicitations {
  readonly #sql: SqlStorage;
  readonly #book: GrantBook;

  constructor(sql: SqlStorage, book: GrantBook) {
    this.#sql = sql;
    this.#book = book;
  }

  /** Remember what a connection declared at `initialize` (a new initialize replaces it). */
  remember(connectionId: string, urlMode: boolean, now: number): void {
    this.#sql.exec(
      `INSERT INTO client_capabilities (connection_id, url_elicitation, declared_at) VALUES (?, ?, ?)
       ON CONFLICT (connection_id) DO UPDATE SET url_elicitation = excluded.url_elicitation, declared_at = excluded.declared_at`,
      connectionId,
      urlMode ? 1 : 0,
      now,
    );
  }

  /** Whether the connection declared URL-mode elicitation at its last `initialize`. */
  declared(connectionId: string): boolean {
    const row = this.#sql
      .exec<{ url_elicitation: number }>(
        "SELECT url_elicitation FROM client_capabilities WHERE connection_id = ?",
        connectionId,
      )
      .toArray()[0];
    return row?.url_elicitation === 1;
  }

  /** Link a request to the exact call it was made for (idempotent for a coalesced request). */
  link(connectionId: string, fingerprint: string, requestId: string, now: number): void {
    this.#sql.exec("DELETE FROM elicitations WHERE created_at < ?", now - LINK_RETENTION_MS);
    this.#sql.exec(
      `INSERT INTO elicitations (request_id, call_fingerprint, connection_id, created_at, used_at)
       VALUES (?, ?, ?, ?, NULL) ON CONFLICT (request_id, call_fingerprint) DO NOTHING`,
      requestId,
      fingerprint,
      connectionId,
      now,
    );
  }

  /**
   * Where a retry stands: its link found (by the state's request id, or for a 2025-11-25 retry the
   * newest unused link of this exact call), held up to `holdMs` while pending, then answered.
   */
  async settle(connectionId: string, input: SettleInput): Promise<Settled> {
    const explicit = input.requestId !== undefined;
    if (!explicit && !this.declared(connectionId)) return { kind: "not_declared" };
    const found = this.#find(connectionId, input);
    if (!("link" in found)) return found;
    const requestId = found.link.request_id;
    const grant = await this.#book.waitForDecision(requestId, connectionId, input.holdMs);
    // Read the link again after the hold: a parallel retry may have used it meanwhile.
    const row = this.#row(requestId, input.fingerprint);
    if (!row || row.used_at !== null) return explicit ? { kind: "replayed" } : { kind: "none" };
    return this.#answer(row, grant, explicit);
  }

  #find(connectionId: string, input: SettleInput): { link: LinkRow } | Settled {
    if (input.requestId === undefined) {
      const row = this.#sql
        .exec<LinkRow>(
          `SELECT * FROM elicitations WHERE connection_id = ? AND call_fingerprint = ? AND used_at IS NULL
           ORDER BY created_at DESC LIMIT 1`,
          connectionId,
          input.fingerprint,
        )
        .toArray()[0];
      return row ? { link: row } : { kind: "none" };
    }
    const rows = this.#sql
      .exec<LinkRow>("SELECT * FROM elicitations WHERE request_id = ?", input.requestId)
      .toArray()
      .filter((row) => row.connection_id === connectionId);
    if (rows.length === 0) return { kind: "unknown_request" };
    const row = rows.find((candidate) => candidate.call_fingerprint === input.fingerprint);
    if (!row) return { kind: "other_call" };
    return row.used_at === null ? { link: row } : { kind: "replayed" };
  }

  #row(requestId: string, fingerprint: string): LinkRow | undefined {
    return this.#sql
      .exec<LinkRow>("SELECT * FROM elicitations WHERE request_id = ? AND call_fingerprint = ?", requestId, fingerprint)
      .toArray()[0];
  }

  /** The final answer uses the link up; a pending one leaves it open for the next round. */
  #answer(row: LinkRow, grant: Grant | null, explicit: boolean): Settled {
    const requestId = row.request_id;
    if (grant?.status === "pending") return { kind: "pending", requestId };
    this.#sql.exec(
      "UPDATE elicitations SET used_at = ? WHERE request_id = ? AND call_fingerprint = ?",
      Date.now(),
      requestId,
      row.call_fingerprint,
    );
    if (!grant) return explicit ? { kind: "unknown_request" } : { kind: "none" };
    if (grant.status === "approved") return { kind: "approved", requestId };
    if (grant.status === "denied") return { kind: "denied", requestId, note: grant.note };
    // Expired undecided: the person never answered. Anything else ended after an approval
    // (consumed, revoked, expired): a 2025-11-25 retry then starts afresh.
    if (grant.decidedAt === null || explicit) return { kind: "expired", requestId };
    return { kind: "none" };
  }
}
