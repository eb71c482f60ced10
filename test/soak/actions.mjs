// The soak's load: what one person does in one step, drawn from a fixed mix. Each action says
// what it expects and counts what it saw in the tally: a call the client saw succeed is recorded
// with its marker (the `soak` query parameter, which also names it in the audit log's URL), a
// refused call is checked at the provider (its marker must have no hit), and a one-call
// approval is used again after its use (it must be refused, and the provider hit only once).
import { describe, UPSTREAM_TOOL } from "./person.mjs";
import { callTool } from "./wire.mjs";

/** The load mix: action and weight. Hangs are not drawn; the run schedules a few (20 s each). */
export const MIX = /** @type {const} */ ([
  ["read", 50],
  ["upstream", 22],
  ["write", 5],
  ["deny", 2],
  ["revoke", 2],
  ["reconnect", 1],
  ["fail500", 9],
  ["drip", 9],
]);
const TOTAL_WEIGHT = MIX.reduce((sum, [, weight]) => sum + weight, 0);

/** A grant ended or missing: the person asks again, approves, and the call is made once more. */
const ASK_AGAIN = new Set(["access_required", "expired"]);

/** @typedef {import("./person.mjs").Person} Person */

/**
 * What a person does about a refusal that is no fault of the call: ask again for an ended grant,
 * connect acme again when a crash cut a reconnect short. True if the call is worth making again.
 * @param {Person} p @param {import("./wire.mjs").CallOutcome} out
 */
async function recover(p, out) {
  if (out.kind !== "tool_error") return false;
  if (out.code === "not_connected") {
    p.ctx.tally.ran("connect again");
    await p.connectAcme();
    await p.askBroad(p.providers, p.grantMinutes);
    return true;
  }
  if (ASK_AGAIN.has(out.code)) {
    p.ctx.tally.ran("ask again");
    await p.askBroad(p.providers, p.grantMinutes);
    return true;
  }
  return false;
}

/** The action for a uniform draw `r` in [0, 1). */
export function pick(r) {
  let left = r * TOTAL_WEIGHT;
  for (const [name, weight] of MIX) {
    left -= weight;
    if (left < 0) return name;
  }
  return MIX[0][0];
}

const itemsUrl = (/** @type {Person} */ p, /** @type {string} */ path, /** @type {string} */ marker) =>
  `${p.ctx.api.origin}/v1/${path}?soak=${encodeURIComponent(marker)}`;

/**
 * A GET under the broad grant; asks again once if the grant has ended.
 * @param {Person} p @param {string} marker @param {string} path @param {number} status the provider's answer
 */
async function get(p, marker, path = "items", status = 200) {
  let out = await p.call("call_integration_api", { method: "GET", url: itemsUrl(p, path, marker) });
  if (await recover(p, out)) {
    marker = `${marker}-again`;
    out = await p.call("call_integration_api", { method: "GET", url: itemsUrl(p, path, marker) });
  }
  if (out.kind === "ok") {
    const got = out.result.structuredContent;
    if (got?.status !== status) p.ctx.tally.surprise(`${marker}: provider status ${got?.status}, expected ${status}`);
    else p.ctx.tally.success(p.id, "provider", marker);
  }
  return out;
}

/** The arguments of a write (one-call approval) carrying `marker`. @param {Person} p @param {string} marker */
function writeArgs(p, marker) {
  return {
    method: "POST",
    url: itemsUrl(p, "items", marker),
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: `soak item ${marker}` }),
  };
}

/**
 * A write refused, asked for as one call and decided on the page; returns the request id or null.
 * @param {Person} p @param {string} marker @param {"approve" | "deny"} decision
 */
export async function askForCall(p, marker, decision) {
  let refused = await p.call("call_integration_api", writeArgs(p, marker));
  if (refused.kind === "tool_error" && refused.code === "not_connected" && (await recover(p, refused))) {
    refused = await p.call("call_integration_api", writeArgs(p, marker));
  }
  if (refused.kind !== "tool_error" || refused.code !== "access_required") {
    if (refused.kind === "ok") p.ctx.tally.surprise(`${marker}: a write ran without a one-call approval`);
    p.ctx.tally.failure("write", `first call ${describe(refused)}`);
    return null;
  }
  const ask = refused.error.request_elevated_access;
  const asked = await p.call("request_elevated_access", { ...ask, reason: `Soak: create item ${marker}` });
  if (asked.kind !== "ok") {
    p.ctx.tally.failure("write", `request_elevated_access ${describe(asked)}`);
    return null;
  }
  await p.decide(asked.result.structuredContent.approval_url, decision);
  return asked.result.structuredContent.request_id;
}

/** @type {Record<string, (p: Person, marker: string) => Promise<void>>} */
export const ACTIONS = {
  async read(p, marker) {
    const out = await get(p, marker);
    if (out.kind !== "ok") p.ctx.tally.failure("read", describe(out));
  },

  async upstream(p) {
    let out = await p.call(UPSTREAM_TOOL, { query: "login" });
    if (out.kind === "tool_error" && out.code === "reauth_required") {
      p.ctx.tally.ran(`reconnect tracker (${p.ctx.life.restarts === 0 ? "before" : "after"} the restart)`);
      await p.reconnectTracker();
      out = await p.call(UPSTREAM_TOOL, { query: "login" });
    } else if (out.kind === "tool_error" && ASK_AGAIN.has(out.code)) {
      p.ctx.tally.ran("ask again");
      await p.askBroad(p.providers, p.grantMinutes);
      out = await p.call(UPSTREAM_TOOL, { query: "login" });
    }
    if (out.kind === "ok") p.ctx.tally.success(p.id, "upstream", null);
    else p.ctx.tally.failure("upstream", describe(out));
  },

  async write(p, marker) {
    const id = await askForCall(p, marker, "approve");
    if (!id) return;
    const args = { ...writeArgs(p, marker), request_id: id };
    const used = await p.call("call_integration_api", args);
    const again = await p.call("call_integration_api", args);
    const uses = [used, again].filter((out) => out.kind === "ok" && out.result.structuredContent?.status === 201);
    // A first use cut by the crash before it reached the server leaves the approval unused:
    // then the second call is its one use. Two successes, or two provider hits, is a double use.
    for (const _ of uses) p.ctx.tally.success(p.id, "provider", marker);
    if (uses.length === 0) p.ctx.tally.failure("write", `approved call ${describe(used)}, then ${describe(again)}`);
    if (uses.length > 1) p.ctx.tally.surprise(`${marker}: a used one-call approval ran again`);
    p.ctx.tally.oneCallTrials++;
    p.ctx.tally.doubleUses += Math.max(0, p.ctx.api.hits(marker) - 1, uses.length - 1);
  },

  async deny(p, marker) {
    const id = await askForCall(p, marker, "deny");
    if (!id) return;
    const out = await p.call("call_integration_api", { ...writeArgs(p, marker), request_id: id });
    if (out.kind !== "tool_error" || out.code !== "access_denied")
      p.ctx.tally.failure("deny", `expected access_denied, got ${describe(out)}`);
    refusedAt(p, marker);
  },

  async revoke(p, marker) {
    await p.revokeBroad();
    const out = await p.call("call_integration_api", { method: "GET", url: itemsUrl(p, "items", marker) });
    if (out.kind !== "tool_error" || !ASK_AGAIN.has(out.code))
      p.ctx.tally.failure("revoke", `expected a refusal, got ${describe(out)}`);
    refusedAt(p, marker);
    await p.askBroad(p.providers, p.grantMinutes);
  },

  async reconnect(p, marker) {
    if (!p.acmeConnected) {
      // A crash cut the last reconnect short: there is nothing to disconnect.
      await recover(p, { kind: "tool_error", code: "not_connected", error: null, ms: 0 });
      return;
    }
    await p.disconnectAcme();
    const out = await p.call("call_integration_api", { method: "GET", url: itemsUrl(p, "items", marker) });
    if (out.kind !== "tool_error" || out.code !== "not_connected") {
      p.ctx.tally.failure("reconnect", `expected not_connected, got ${describe(out)}`);
    }
    refusedAt(p, marker);
    await p.connectAcme();
    // Disconnecting ended the grants that name acme.
    await p.askBroad(p.providers, p.grantMinutes);
  },

  async fail500(p, marker) {
    const out = await get(p, marker, "fail", 500);
    if (out.kind !== "ok") p.ctx.tally.failure("fail500", describe(out));
  },

  async drip(p, marker) {
    const out = await get(p, marker, "drip", 200);
    if (out.kind !== "ok") p.ctx.tally.failure("drip", describe(out));
  },

  async hang(p, marker) {
    const hangOnce = () => p.call("call_integration_api", { method: "GET", url: itemsUrl(p, "hang", marker) });
    const generation = p.ctx.life.generation;
    let out = await hangOnce();
    // Cut by the crash rather than ended by Countersign: hang once more on the new server.
    if (out.kind === "transport" && p.ctx.life.generation !== generation) out = await hangOnce();
    p.ctx.tally.hangMs.push(out.ms);
    const timedOut =
      out.kind === "tool_error" && out.code === "provider_unavailable" && out.error?.reason === "provider_timeout";
    if (!timedOut) {
      p.ctx.tally.hangWrongCode++;
      p.ctx.tally.surprise(`${marker}: a hanging provider gave ${describe(out)} after ${out.ms} ms`);
    }
  },
};

/** A refused call must not have reached the provider. @param {Person} p @param {string} marker */
function refusedAt(p, marker) {
  p.ctx.tally.refusedChecked++;
  const hits = p.ctx.api.hits(marker);
  if (hits > 0) {
    p.ctx.tally.refusedReached += hits;
    p.ctx.tally.surprise(`${marker}: a refused call reached the provider ${hits} time(s)`);
  }
}

/**
 * One one-call approval used by `count` parallel calls at once (bypassing the global bound, so
 * they really are concurrent): returns how many succeeded and how often the provider was hit.
 * @param {Person} p @param {string} marker @param {number} count
 */
export async function parallelUses(p, marker, count) {
  const id = await askForCall(p, marker, "approve");
  if (!id) throw new Error(`${marker}: the one-call approval for the parallel uses was not set up`);
  await p.ctx.life.ready();
  const args = { ...writeArgs(p, marker), request_id: id };
  const outs = await Promise.all(
    Array.from({ length: count }, () => callTool(p.origin, p.tokens.access_token, "call_integration_api", args)),
  );
  const succeeded = outs.filter((out) => out.kind === "ok");
  for (const _ of succeeded) p.ctx.tally.success(p.id, "provider", marker);
  const refused = outs.filter((out) => out.kind === "tool_error").map((out) => out.code);
  return { successes: succeeded.length, hits: p.ctx.api.hits(marker), refused };
}
