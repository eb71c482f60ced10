/**
 * Structured JSON logs, one object per line, for Workers observability. Callers pass named
 * fields; any field whose name looks like a credential is replaced before printing, so a
 * token, code, secret or cookie cannot reach the logs by accident.
 */
type Level = "info" | "warn" | "error";
type Fields = Record<string, unknown>;

// `api[-_]?key` covers an `x-api-key` header (a personal API key, src/apikeys) logged by name.
const SENSITIVE =
  /token|secret|password|authorization|cookie|code_verifier|^code$|verifier|handle|^state$|props|api[-_]?key/i;

function redact(value: unknown, depth = 0): unknown {
  if (depth > 4 || value === null || typeof value !== "object") return value;
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  const out: Fields = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = SENSITIVE.test(key) ? "[redacted]" : redact(item, depth + 1);
  }
  return out;
}

function write(level: Level, event: string, fields: Fields): void {
  const line = JSON.stringify({ level, event, ...(redact(fields) as Fields) });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

/**
 * A stable label for an error in a log line, never its message (which may carry upstream text):
 * its name, and its `code` when it has one. The production bundle minifies class names
 * (`keep_names = false` in wrangler.toml), so a class that names itself after `new.target.name`
 * (the MCP SDK's errors) logs a minified name there; its `code` stays readable.
 */
export function errorLabel(error: unknown): string {
  if (!(error instanceof Error)) return "unknown";
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" || typeof code === "number" ? `${error.name}:${code}` : error.name;
}

export const log = {
  info: (event: string, fields: Fields = {}) => write("info", event, fields),
  warn: (event: string, fields: Fields = {}) => write("warn", event, fields),
  error: (event: string, fields: Fields = {}) => write("error", event, fields),
};
