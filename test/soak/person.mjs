// One simulated person of the soak: their MCP client connection (raw OAuth, its own DCR client
// and token), their signed-in browser (the same cookie jar that consented), provider "acme"
// connected with an API key, the upstream MCP server "tracker" connected through its OAuth,
// and a broad read grant on both. The person's calls are strictly one after another, so the
// audit entries of their connection come in call order (the lost-entry count relies on it).
// What the person does when a call fails is what a person would: ask again when a grant has
// ended, reconnect when a server says reauth_required, wait for the server when it is down.
import { decideByFetch } from "../e2e/lib/approval.mjs";
import { parseForms } from "../e2e/lib/browser-flow.mjs";
import { disconnectProvider, saveApiKey } from "../e2e/lib/connections.mjs";
import { signInRawClient } from "../e2e/lib/oauth.mjs";
import { connectOnPage, serverPath, submitMcpForm } from "../e2e/lib/upstream-flow.mjs";
import { callTool } from "./wire.mjs";

/**
 * The request_elevated_access kind of a broad grant. Being renamed on main from "session" to
 * "broad": this is the one place that spells it.
 */
export const BROAD_KIND = "broad";
export const SERVER_NAME = "tracker";
export const UPSTREAM_TOOL = `${SERVER_NAME}__search_issues`;
const READS = ["search_issues", "get_issue"];

/**
 * @typedef {object} SoakContext
 * @property {import("./server-life.mjs").ServerLife} life
 * @property {import("../e2e/lib/soak-api.mjs").SoakApi} api
 * @property {import("../e2e/lib/upstream-mcp.mjs").UpstreamMcp} upstream
 * @property {import("./tally.mjs").Tally} tally
 * @property {<T>(task: () => Promise<T>) => Promise<T>} limit   the global concurrency bound
 */

export class Person {
  /** @type {Awaited<ReturnType<typeof signInRawClient>> | undefined} */
  #session;
  /** The live broad grant, as far as this person knows. */
  grantId = "";
  /** @type {string[]} every API key this person pasted */
  apiKeys = [];
  /** @type {string[]} the `t` of every approval link opened: never to be logged or audited */
  linkTokens = [];
  /** Whether acme is connected, as far as this person knows. */
  acmeConnected = false;
  /** @type {string[]} what the broad grant names */
  providers = ["acme"];

  /**
   * @param {SoakContext} ctx
   * @param {{ id: string, index: number, grantMinutes: number }} options
   */
  constructor(ctx, { id, index, grantMinutes }) {
    this.ctx = ctx;
    this.id = id;
    this.email = `${id}@soak.example.com`;
    // wrangler dev passes a client's CF-Connecting-IP through: one rate-limit bucket per person.
    this.ip = `10.77.${Math.floor(index / 250)}.${(index % 250) + 1}`;
    this.grantMinutes = grantMinutes;
  }

  get origin() {
    return this.ctx.life.origin;
  }
  get browser() {
    if (!this.#session) throw new Error(`${this.id} is not signed in`);
    return this.#session.browser;
  }
  get tokens() {
    if (!this.#session) throw new Error(`${this.id} is not signed in`);
    return this.#session.tokens;
  }

  /** Sign in, connect acme and the tracker, accept its reads, get a broad read grant. */
  async setUp({ upstream = true } = {}) {
    this.#session = await this.ctx.limit(() =>
      signInRawClient(this.origin, {
        email: this.email,
        clientName: `Soak client ${this.id}`,
        headers: { "CF-Connecting-IP": this.ip },
      }),
    );
    await this.connectAcme();
    if (upstream) {
      this.providers = ["acme", SERVER_NAME];
      const added = await this.call("add_mcp_server", { name: SERVER_NAME, url: this.ctx.upstream.mcpUrl });
      if (added.kind !== "ok") throw new Error(`${this.id}: add_mcp_server: ${describe(added)}`);
      await this.reconnectTracker();
      const saved = await this.ctx.limit(() =>
        submitMcpForm(this.browser, serverPath(SERVER_NAME, "reads"), { tools: READS }),
      );
      await saved.arrayBuffer();
      if (saved.status !== 303) throw new Error(`${this.id}: accepting reads: HTTP ${saved.status}`);
    }
    await this.askBroad(this.providers, this.grantMinutes);
  }

  /** One tool call under the global bound, after the server is up. */
  async call(tool, args) {
    await this.ctx.life.ready();
    const generation = this.ctx.life.generation;
    const out = await this.ctx.limit(() => callTool(this.origin, this.tokens.access_token, tool, args));
    // Only the crash may cut a call off: a transport failure on a server that stayed up is a finding.
    if (out.kind === "transport" && this.ctx.life.generation === generation) {
      this.ctx.tally.surprise(`${this.id} ${tool}: ${out.code} (${out.message}) with no crash`);
    }
    return out;
  }

  async connectAcme() {
    const key = `acme-key-${this.id}-${this.apiKeys.length}-${Math.random().toString(36).slice(2, 14)}`;
    this.apiKeys.push(key);
    const saved = await this.ctx.limit(() => saveApiKey(this.browser, "acme", key));
    await saved.arrayBuffer();
    if (saved.status !== 303) throw new Error(`${this.id}: saving the acme key: HTTP ${saved.status}`);
    this.acmeConnected = true;
  }

  async reconnectTracker() {
    const flow = await this.ctx.limit(() => connectOnPage(this.browser, SERVER_NAME));
    if (flow.finished.status !== 303)
      throw new Error(`${this.id}: connecting the tracker: HTTP ${flow.finished.status}`);
  }

  async disconnectAcme() {
    this.acmeConnected = false;
    const res = await this.ctx.limit(() => disconnectProvider(this.browser, "acme"));
    await res.arrayBuffer();
    if (res.status !== 303) throw new Error(`${this.id}: disconnecting acme: HTTP ${res.status}`);
  }

  /**
   * Ask for a broad read grant and approve it on the page; returns the request id.
   * @param {string[]} providers
   * @param {number} minutes
   */
  async askBroad(providers, minutes) {
    const asked = await this.call("request_elevated_access", {
      kind: BROAD_KIND,
      level: "read",
      providers,
      duration_minutes: minutes,
      reason: `Soak: read for ${this.id}`,
    });
    if (asked.kind !== "ok") throw new Error(`${this.id}: request_elevated_access: ${describe(asked)}`);
    const { approval_url: url, request_id: id } = asked.result.structuredContent;
    await this.decide(url, "approve", String(minutes * 60));
    this.grantId = id;
    return id;
  }

  /**
   * Open an approval link and press approve or deny.
   * @param {string} url
   * @param {"approve" | "deny"} decision
   * @param {string} [duration]
   */
  async decide(url, decision, duration) {
    const token = new URL(url).searchParams.get("t");
    if (token) this.linkTokens.push(token);
    await this.ctx.life.ready();
    const decided = await this.ctx.limit(() =>
      decideByFetch(this.browser, url, { decision, ...(duration ? { duration } : {}) }),
    );
    if (decided.status !== 200) throw new Error(`${this.id}: ${decision}: HTTP ${decided.status}`);
  }

  /** Revoke the broad grant on /activity with the page's own form. */
  async revokeBroad() {
    await this.ctx.life.ready();
    const action = `/activity/grants/${encodeURIComponent(this.grantId)}/revoke`;
    const res = await this.ctx.limit(async () => {
      const page = await this.browser.get("/activity");
      const form = parseForms(await page.text()).find((candidate) => candidate.action === action);
      const csrf = form?.inputs.find((input) => input.name === "csrf")?.value;
      if (!csrf) throw new Error(`${this.id}: /activity has no revoke form for ${this.grantId}`);
      return this.browser.post(action, new URLSearchParams({ csrf }));
    });
    await res.arrayBuffer();
    if (res.status !== 303) throw new Error(`${this.id}: revoke: HTTP ${res.status}`);
  }

  /** The person's whole export (connections, grants, audit) as /activity/export.json serves it. */
  async exportAll() {
    await this.ctx.life.ready();
    const res = await this.ctx.limit(() => this.browser.get("/activity/export.json"));
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${this.id}: export: HTTP ${res.status}`);
    return { text, data: JSON.parse(text) };
  }

  /** Everything the person's cookie jar holds (for the leak scan). */
  cookieValues() {
    return this.#session ? this.#session.browser.jar.values() : [];
  }
}

/** A short description of a call outcome, for error messages. */
export function describe(outcome) {
  if (outcome.kind === "ok") return "ok";
  return `${outcome.kind} ${outcome.code}${outcome.kind === "tool_error" && outcome.error?.reason ? ` (${outcome.error.reason})` : ""}`;
}
