/**
 * The features of one person's Durable Object, wired once: the stores over the object's SQL and
 * the features over them. The object (user-session.ts) is the RPC shell; this is where it gets
 * its parts. Features that need configuration or the person's id (provider access, upstream
 * servers) are built on first use, so an object that only answers a grant check never parses
 * the provider registry. The person's id is the object's own name, read once.
 */
import { ApiKeys } from "../apikeys/store";
import { type Config, loadConfig } from "../config";
import { Notifier } from "../notify/notifier";
import { NotifyStore } from "../notify/store";
import { ProviderAccess } from "../providers/access";
import { Credentials } from "../providers/credentials";
import { ProviderLinkStore } from "../providers/links";
import { UpstreamStore } from "../upstream/store";
import { Upstream } from "../upstream/upstream";
import { Alarm } from "./alarm";
import { AuditLog } from "./audit-log";
import { ClientConnections } from "./client-connections";
import { ConnectClaims } from "./connect-claims";
import { ConnectionStore } from "./connection-store";
import { Elicitations } from "./elicitations";
import { GrantBook } from "./grant-book";
import { GrantStore } from "./grant-store";
import { OwnerActions } from "./owner-actions";
import { StandingRuleStore } from "./standing-rule-store";

export class PersonFeatures {
  readonly audit: AuditLog;
  readonly book: GrantBook;
  readonly connections: ClientConnections;
  readonly claims: ConnectClaims;
  readonly notifier: Notifier;
  readonly rules: StandingRuleStore;
  readonly owner: OwnerActions;
  readonly apiKeys: ApiKeys;
  readonly elicitations: Elicitations;
  #providers: ProviderAccess | null = null;
  #upstream: Upstream | null = null;

  /** `env` is read through the object each time, as `this.env` is (tests swap it on the instance). */
  constructor(
    private readonly ctx: DurableObjectState,
    private readonly bindings: () => Env,
  ) {
    const sql = ctx.storage.sql;
    const grants = new GrantStore(sql);
    const notifications = new NotifyStore(sql);
    this.audit = new AuditLog(sql);
    const policy = () => this.config.grantPolicy;
    this.rules = new StandingRuleStore(sql, this.audit);
    const rules = this.rules;
    const alarm = new Alarm(ctx.storage, [
      grants.nextDeadline.bind(grants),
      () => rules.nextDeadline(),
      () => notifications.nextDeadline(),
    ]);
    this.notifier = new Notifier({
      store: notifications,
      audit: this.audit,
      grant: (id) => grants.get(id),
      config: () => this.config,
      userId: () => this.userId,
    });
    const notifier = this.notifier;
    this.book = new GrantBook(grants, this.audit, alarm, policy, rules, (grant, now) => notifier.announce(grant, now));
    this.owner = new OwnerActions(grants, this.book, this.rules, policy, () => this.config.ruleMaxHours);
    this.connections = new ClientConnections(new ConnectionStore(sql), this.book, this.audit);
    this.claims = new ConnectClaims(sql);
    this.apiKeys = new ApiKeys(sql, this.connections);
    this.elicitations = new Elicitations(sql, this.book);
  }

  get config(): Config {
    const config = loadConfig(this.bindings());
    if (!config.ok) throw new Error(`configuration invalid: ${config.error.code}`);
    return config.value;
  }

  /** The person this object belongs to; it is only ever reached by `idFromName(userId)`. */
  get userId(): string {
    const name = this.ctx.id.name;
    if (name === undefined) throw new Error("UserSession must be reached by idFromName(userId)");
    return name;
  }

  /** What a rule made on /activity may name: the person's live connections and their targets. */
  ruleScope(): { connections: string[]; targets: string[] } {
    const live = this.connections.list().filter((connection) => connection.revokedAt === null);
    return {
      connections: live.map((connection) => connection.connectionId),
      targets: [
        ...this.config.registry.all().map((provider) => provider.id),
        ...this.upstream.servers().map((server) => server.name),
      ],
    };
  }

  /** The person's provider access, built once (its credentials are bound to this person). */
  get providers(): ProviderAccess {
    if (this.#providers) return this.#providers;
    const config = this.config;
    const links = new ProviderLinkStore(this.ctx.storage.sql);
    this.#providers = new ProviderAccess({
      registry: config.registry,
      links,
      credentials: new Credentials(links, this.bindings().VAULT_KV, config.vault, this.bindings(), this.userId),
      book: this.book,
      audit: this.audit,
    });
    return this.#providers;
  }

  /** The upstream MCP server feature, built once for the person this object is named after. */
  get upstream(): Upstream {
    if (this.#upstream) return this.#upstream;
    const config = this.config;
    this.#upstream = new Upstream({
      store: new UpstreamStore(this.ctx.storage.sql),
      book: this.book,
      audit: this.audit,
      env: {
        kv: this.bindings().VAULT_KV,
        keyring: config.vault,
        allowLoopback: config.upstreamLoopback,
        catalogue: config.mcpServers,
        providerIds: config.registry.all().map((provider) => provider.id),
        background: (work) => this.ctx.waitUntil(work),
      },
      userId: this.userId,
    });
    return this.#upstream;
  }
}
