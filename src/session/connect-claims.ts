/**
 * SQL for the `connect_claims` table: the connect callbacks (provider and upstream OAuth) whose
 * state has been used, so a replayed callback is refused. Only a hash of the state is kept, and
 * only for the transaction's own lifetime.
 */

/** How long a claimed connect state is remembered: the transaction's own lifetime. */
const CLAIM_TTL_MS = 600_000;

export class ConnectClaims {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /** True for the first claim of a state hash, false for every replay; forgets expired claims first. */
  claim(stateHash: string, now: number): boolean {
    this.#sql.exec("DELETE FROM connect_claims WHERE claimed_at < ?", now - CLAIM_TTL_MS);
    return (
      this.#sql.exec(
        "INSERT INTO connect_claims (state_hash, claimed_at) VALUES (?, ?) ON CONFLICT (state_hash) DO NOTHING",
        stateHash,
        now,
      ).rowsWritten > 0
    );
  }
}
