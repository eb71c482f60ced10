/**
 * A person's access to their providers, as their Durable Object runs it: connecting and
 * disconnecting a credential, and everything before and after one outbound call. Before a call,
 * in this order: the provider is connected (and, per account, to the call's host), a live grant
 * of the calling connection (or a standing rule of the person) covers it, a fresh credential
 * exists, and then the decision is taken again atomically with consuming a call grant, so
 * nothing is sent on a stale decision.
 * `call` runs all of it and then the call itself from the object, so one RPC carries a whole
 * provider call: the exact decided request is sent, and its outcome is audited before the
 * answer leaves the object.
 * Every refusal and every outcome is audited; tokens leave the object only as the headers of
 * one allowed request, sent from here to the provider.
 */
import { type CallAnswer, fetchCall, type OutboundError } from "../calls/outbound";
import { credentialHeaderOf } from "../calls/prepare";
import { fingerprintCall, headerRecord, isReservedHeader } from "../grants/canonical";
import type { ClassifiedCall, GrantKind } from "../grants/types";
import type { AuditDetail, AuditEvent, AuditLog } from "../session/audit-log";
import type { GrantBook } from "../session/grant-book";
import type { VaultSecret } from "../vault/store";
import type { Credentials } from "./credentials";
import type { ProviderLink, ProviderLinkStore } from "./links";
import { ownsHost, type Registry } from "./registry";

export type BeginCallResult =
  | { ok: true; grantId: string | null; ruleId: string | null; kind: GrantKind | null; headers: Record<string, string> }
  | { ok: false; code: "not_connected" | "reauth_required" | "provider_unavailable" | "unknown_provider" }
  | { ok: false; code: "denied"; reason: string };

/**
 * Provider calls one person's object sends at once. Each holds its answer (up to 1 MiB, after
 * decompression) in the object's memory until it is audited and returned, and one object cannot
 * spread over isolates as Worker requests do; a call past this waits, before anything is decided
 * or consumed, for one in flight to finish. `TOOL_LIMITER` bounds calls per minute per
 * connection, not calls in flight.
 */
export const MAX_CALLS_IN_FLIGHT = 16;

/** A whole provider call: refused before anything was sent, or sent (answered or not) and audited. */
export type ProviderCallResult =
  | Exclude<BeginCallResult, { ok: true }>
  | {
      ok: true;
      grantId: string | null;
      ruleId: string | null;
      /** The answer with its body as bytes (decoded and parsed by the caller: `answerBody`), or why there was none. */
      sent: { ok: true; value: CallAnswer } | { ok: false; error: OutboundError };
    };

export interface ProviderAccessOptions {
  registry: Registry;
  links: ProviderLinkStore;
  credentials: Credentials;
  book: GrantBook;
  audit: AuditLog;
}

export class ProviderAccess {
  readonly #registry: Registry;
  /** Provider calls of this object between their decision and their audited outcome. */
  #inFlight = 0;
  /** Calls waiting for a place among those in flight, first come first served. */
  readonly #waiting: (() => void)[] = [];
  readonly #links: ProviderLinkStore;
  readonly #credentials: Credentials;
  readonly #book: GrantBook;
  readonly #audit: AuditLog;

  constructor(options: ProviderAccessOptions) {
    this.#registry = options.registry;
    this.#links = options.links;
    this.#credentials = options.credentials;
    this.#book = options.book;
    this.#audit = options.audit;
  }

  /** Store a credential the person just connected; null for an unknown provider or a foreign account host. */
  async connect(providerId: string, secret: VaultSecret, accountHost?: string): Promise<ProviderLink | null> {
    const provider = this.#registry.byId(providerId);
    if (!provider) return null;
    // A per-account provider's credential is bound to the one account host the person named.
    const perAccount = (provider.hostSuffixes ?? []).length > 0;
    if (perAccount && (accountHost === undefined || !ownsHost(provider, accountHost))) return null;
    const link = await this.#credentials.connect(provider, secret, perAccount ? (accountHost as string) : null);
    this.#event("provider_connected", providerId, { kind: secret.kind });
    return link;
  }

  /** Disconnect: link removed, token revoked upstream, vault record deleted, grants naming the provider end. */
  async disconnect(providerId: string): Promise<{ revokedUpstream: boolean } | null> {
    const result = await this.#credentials.disconnect(this.#registry.byId(providerId), providerId);
    if (!result) return null;
    this.#event("provider_disconnected", providerId, { revoked_upstream: result.revokedUpstream });
    await this.#book.endNaming(providerId);
    return result;
  }

  /** Every provider the person connected, with its status. */
  links(): ProviderLink[] {
    return this.#links.list();
  }

  /** Everything before an outbound call, in one step (see the file header for the order). */
  async beginCall(call: ClassifiedCall, connectionId: string, requestId?: string): Promise<BeginCallResult> {
    const provider = this.#registry.byId(call.provider);
    if (!provider) return { ok: false, code: "unknown_provider" };
    // One clock reading for everything before the credential await; the entries written after
    // it (a refusal, or `authorizeCall`'s) read the clock again, once each.
    const now = Date.now();
    // Every refusal lands in the audit log with its reason, like every allowed call.
    const refuse = (result: Extract<BeginCallResult, { ok: false }>, at = now): BeginCallResult => {
      this.#book.auditRefusal(call, connectionId, requestId, "reason" in result ? result.reason : result.code, at);
      return result;
    };
    const link = this.#links.get(provider.id);
    if (!link) return refuse({ ok: false, code: "not_connected" });
    if (link.status === "reauth_required") return refuse({ ok: false, code: "reauth_required" });
    if (link.accountHost !== null && new URL(call.call.url).hostname !== link.accountHost) {
      return refuse({ ok: false, code: "denied", reason: "wrong_account" });
    }
    const preview = this.#book.preview(call, connectionId, requestId, now);
    if (!preview.allow) return refuse({ ok: false, code: "denied", reason: preview.reason });
    const credential = await this.#credentials.forCall(provider, now);
    if (!credential.ok) return refuse({ ok: false, code: credential.error.code }, Date.now());
    // State may have changed while the credential was refreshed: decide again, atomically with consuming.
    const decision = this.#book.authorizeCall(call, connectionId, requestId);
    if (!decision.allow) return { ok: false, code: "denied", reason: decision.reason };
    const headers = provider.credentialHeaders(credential.secret.accessToken);
    return { ok: true, grantId: decision.grantId, ruleId: decision.ruleId, kind: decision.kind, headers };
  }

  /**
   * One provider call, decided and made here: `beginCall`, then exactly the decided canonical
   * request (the provider's headers first, the call's own non-reserved headers over them), then
   * its outcome audited, awaited before the answer returns, so every answer has its entry.
   */
  async call(call: ClassifiedCall, connectionId: string, requestId?: string): Promise<ProviderCallResult> {
    // The object puts a token only on the call it checks itself: the URL is the named
    // provider's, no header of the call stands in for a credential header (the call's headers
    // are sent over the provider's), and the fingerprint the grants are matched on is this very call's.
    const owner = this.#registry.forUrl(new URL(call.call.url));
    if (!owner || owner.id !== call.provider) return { ok: false, code: "unknown_provider" };
    const forbidden =
      credentialHeaderOf(owner, call.call.headers) ?? call.call.headers.find(({ name }) => isReservedHeader(name));
    if (forbidden !== undefined || (await fingerprintCall(call.call)) !== call.fingerprint) {
      this.#book.auditRefusal(call, connectionId, requestId, "call_mismatch", Date.now());
      return { ok: false, code: "denied", reason: "call_mismatch" };
    }
    await this.#slot();
    try {
      const begun = await this.beginCall(call, connectionId, requestId);
      if (!begun.ok) return begun;
      const { method, url, body, headers } = call.call;
      const sent = await fetchCall({ url, method, body, headers: { ...begun.headers, ...headerRecord(headers) } });
      const allowedBy: AuditDetail = begun.ruleId ? { rule: begun.ruleId } : {};
      const outcome: AuditDetail = sent.ok
        ? { outcome: "sent", status: sent.value.status, bytes: sent.value.bytes, truncated: sent.value.truncated }
        : { outcome: sent.error.code };
      this.recordOutcome(connectionId, begun.grantId, { ...outcome, ...allowedBy });
      return { ok: true, grantId: begun.grantId, ruleId: begun.ruleId, sent };
    } finally {
      this.#release();
    }
  }

  /** A place among the calls in flight, waiting in arrival order while all are taken. */
  #slot(): Promise<void> {
    if (this.#inFlight < MAX_CALLS_IN_FLIGHT) {
      this.#inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Hand a finished call's place to the next waiting call, or free it. */
  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#inFlight--;
  }

  /** What became of an allowed call (status and size, never the body or a token). */
  recordOutcome(connectionId: string, grantId: string | null, detail: AuditDetail): void {
    this.#audit.append({
      at: Date.now(),
      event: "call_completed",
      actor: "agent",
      grantId,
      connectionId,
      clientName: null,
      detail,
    });
  }

  /** Account deletion: every provider disconnected (revoked upstream where supported), memory forgotten. */
  async purge(): Promise<void> {
    await this.#credentials.disconnectAll((id) => this.#registry.byId(id));
    this.#credentials.clear();
  }

  #event(event: AuditEvent, providerId: string, detail: AuditDetail): void {
    this.#audit.append({
      at: Date.now(),
      event,
      actor: "human",
      grantId: null,
      connectionId: null,
      clientName: null,
      detail: { provider: providerId, ...detail },
    });
  }
}
