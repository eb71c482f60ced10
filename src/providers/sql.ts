/**
 * A conservative read/write verdict for SQL text sent to a warehouse (Snowflake dialect). This is
 * not a SQL parser: it finds statement boundaries and bare keywords outside string literals,
 * quoted identifiers and comments, and calls the text a read only when every statement starts
 * with a read verb and no statement contains a keyword that could change anything. The text is
 * scanned twice, with and without backslash escapes in '…' literals, and must read as a read
 * both ways, so a disagreement between this scanner and the server cannot hide a statement.
 * Pure; any doubt (unterminated literal, unknown verb, empty text) is a write.
 */

export type SqlVerdict = { read: true; verbs: string[] } | { read: false; reason: string };

const READ_VERBS = new Set(["SELECT", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "WITH"]);
/** Keywords that never appear in a plain read. Matched as whole bare words, upper-cased. */
const DENIED_WORDS = new Set([
  "ALTER",
  "BEGIN",
  "CALL",
  "COMMIT",
  "COPY",
  "CREATE",
  "DELETE",
  "DROP",
  "EXECUTE",
  "GET",
  "GRANT",
  "INSERT",
  "INTO",
  "MERGE",
  "NEXTVAL",
  "PUT",
  "REMOVE",
  "REVOKE",
  "RM",
  "ROLLBACK",
  "SET",
  "TRUNCATE",
  "UNDROP",
  "UNSET",
  "UPDATE",
  "USE",
]);

/** Read only if every statement is a read under both escaping rules. */
export function classifySql(sql: string): SqlVerdict {
  const first = verdict(sql, true);
  if (!first.read) return first;
  const second = verdict(sql, false);
  return second.read ? first : second;
}

function verdict(sql: string, backslashEscapes: boolean): SqlVerdict {
  const statements = scanStatements(sql, backslashEscapes);
  if (!statements) return { read: false, reason: "unterminated string, identifier or comment" };
  const nonEmpty = statements.filter((words) => words.length > 0);
  if (nonEmpty.length === 0) return { read: false, reason: "no statement" };
  const verbs: string[] = [];
  for (const words of nonEmpty) {
    const verb = words[0] as string;
    if (!READ_VERBS.has(verb)) return { read: false, reason: `${verb} statement` };
    if (verb === "WITH" && !words.includes("SELECT")) return { read: false, reason: "WITH without SELECT" };
    const denied = words.find((word) => DENIED_WORDS.has(word) || word.startsWith("SYSTEM$"));
    if (denied) return { read: false, reason: `${verb} statement containing ${denied}` };
    verbs.push(verb);
  }
  return { read: true, verbs };
}

/** Bare words (upper-cased) of each `;`-separated statement, or null if some literal never ends. */
function scanStatements(sql: string, backslashEscapes: boolean): string[][] | null {
  const statements: string[][] = [[]];
  let i = 0;
  while (i < sql.length) {
    const char = sql[i] as string;
    const two = sql.slice(i, i + 2);
    let next: number;
    if (char === "'") next = skipQuoted(sql, i, "'", backslashEscapes);
    else if (char === '"') next = skipQuoted(sql, i, '"', false);
    else if (two === "$$") next = skipUntil(sql, i + 2, "$$");
    else if (two === "/*") next = skipUntil(sql, i + 2, "*/");
    else if (two === "--" || two === "//") next = skipUntil(sql, i + 2, "\n", true);
    else if (char === ";") {
      statements.push([]);
      next = i + 1;
    } else if (/[A-Za-z_]/.test(char)) {
      const word = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(sql.slice(i, i + 256))?.[0] ?? char;
      statements.at(-1)?.push(word.toUpperCase());
      next = i + word.length;
    } else next = i + 1;
    if (next < 0) return null;
    i = next;
  }
  return statements;
}

/** Index after the closing quote; a doubled quote is an escaped quote. -1 when unterminated. */
function skipQuoted(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const char = sql[i];
    if (backslashEscapes && char === "\\") i += 2;
    else if (char === quote && sql[i + 1] === quote) i += 2;
    else if (char === quote) return i + 1;
    else i++;
  }
  return -1;
}

/** Index after `end`; -1 when it never comes, unless reaching the end of the text is allowed. */
function skipUntil(sql: string, from: number, end: string, endOfTextCloses = false): number {
  const found = sql.indexOf(end, from);
  if (found >= 0) return found + end.length;
  return endOfTextCloses ? sql.length : -1;
}
