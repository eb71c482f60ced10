/**
 * What goes over the wire to a connected upstream MCP server: listing its tools (single-flight
 * per server) and one tool call, decided through the caller's `authorize` hook.
 *
 * Invariants: a call is sent only after `authorize` allowed it twice, as a preview before the
 * credential is made ready and at commit after (where a call grant is consumed), so nothing
 * is sent for a refused call; arguments over MAX_ARGUMENT_BYTES are refused before any decision;
 * a result is cut to its size cap before it leaves; one listing per server runs at a time, so a
 * stale list seen by many tools/list calls is fetched once.
 */
import type { CanonicalCall, ClassifiedCall } from "../grants/types";
import type { Coded } from "../lib/errors";
import { callUpstreamTool, listUpstreamTools, type UpstreamCallResult } from "./client/mcp-client";
import type { CredentialFailure, ServerCredentials } from "./credentials";
import type { UpstreamServer, UpstreamStore } from "./store";
import { canonicalJson, capResult, classifyToolCall, MAX_ARGUMENT_BYTES, usableTools } from "./tools";

/** Tool lists older than this are fetched again at the next listing request. */
export const TOOLS_TTL_MS = 15 * 60_000;
/** The most bytes read from an upstream answer; results are then cut to MAX_RESULT_BYTES. */
const READ_CAP_BYTES = 4 * 1024 * 1024;

export type UpstreamCallFailure =
  | Coded<"upstreamCall", "not_found", { ok: false; reason: "server" | "tool" }>
  | CredentialFailure
  | Coded<"upstreamCall", "invalid_request", { ok: false; reason: string }>
  | Coded<"upstreamCall", "denied", { ok: false; reason: string; access: "read" | "write"; call: CanonicalCall }>;

export type UpstreamCallOutcome =
  | {
      ok: true;
      result: UpstreamCallResult;
      truncated: boolean;
      access: "read" | "write";
      grantId: string | null;
      ruleId: string | null;
    }
  | UpstreamCallFailure;

/**
 * The decision for one classified call: allow (consuming a call grant) by a grant or a standing
 * rule (exactly one of the two ids is set), or deny with a reason.
 */
export type Authorize = (
  call: ClassifiedCall,
  phase: "preview" | "commit",
) => { allow: true; grantId: string | null; ruleId: string | null } | { allow: false; reason: string };

/** How this module finds a server the person can use (the lifecycle's visibility rules). */
export interface ServerLookup {
  get(name: string): UpstreamServer | null;
  acceptedReads(server: UpstreamServer): string[];
}

export class ServerCalls {
  readonly #listing = new Map<string, Promise<UpstreamServer | null>>();

  constructor(
    private readonly store: UpstreamStore,
    private readonly credentials: ServerCredentials,
    private readonly servers: ServerLookup,
    private readonly allowLoopback: boolean,
  ) {}

  /** Fetch the tool list again (after connecting, on request, or when it is stale). */
  refreshTools(name: string): Promise<UpstreamServer | null> {
    const running = this.#listing.get(name);
    if (running) return running;
    const listing = this.#listTools(name).finally(() => this.#listing.delete(name));
    this.#listing.set(name, listing);
    return listing;
  }

  /**
   * One tool call: server and tool known, the call classified and decided (a call grant is
   * consumed by `authorize` at commit, before anything is sent), credentials ready, then sent once.
   */
  async call(
    name: string,
    toolName: string,
    args: Record<string, unknown>,
    authorize: Authorize,
  ): Promise<UpstreamCallOutcome> {
    const server = this.servers.get(name);
    if (!server) return { ok: false, code: "not_found", reason: "server" };
    const tool = server.tools.find((candidate) => candidate.name === toolName);
    if (!tool) return { ok: false, code: "not_found", reason: "tool" };
    if (canonicalJson(args).length > MAX_ARGUMENT_BYTES) {
      return { ok: false, code: "invalid_request", reason: "arguments_too_large" };
    }
    if (server.status === "reauth_required") return { ok: false, code: "reauth_required" };
    if ((server.auth === "oauth" || server.auth === "api_key") && server.tokenObtainedAt === null) {
      return { ok: false, code: "not_connected" };
    }
    const classified = await classifyToolCall(name, tool, args, this.servers.acceptedReads(server));
    const preview = authorize(classified, "preview");
    if (!preview.allow)
      return { ok: false, code: "denied", reason: preview.reason, access: classified.access, call: classified.call };
    const ready = await this.credentials.credential(server, Date.now());
    if (!ready.ok) return ready;
    const decision = authorize(classified, "commit");
    if (!decision.allow)
      return { ok: false, code: "denied", reason: decision.reason, access: classified.access, call: classified.call };
    const sent = await this.credentials.send(server, ready, (headers, state) =>
      callUpstreamTool(server.url, state, toolName, args, this.#wire(headers)),
    );
    if (!sent.ok) {
      if ("failure" in sent) return sent.failure;
      return { ok: false, code: "upstream_unavailable", reason: sent.error.code };
    }
    this.store.setSession(name, sent.value.state);
    const capped = capResult(sent.value.result);
    return {
      ok: true,
      result: capped.result,
      truncated: capped.truncated,
      access: classified.access,
      grantId: decision.grantId,
      ruleId: decision.ruleId,
    };
  }

  async #listTools(name: string): Promise<UpstreamServer | null> {
    const server = this.servers.get(name);
    if (!server) return null;
    const listed = await this.credentials.withCredential(server, (headers, state) =>
      listUpstreamTools(server.url, state, this.#wire(headers)),
    );
    const now = Date.now();
    if (!listed.ok) {
      if ("failure" in listed) this.#markFailure(name, listed.failure);
      else this.store.setStatus(name, "error", listed.error.code, now);
      return this.servers.get(name);
    }
    this.store.setSession(name, listed.value.state);
    this.store.setTools(name, usableTools(listed.value.tools), now);
    this.store.setStatus(name, "connected", null, now);
    return this.servers.get(name);
  }

  #wire(headers: Record<string, string>) {
    return { allowLoopback: this.allowLoopback, headers, maxBytes: READ_CAP_BYTES };
  }

  #markFailure(name: string, failure: CredentialFailure): void {
    const now = Date.now();
    if (failure.code === "upstream_unavailable") this.store.setStatus(name, "error", failure.reason, now);
    else if (failure.code === "reauth_required") this.store.setStatus(name, "reauth_required", "reauth_required", now);
    else this.store.setStatus(name, "not_connected", null, now);
  }
}
