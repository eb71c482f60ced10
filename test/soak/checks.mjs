// The soak's reading-back, after the load: the expiry check (a 5-minute grant approved before the
// restart must be expired by the alarm after it, and refuse a call; a request left undecided
// before the restart must be expired by the alarm after its 10 minutes), each person's export and
// list_integrations, the vault's key names from the persisted state (the app has no page that
// lists vault records, so the dev server is stopped and wrangler lists the local KV namespace:
// names only, never values), the secrets the run used, and then every figure.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { REPO_ROOT, WRANGLER_BIN, WRANGLER_ENV } from "../e2e/lib/fixture.mjs";
import { ALARM_SLACK_MS, auditFigures, consistencyFigures, expiryFigure, leakFigure, zeroFigure } from "./figures.mjs";

const run = promisify(execFile);

/** @typedef {import("./person.mjs").Person} Person */

/**
 * @param {Person} expiry @param {string} grantId @param {string} pendingId @param {boolean} wait
 * @returns {Promise<import("./figures.mjs").ExpiryCheck>}
 */
async function checkExpiry(expiry, grantId, pendingId, wait, log) {
  const before = (await expiry.exportAll()).data;
  const grant = before.grants.find((candidate) => candidate.id === grantId);
  const pending = before.grants.find((candidate) => candidate.id === pendingId);
  if (!grant?.expiresAt || !pending) throw new Error(`the expiry person's grant or request is missing`);
  const due = Math.max(grant.expiresAt, pending.pendingExpiresAt) + ALARM_SLACK_MS;
  if (Date.now() < due && wait) {
    log(
      `# waiting ${Math.ceil((due - Date.now()) / 1000)} s for the grant and the request made before the restart to expire`,
    );
    await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
  }
  const now = Date.now();
  // Read the statuses first: the alarm must have ended them, not the call below.
  const after = (await expiry.exportAll()).data.grants;
  const statusOf = (/** @type {string} */ id) => after.find((candidate) => candidate.id === id)?.status ?? "missing";
  const pendingCheck = {
    pendingMeasured: now >= pending.pendingExpiresAt + ALARM_SLACK_MS,
    pendingStatus: statusOf(pendingId),
  };
  if (now < grant.expiresAt + ALARM_SLACK_MS) {
    return { measured: false, refused: true, status: grant.status, hits: 0, ...pendingCheck };
  }
  const status = statusOf(grantId);
  const marker = "expiry-after";
  const out = await expiry.call("call_integration_api", {
    method: "GET",
    url: `${expiry.ctx.api.origin}/v1/items?soak=${marker}`,
  });
  return {
    measured: true,
    refused: out.kind === "tool_error",
    status,
    hits: expiry.ctx.api.hits(marker),
    ...pendingCheck,
  };
}

/** The vault ids the app says each person has a connection for. @param {Person} p */
async function connectedIds(p) {
  const out = await p.call("list_integrations", {});
  if (out.kind !== "ok") throw new Error(`${p.id}: list_integrations: ${out.code}`);
  const listed = out.result.structuredContent;
  const ids = new Set();
  for (const item of listed.integrations) if (item.status !== "not_connected") ids.add(item.id);
  for (const server of listed.mcp_servers) {
    ids.add(`mcpc_${server.name}`);
    if (server.status !== "not_connected") ids.add(`mcp_${server.name}`);
  }
  return ids;
}

/** Key names of VAULT_KV in the persisted state (the dev server must be stopped). @param {string} persistDir */
async function vaultKeys(persistDir) {
  const { stdout } = await run(
    process.execPath,
    [WRANGLER_BIN, "kv", "key", "list", "--binding", "VAULT_KV", "--local", "--persist-to", persistDir],
    { cwd: REPO_ROOT, env: { ...process.env, ...WRANGLER_ENV }, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 },
  );
  const start = stdout.indexOf("[");
  return JSON.parse(stdout.slice(start)).map((/** @type {{ name: string }} */ key) => key.name);
}

/**
 * Every figure of the run.
 * @param {any} context
 */
export async function collectFigures(context) {
  const { life, api, upstream, tally, tee, people, expiry, expiryGrant, pendingId, trials, log } = context;
  const direct = await checkExpiry(expiry, expiryGrant, pendingId, context.waitForExpiry, log);

  /** @type {Map<string, any>} */
  const exports = new Map();
  /** @type {string[]} */
  const auditTexts = [];
  /** @type {Map<string, Set<string>>} */
  const connected = new Map();
  for (const p of people) {
    const { data } = await p.exportAll();
    exports.set(p.id, data);
    auditTexts.push(JSON.stringify(data.audit));
    connected.set(data.user.id, await connectedIds(p));
  }
  await life.stop();
  const keys = await vaultKeys(life.state.persistDir);
  await tee.restore();

  /** @type {Map<string, string>} */
  const secrets = new Map();
  const add = (/** @type {string} */ value, /** @type {string} */ what) => {
    if (value && value.length >= 12) secrets.set(value, what);
  };
  add(life.state.cookieSecret, "COOKIE_SECRET");
  add(life.state.vaultKeys.split(":")[1], "a VAULT_KEYS key");
  add(api.cookieCanary, "the provider's cookie");
  for (const token of upstream.issuedTokens()) add(token, "an upstream OAuth token");
  for (const value of tee.cookieValues) add(value, "a cookie value Countersign set");
  for (const p of people) {
    add(p.tokens.access_token, `${p.id}'s MCP access token`);
    add(p.tokens.refresh_token, `${p.id}'s MCP refresh token`);
    for (const key of p.apiKeys) add(key, `${p.id}'s acme API key`);
    for (const value of p.cookieValues()) add(value, `${p.id}'s cookie`);
  }
  /** @type {Map<string, string>} */
  const linkTokens = new Map();
  for (const p of people) for (const token of p.linkTokens) linkTokens.set(token, `an approval link token of ${p.id}`);
  const scanStarted = performance.now();
  const logs = { name: "wrangler's output", text: life.logs() };
  const audit = { name: "audit entries", text: auditTexts.join("\n") };
  const leaks = leakFigure([
    { secrets, haystacks: [{ name: "responses", text: [...new Set(tee.bodies)].join("\n") }, logs, audit] },
    // A link token is in the tool answer and on the page it opens; never in a log or the audit.
    { secrets: linkTokens, haystacks: [logs, audit] },
  ]);
  log(`# leak scan: ${(performance.now() - scanStarted).toFixed(0)} ms over ${tee.bodies.length} responses`);

  const worst = trials.reduce((max, trial) => Math.max(max, trial.hits, trial.successes), 0);
  const hangOk = tally.hangMs.length > 0 && tally.hangWrongCode === 0;
  return [
    ...auditFigures(tally, exports),
    zeroFigure(
      `double uses of one one-call approval (${context.parallelUses} parallel uses)`,
      trials.reduce((sum, trial) => sum + Math.max(0, trial.hits - 1, trial.successes - 1), 0) + tally.doubleUses,
      `${trials.length} parallel trials (most provider hits or successes in one: ${worst}); ${tally.oneCallTrials} one-call approvals used and then tried again`,
    ),
    zeroFigure(
      "refused calls that reached the provider",
      tally.refusedReached,
      `${tally.refusedChecked} denied, revoked or disconnected calls checked at the provider`,
    ),
    expiryFigure(exports, direct),
    leaks,
    ...consistencyFigures(exports, { keys, connected }, direct),
    {
      name: "hanging provider calls ended by Countersign's timeout",
      value: tally.hangWrongCode,
      ok: hangOk,
      detail: `${tally.hangMs.length} hangs, each provider_unavailable (provider_timeout) after ${tally.hangMs.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(", ")}`,
    },
    {
      name: "restarts survived",
      value: life.restarts,
      ok: life.restarts >= 1,
      detail: `SIGKILL of the process group and restart on the persisted state, down ${life.downtimesMs.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(", ")}`,
    },
    zeroFigure("unexpected outcomes", tally.unexpected.length, tally.unexpected.slice(0, 3).join(" | ") || "none"),
  ];
}
