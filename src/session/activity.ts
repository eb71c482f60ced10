/**
 * What the person sees of their own Durable Object: the activity page (open grants, standing
 * rules, client connections, recent history) and the data export. Read-only; no secrets are
 * held here to show.
 */

import type { StandingRule } from "../grants/standing-rules";
import type { Grant } from "../grants/types";
import type { AuditEntry, AuditLog } from "./audit-log";
import type { Connection } from "./connection-store";
import type { GrantBook } from "./grant-book";

export interface Activity {
  pending: Grant[];
  live: Grant[];
  /** Standing rules in force at `now`. */
  rules: StandingRule[];
  connections: Connection[];
  history: AuditEntry[];
}

/** Where the standing rules are read from (StandingRuleStore). */
interface RuleList {
  live(now: number): StandingRule[];
  all(): StandingRule[];
}

/** Where the connections are read from (ClientConnections). */
interface ConnectionList {
  list(): Connection[];
}

export interface PersonExport {
  connections: Connection[];
  grants: Grant[];
  rules: StandingRule[];
  audit: AuditEntry[];
}

/** Everything the activity page shows, at `now`. */
export function activityOf(
  book: GrantBook,
  connections: ConnectionList,
  audit: AuditLog,
  historyLimit: number,
  now: number,
  rules: RuleList,
): Activity {
  return {
    ...book.overview(now),
    rules: rules.live(now),
    connections: connections.list(),
    history: audit.list(historyLimit),
  };
}

/** Export of everything the object holds about the person. */
export function exportOf(book: GrantBook, connections: ConnectionList, audit: AuditLog, rules: RuleList): PersonExport {
  return {
    connections: connections.list(),
    grants: book.recent(100_000),
    rules: rules.all(),
    audit: audit.list(1_000_000),
  };
}
