/**
 * The upstream MCP server feature as the person's Durable Object offers it over RPC: server
 * views, the tools/list groups (refreshing stale lists in the background), a tool call decided
 * by the grant book and audited, and server events in the audit log. The Durable Object builds
 * one per instance, for the one person it is named after, and delegates to it.
 *
 * Invariants: the person's id is fixed at construction (the Durable Object's name), never taken
 * from a caller; a tool call is decided with the same function (grants, then standing rules) as
 * provider calls and a call grant is consumed before anything is sent; audit entries carry server, tool and outcome, never
 * tokens, arguments or results; a disconnect ends every open grant naming the server.
 */
import type { ClassifiedCall } from "../grants/types";
import type { AuditDetail, AuditEvent, AuditLog } from "../session/audit-log";
import type { GrantBook } from "../session/grant-book";
import { TOOLS_TTL_MS, type UpstreamCallFailure } from "./calls";
import type { TokenSet } from "./client/oauth";
import type { UpstreamClient } from "./client/registration";
import { type AddServerError, type SetReadsResult, type UpstreamEnv, UpstreamServers } from "./servers";
import { type OAuthBinding, type ServerView, serverView, type UpstreamServer, type UpstreamStore } from "./store";
import { classifyToolCall, namespacedTool, type PresentedTool, presentTool, splitToolName } from "./tools";

/** One upstream tool as our tools/list shows it; its input schema travels as JSON text. */
export type ListedTool = Omit<PresentedTool, "inputSchema"> & { inputSchemaJson: string };

/** The tools of one upstream server, as our tools/list shows them. */
export interface UpstreamToolGroup {
  server: string;
  title: string;
  tools: ListedTool[];
}

/** Adding a server: its view, or why it was refused. */
export type AddServerResult = { ok: true; server: ServerView } | { ok: false; code: AddServerError };

/** Accepting reads over RPC: the server's view, or why nothing was stored. */
export type SetReadsView = { ok: true; server: ServerView } | Extract<SetReadsResult, { ok: false }>;

/** An upstream tool call's outcome over RPC: the result's content as JSON text. */
export type UpstreamCallView =
  | {
      ok: true;
      contentJson: string;
      structuredJson: string | null;
      isError: boolean;
      truncated: boolean;
      access: "read" | "write";
      /** What allowed the call: a grant or a standing rule, exactly one of the two. */
      grantId: string | null;
      ruleId: string | null;
    }
  | UpstreamCallFailure;

export interface UpstreamOptions {
  store: UpstreamStore;
  book: GrantBook;
  audit: AuditLog;
  env: UpstreamEnv;
  /** The person: the name the Durable Object was reached by. */
  userId: string;
}

const view = (server: UpstreamServer | null) => (server ? serverView(server) : null);

export class Upstream {
  readonly #servers: UpstreamServers;
  readonly #book: GrantBook;
  readonly #audit: AuditLog;
  readonly #background: (work: Promise<unknown>) => void;

  constructor(options: UpstreamOptions) {
    this.#servers = new UpstreamServers(options.store, options.env, options.userId);
    this.#book = options.book;
    this.#audit = options.audit;
    this.#background = options.env.background;
  }

  /** Every upstream server this person can use (their own and the catalogue's). */
  servers(): ServerView[] {
    return this.#servers.list(Date.now()).map(serverView);
  }

  /** One upstream server, or null when this person has no such server. */
  server(name: string): ServerView | null {
    return view(this.#servers.get(name));
  }

  /** The person (or their agent) adds a server by URL; its auth is probed at once. */
  async add(name: string, url: string, actor: "agent" | "human"): Promise<AddServerResult> {
    const added = await this.#servers.add(name, url, Date.now());
    if (!added.ok) return added;
    this.#serverEvent("server_added", actor, name, { auth: added.server.auth, status: added.server.status });
    return { ok: true, server: serverView(added.server) };
  }

  /** Probe again how a server authenticates (after an error, or a catalogue server's first use). */
  async detect(name: string): Promise<ServerView | null> {
    return view(await this.#servers.detect(name));
  }

  /** A finished upstream OAuth authorization: store the tokens and list the tools. */
  async connectOAuth(
    name: string,
    tokens: TokenSet,
    binding: OAuthBinding,
    clientSecret?: string,
  ): Promise<ServerView | null> {
    const server = await this.#servers.connectOAuth(name, tokens, binding, clientSecret);
    if (server) this.#serverEvent("server_connected", "human", name, { auth: "oauth", status: server.status });
    return view(server);
  }

  /** A pasted static API key for a server. */
  async connectApiKey(name: string, key: string, header: string): Promise<ServerView | null> {
    const server = await this.#servers.connectApiKey(name, key, header);
    if (server) this.#serverEvent("server_connected", "human", name, { auth: "api_key", status: server.status });
    return view(server);
  }

  /** The client registered earlier (DCR) with this issuer for this server, to reuse on reconnect. */
  registeredClient(name: string, issuer: string): Promise<UpstreamClient | null> {
    return this.#servers.registeredClient(name, issuer);
  }

  /** The person accepts which read-only-annotated tools count as reads: stored whole, or refused. */
  setReadTools(name: string, tools: string[]): SetReadsView {
    const set = this.#servers.setReadTools(name, tools);
    return set.ok ? { ok: true, server: serverView(set.server) } : set;
  }

  /** Fetch a server's tool list again. */
  async refreshTools(name: string): Promise<ServerView | null> {
    return view(await this.#servers.refreshTools(name));
  }

  /** Disconnect or remove a server found in this person's object; grants naming it end. */
  async disconnect(name: string, remove: boolean): Promise<{ revokedUpstream: boolean } | null> {
    const result = await this.#servers.disconnect(name, remove);
    if (!result) return null;
    this.#serverEvent(remove ? "server_removed" : "server_disconnected", "human", name, {
      revoked_upstream: result.revokedUpstream,
    });
    await this.#book.endNaming(name);
    return result;
  }

  /** Classify one tool call (for a one-call approval); null when server or tool is unknown. */
  async classifyCall(name: string, tool: string, args: Record<string, unknown>): Promise<ClassifiedCall | null> {
    const server = this.#servers.get(name);
    const definition = server?.tools.find((candidate) => candidate.name === tool);
    if (!server || !definition) return null;
    return classifyToolCall(name, definition, args, this.#servers.acceptedReads(server));
  }

  /**
   * The tools of every server that has listed them. A server that needs reconnecting keeps its
   * tools listed, so a call by a name the assistant already holds gets `reauth_required` with
   * the reconnect link rather than "no such tool". Stale lists of connected servers are
   * refreshed in the background. With `only` (a namespaced tool name, for a `tools/call`), the
   * answer holds just that tool, if its server lists it; only that server's row is read (and
   * only its stale list refreshed).
   */
  tools(only?: string): UpstreamToolGroup[] {
    const now = Date.now();
    const groups: UpstreamToolGroup[] = [];
    for (const server of only === undefined ? this.#servers.list(now) : this.#named(only)) {
      if (server.tools.length === 0) continue;
      if (server.status === "connected" && server.toolsAt !== null && now - server.toolsAt > TOOLS_TTL_MS) {
        this.#background(this.#servers.refreshTools(server.name).then(() => undefined));
      }
      const reads = this.#servers.acceptedReads(server);
      const wanted =
        only === undefined
          ? server.tools
          : server.tools.filter((tool) => namespacedTool(server.name, tool.name) === only);
      if (wanted.length === 0) continue;
      groups.push({
        server: server.name,
        title: server.title,
        tools: wanted.map((tool) => {
          const { inputSchema, ...presented } = presentTool(server, tool, reads);
          return { ...presented, inputSchemaJson: JSON.stringify(inputSchema) };
        }),
      });
    }
    return groups;
  }

  /**
   * The one server a namespaced tool name can belong to: server names never hold `__`
   * (SERVER_NAME), so the name before the first `__` is the only candidate.
   */
  #named(only: string): UpstreamServer[] {
    const split = splitToolName(only);
    const server = split ? this.#servers.get(split.server) : null;
    return server ? [server] : [];
  }

  /**
   * One tool call for an MCP client connection: a preview decision before the credential is
   * made ready (refusals audited), the atomic decision at commit, then the outcome audited.
   */
  async callTool(
    connectionId: string,
    name: string,
    tool: string,
    args: Record<string, unknown>,
  ): Promise<UpstreamCallView> {
    const outcome = await this.#servers.call(name, tool, args, (call, phase) => {
      if (phase === "preview") {
        const now = Date.now();
        const preview = this.#book.preview(call, connectionId, undefined, now);
        if (!preview.allow) this.#book.auditRefusal(call, connectionId, undefined, preview.reason, now);
        if (!preview.allow) return { allow: false, reason: preview.reason };
        return { allow: true, grantId: preview.grant?.id ?? null, ruleId: preview.rule?.id ?? null };
      }
      const decision = this.#book.authorizeCall(call, connectionId);
      return decision.allow
        ? { allow: true, grantId: decision.grantId, ruleId: decision.ruleId }
        : { allow: false, reason: decision.reason };
    });
    if (outcome.ok) {
      this.#audit.append({
        at: Date.now(),
        event: "call_completed",
        actor: "agent",
        grantId: outcome.grantId,
        connectionId,
        clientName: null,
        detail: {
          server: name,
          tool,
          outcome: outcome.result.isError ? "tool_error" : "sent",
          truncated: outcome.truncated,
          ...(outcome.ruleId ? { rule: outcome.ruleId } : {}),
        },
      });
      return {
        ok: true,
        contentJson: JSON.stringify(outcome.result.content),
        structuredJson:
          outcome.result.structuredContent === undefined ? null : JSON.stringify(outcome.result.structuredContent),
        isError: outcome.result.isError,
        truncated: outcome.truncated,
        access: outcome.access,
        grantId: outcome.grantId,
        ruleId: outcome.ruleId,
      };
    }
    if (outcome.code !== "denied") {
      this.#audit.append({
        at: Date.now(),
        event: "call_denied",
        actor: "agent",
        grantId: null,
        connectionId,
        clientName: null,
        detail: {
          server: name,
          tool,
          reason: "reason" in outcome ? `${outcome.code}:${outcome.reason}` : outcome.code,
        },
      });
    }
    return outcome;
  }

  /** Account deletion: every server disconnected (revoked where supported), memory forgotten. */
  async purge(): Promise<void> {
    await this.#servers.disconnectAll();
    this.#servers.clear();
  }

  #serverEvent(event: AuditEvent, actor: "agent" | "human", server: string, detail: AuditDetail): void {
    this.#audit.append({
      at: Date.now(),
      event,
      actor,
      grantId: null,
      connectionId: null,
      clientName: null,
      detail: { server, ...detail },
    });
  }
}
