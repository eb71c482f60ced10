/**
 * SQL for `upstream_servers`: the MCP servers a person added or the catalogue offers them, how
 * each authenticates, whether it works, its transport session and its cached tool list. No
 * secret is ever stored here: tokens, API keys and client secrets live sealed in the vault (KV).
 * `token_obtained_at` lets the object notice a stale KV read after a refresh.
 */

import type { AuthorizationServerFacts } from "./client/discovery";
import type { UpstreamSessionState, UpstreamTool } from "./client/mcp-client";
import type { TokenEndpointAuthMethod } from "./client/registration";

export type ServerAuth = "unknown" | "none" | "oauth" | "api_key";
export type ServerStatus = "connected" | "not_connected" | "reauth_required" | "error";
export type ServerSource = "user" | "catalogue";

/** What we need to refresh and revoke tokens of one server: public facts, no secret. */
export interface OAuthBinding extends AuthorizationServerFacts {
  /** RFC 8707 resource the tokens are bound to (from the protected resource metadata). */
  resource: string;
  scope?: string;
  clientId: string;
  authMethod?: TokenEndpointAuthMethod;
  registration: "dcr" | "cimd" | "preregistered";
  /** A client secret is sealed in the vault (DCR answered with one, or the person pasted one). */
  hasClientSecret: boolean;
}

export interface UpstreamServer {
  name: string;
  url: string;
  source: ServerSource;
  title: string;
  auth: ServerAuth;
  /** For `api_key` servers: the header the key goes in (`Authorization` sends `Bearer <key>`). */
  apiKeyHeader: string | null;
  status: ServerStatus;
  /** A stable code for the last failure (`status: error`), never upstream text. */
  lastError: string | null;
  oauth: OAuthBinding | null;
  session: UpstreamSessionState | null;
  tools: UpstreamTool[];
  toolsAt: number | null;
  /** Tools the person accepted as reads (each must also say readOnlyHint to count). */
  readTools: string[];
  tokenObtainedAt: number | null;
  addedAt: number;
  updatedAt: number;
}

type Row = {
  name: string;
  url: string;
  source: ServerSource;
  title: string;
  auth: ServerAuth;
  api_key_header: string | null;
  status: ServerStatus;
  last_error: string | null;
  oauth: string | null;
  session: string | null;
  tools: string;
  tools_at: number | null;
  read_tools: string;
  token_obtained_at: number | null;
  added_at: number;
  updated_at: number;
};

const fromRow = (row: Row): UpstreamServer => ({
  name: row.name,
  url: row.url,
  source: row.source,
  title: row.title,
  auth: row.auth,
  apiKeyHeader: row.api_key_header,
  status: row.status,
  lastError: row.last_error,
  oauth: row.oauth ? (JSON.parse(row.oauth) as OAuthBinding) : null,
  session: row.session ? (JSON.parse(row.session) as UpstreamSessionState) : null,
  tools: JSON.parse(row.tools) as UpstreamTool[],
  toolsAt: row.tools_at,
  readTools: JSON.parse(row.read_tools) as string[],
  tokenObtainedAt: row.token_obtained_at,
  addedAt: row.added_at,
  updatedAt: row.updated_at,
});

/** A tool as pages and `list_integrations` see it: no schema. */
export interface ToolView {
  name: string;
  title?: string;
  description?: string;
  annotations?: UpstreamTool["annotations"];
}

/**
 * A server as the Worker sees it over RPC: no transport session, tools without their schemas
 * (plain, non-recursive types, so the RPC stub types stay finite).
 */
export interface ServerView extends Omit<UpstreamServer, "session" | "tools"> {
  tools: ToolView[];
}

/** The RPC view of a server row. */
export function serverView(server: UpstreamServer): ServerView {
  const { session: _session, tools, ...rest } = server;
  return {
    ...rest,
    tools: tools.map((tool) => ({
      name: tool.name,
      ...(tool.title !== undefined ? { title: tool.title } : {}),
      ...(tool.description !== undefined ? { description: tool.description } : {}),
      ...(tool.annotations !== undefined ? { annotations: tool.annotations } : {}),
    })),
  };
}

export interface NewServer {
  name: string;
  url: string;
  source: ServerSource;
  title: string;
}

export class UpstreamStore {
  constructor(private readonly sql: SqlStorage) {}

  get(name: string): UpstreamServer | null {
    const row = this.sql.exec<Row>("SELECT * FROM upstream_servers WHERE name = ?", name).toArray()[0];
    return row ? fromRow(row) : null;
  }

  list(): UpstreamServer[] {
    return this.sql.exec<Row>("SELECT * FROM upstream_servers ORDER BY name").toArray().map(fromRow);
  }

  /** Insert a new server, `not_connected` with unknown auth; false when the name is taken. */
  insert(server: NewServer, now: number): boolean {
    const written = this.sql.exec(
      `INSERT INTO upstream_servers (name, url, source, title, auth, status, added_at, updated_at)
       VALUES (?, ?, ?, ?, 'unknown', 'not_connected', ?, ?) ON CONFLICT (name) DO NOTHING`,
      server.name,
      server.url,
      server.source,
      server.title,
      now,
      now,
    ).rowsWritten;
    return written > 0;
  }

  /** A catalogue entry whose URL changed in configuration starts over. */
  resetUrl(name: string, url: string, title: string, now: number): void {
    this.sql.exec(
      `UPDATE upstream_servers SET url = ?, title = ?, auth = 'unknown', status = 'not_connected', last_error = NULL,
         oauth = NULL, session = NULL, tools = '[]', tools_at = NULL, token_obtained_at = NULL, updated_at = ?
       WHERE name = ?`,
      url,
      title,
      now,
      name,
    );
  }

  /** A catalogue entry renamed in configuration: only its title changes. */
  setTitle(name: string, title: string, now: number): void {
    this.sql.exec("UPDATE upstream_servers SET title = ?, updated_at = ? WHERE name = ?", title, now, name);
  }

  setAuth(name: string, auth: ServerAuth, apiKeyHeader: string | null, now: number): void {
    this.sql.exec(
      "UPDATE upstream_servers SET auth = ?, api_key_header = ?, updated_at = ? WHERE name = ?",
      auth,
      apiKeyHeader,
      now,
      name,
    );
  }

  setOAuth(name: string, oauth: OAuthBinding | null, now: number): void {
    this.sql.exec(
      "UPDATE upstream_servers SET oauth = ?, updated_at = ? WHERE name = ?",
      oauth ? JSON.stringify(oauth) : null,
      now,
      name,
    );
  }

  setStatus(name: string, status: ServerStatus, lastError: string | null, now: number): void {
    this.sql.exec(
      "UPDATE upstream_servers SET status = ?, last_error = ?, updated_at = ? WHERE name = ?",
      status,
      lastError,
      now,
      name,
    );
  }

  /** The saved MCP session of one server, read alone (the rest of its row is not parsed). */
  sessionOf(name: string): UpstreamSessionState | null {
    const row = this.sql
      .exec<{ session: string | null }>("SELECT session FROM upstream_servers WHERE name = ?", name)
      .toArray()[0];
    return row?.session ? (JSON.parse(row.session) as UpstreamSessionState) : null;
  }

  /** Save a server's MCP session; a session equal to the saved one writes nothing (most calls). Whether it wrote. */
  setSession(name: string, session: UpstreamSessionState | null): boolean {
    const json = session ? JSON.stringify(session) : null;
    const sql = "UPDATE upstream_servers SET session = ? WHERE name = ? AND session IS NOT ?";
    return this.sql.exec(sql, json, name, json).rowsWritten > 0;
  }

  setTools(name: string, tools: UpstreamTool[], now: number): void {
    this.sql.exec(
      "UPDATE upstream_servers SET tools = ?, tools_at = ?, updated_at = ? WHERE name = ?",
      JSON.stringify(tools),
      now,
      now,
      name,
    );
  }

  setReadTools(name: string, tools: string[], now: number): void {
    this.sql.exec(
      "UPDATE upstream_servers SET read_tools = ?, updated_at = ? WHERE name = ?",
      JSON.stringify(tools),
      now,
      name,
    );
  }

  /** A new credential was stored (connect or refresh): its time, so a stale KV copy is noticed. */
  setTokenObtainedAt(name: string, obtainedAt: number | null, now: number): void {
    this.sql.exec(
      "UPDATE upstream_servers SET token_obtained_at = ?, updated_at = ? WHERE name = ?",
      obtainedAt,
      now,
      name,
    );
  }

  delete(name: string): boolean {
    return this.sql.exec("DELETE FROM upstream_servers WHERE name = ?", name).rowsWritten > 0;
  }
}
