/**
 * Upstream MCP server names, and the deployment-wide catalogue (MCP_SERVERS, a JSON array) that
 * offers the same servers to every user. Pure: no I/O, no clock.
 *
 * Invariants: a server name is lower-case letters, digits and single hyphens, so the namespaced
 * tool name `<server>__<tool>` splits at the first `__` unambiguously and never equals one of
 * our own tool names (none contains `__`); a name never equals a provider id, so a grant naming
 * it means one thing; a catalogue URL passes the same endpoint gate as every upstream hop;
 * parsing fails the whole configuration on any doubt.
 */
import * as z from "zod";
import type { Coded, ErrorCode } from "../lib/errors";
import { err, ok, type Result } from "../lib/result";
import { parseEndpoint } from "./client/endpoint";

/** `linear`, `my-tools`: 1-24 characters, starts with a letter, no `__`, no trailing hyphen. */
export const SERVER_NAME = /^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,23}$/;
/** Names that would read like Countersign itself. */
const RESERVED = new Set(["countersign", "mcp", "oauth", "callback"]);

export type ServerNameError = Extract<ErrorCode<"server">, "name_invalid" | "name_reserved">;

/** Check a server name; `providerIds` are the deployment's provider ids, which a name may not take. */
export function checkServerName(name: string, providerIds: readonly string[]): ServerNameError | null {
  if (!SERVER_NAME.test(name)) return "name_invalid";
  if (RESERVED.has(name) || providerIds.includes(name)) return "name_reserved";
  return null;
}

/**
 * An upstream MCP tool name we can namespace: MCP's tool-name characters, 64 at most, and not
 * `.` or `..` (a URL path would read those as dot segments).
 */
export const UPSTREAM_TOOL_NAME = /^(?!\.{1,2}$)[A-Za-z0-9_.-]{1,64}$/;

export interface CatalogueServer {
  name: string;
  title: string;
  url: string;
  /** Tools the operator accepts as reads (each must also say readOnlyHint). */
  readOnlyTools: string[];
  /** A client the operator registered with the server's authorization server. */
  clientId?: string;
  clientSecret?: string;
}

/** A bad MCP_SERVERS entry stops the deployment, so its code is configuration's. */
export type CatalogueError = Coded<"config", "mcp_servers_invalid", { message: string }>;

const Entry = z.strictObject({
  name: z.string().max(64),
  title: z
    .string()
    .trim()
    .min(1)
    .max(64)
    .regex(/^[^\p{Cc}]+$/u)
    .optional(),
  url: z.string().min(1).max(2048),
  read_only_tools: z.array(z.string().regex(UPSTREAM_TOOL_NAME)).max(500).optional(),
  client_id: z
    .string()
    .regex(/^[\x21-\x7e]{1,512}$/)
    .optional(),
});

const fail = (message: string): Result<never, CatalogueError> => err({ code: "mcp_servers_invalid", message });

/** The secret binding that holds a catalogue server's pre-registered client secret. */
export const clientSecretBinding = (name: string) => `MCP_${name.toUpperCase().replace(/-/g, "_")}_CLIENT_SECRET`;

/**
 * Parse MCP_SERVERS; "" (unset) is an empty catalogue. `secrets` holds the Worker's bindings, read
 * only for `MCP_<NAME>_CLIENT_SECRET`.
 */
export function parseCatalogue(
  json: string,
  options: { allowLoopback: boolean; providerIds: readonly string[]; secrets: Record<string, unknown> },
): Result<CatalogueServer[], CatalogueError> {
  if (json.trim() === "") return ok([]);
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return fail('unexpected "MCP_SERVERS" value: not JSON');
  }
  const parsed = z.array(Entry).max(50).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = (issue?.path ?? []).map((key) => (typeof key === "number" ? `[${key}]` : `.${String(key)}`));
    const where = `MCP_SERVERS${path.join("")}`;
    return fail(`unexpected value at ${where}: ${issue?.message ?? "invalid"}`);
  }
  const servers: CatalogueServer[] = [];
  for (const [index, entry] of parsed.data.entries()) {
    const where = `MCP_SERVERS[${index}]`;
    const nameError = checkServerName(entry.name, options.providerIds);
    if (nameError) return fail(`${where}: unexpected "name" value (${nameError})`);
    if (servers.some((server) => server.name === entry.name)) return fail(`${where}: duplicate "name"`);
    const url = parseEndpoint(entry.url, { allowLoopback: options.allowLoopback });
    if (!url.ok) return fail(`${where}: unexpected "url" value (${url.error.code})`);
    const secret = options.secrets[clientSecretBinding(entry.name)];
    servers.push({
      name: entry.name,
      title: entry.title ?? entry.name,
      url: url.value.href,
      readOnlyTools: [...new Set(entry.read_only_tools ?? [])],
      ...(entry.client_id ? { clientId: entry.client_id } : {}),
      ...(entry.client_id && typeof secret === "string" && secret !== "" ? { clientSecret: secret } : {}),
    });
  }
  return ok(servers);
}
