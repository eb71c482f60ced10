// The soak's figures, computed from what the clients saw (the tally) and what the app itself says
// afterwards (each person's /activity/export.json, list_integrations, and the vault's key names
// read back from the persisted state). Pure: no I/O, no clock (`now` comes with each export).
//
// How an audit entry is tied to a call: a person's calls on their connection are sequential, so
// each `call_allowed` opens a slot and the `call_completed` entries that follow it on the same
// connection and grant, before the next `call_allowed`, belong to it. A provider call is found by
// its marker (the `soak` query parameter of the URL that `call_allowed` records); upstream tool
// calls carry no marker in the audit, so they are counted per connection.

/** Past-deadline tolerance for the consistency figures: the alarm runs at the deadline, not before. */
export const ALARM_SLACK_MS = 5_000;

/**
 * @typedef {object} Figure
 * @property {string} name
 * @property {number | null} value   null: not measured in this run
 * @property {boolean | null} ok      null: not measured
 * @property {string} detail
 */

/**
 * The direct checks of a grant and a request made before the restart, read after their expiry.
 * @typedef {object} ExpiryCheck
 * @property {boolean} measured   the grant's expiry had passed when it was checked
 * @property {boolean} refused    a call under it was refused
 * @property {string} status      its status, read before that call
 * @property {number} hits        how often that call reached the provider
 * @property {boolean} pendingMeasured  the undecided request's pending deadline had passed
 * @property {string} pendingStatus     its status then
 */

/** @param {string} name @param {number} value @param {string} detail @returns {Figure} */
export const zeroFigure = (name, value, detail) => ({ name, value, ok: value === 0, detail });

/** @param {any[]} audit */
function slotsOf(audit) {
  const sorted = [...audit].sort((a, b) => a.seq - b.seq);
  /** @type {Map<string, { allowed: any, completions: any[] }>} latest slot per connection */
  const latest = new Map();
  /** @type {Array<{ allowed: any, completions: any[] }>} */
  const slots = [];
  let orphans = 0;
  for (const entry of sorted) {
    if (entry.event === "call_allowed") {
      const slot = { allowed: entry, completions: [] };
      slots.push(slot);
      latest.set(entry.connectionId, slot);
    } else if (entry.event === "call_completed") {
      const slot = latest.get(entry.connectionId);
      if (slot && slot.allowed.grantId === entry.grantId) slot.completions.push(entry);
      else orphans++;
    }
  }
  return { slots, orphans };
}

/** The `soak` marker of a recorded URL, or null. @param {unknown} url */
function markerOf(url) {
  if (typeof url !== "string" || !url.startsWith("http")) return null;
  return new URL(url).searchParams.get("soak");
}

/**
 * Lost and duplicated audit entries of the calls the clients saw succeed.
 * @param {import("./tally.mjs").Tally} tally
 * @param {Map<string, any>} exports   person id -> export JSON
 */
export function auditFigures(tally, exports) {
  let lost = 0;
  let duplicated = 0;
  let orphanCompletions = 0;
  /** @type {string[]} */
  const examples = [];
  for (const [person, data] of exports) {
    const { slots, orphans } = slotsOf(data.audit);
    orphanCompletions += orphans;
    /** @type {Map<string, Array<{ allowed: any, completions: any[] }>>} */
    const byMarker = new Map();
    for (const slot of slots) {
      const marker = markerOf(slot.allowed.detail?.url);
      if (marker) byMarker.set(marker, [...(byMarker.get(marker) ?? []), slot]);
      if (slot.completions.length > 1) duplicated += slot.completions.length - 1;
    }
    const mine = tally.successes.filter((success) => success.person === person);
    /** @type {Map<string, number>} */
    const seen = new Map();
    for (const success of mine) {
      if (success.kind === "provider" && success.marker) seen.set(success.marker, (seen.get(success.marker) ?? 0) + 1);
    }
    for (const [marker, count] of seen) {
      const sent = (byMarker.get(marker) ?? []).filter((slot) =>
        slot.completions.some((entry) => entry.detail?.outcome === "sent"),
      ).length;
      if (sent < count) {
        lost += count - sent;
        if (examples.length < 5) examples.push(`${person} ${marker}`);
      }
    }
    const upstreamSeen = mine.filter((success) => success.kind === "upstream").length;
    const upstreamCompleted = slots.filter(
      (slot) => String(slot.allowed.detail?.url ?? "").startsWith("mcp://") && slot.completions.length > 0,
    ).length;
    if (upstreamCompleted < upstreamSeen) {
      lost += upstreamSeen - upstreamCompleted;
      if (examples.length < 5) examples.push(`${person} upstream ${upstreamSeen - upstreamCompleted}`);
    }
  }
  const checked = tally.successes.length;
  return [
    zeroFigure(
      "lost audit entries",
      lost,
      `${checked} calls seen to succeed, each needs one call_completed${examples.length ? `; e.g. ${examples.join(", ")}` : ""}`,
    ),
    zeroFigure(
      "duplicated audit entries",
      duplicated + orphanCompletions,
      `${duplicated} second completions of one call, ${orphanCompletions} completions with no call_allowed before them`,
    ),
  ];
}

/**
 * Calls allowed under a grant after its expiry, from the audit (every grant of every person),
 * plus the direct check of one grant that was approved before the restart and expired after it.
 * @param {Map<string, any>} exports
 * @param {ExpiryCheck} direct
 */
export function expiryFigure(exports, direct) {
  let usable = 0;
  let reached = 0;
  for (const data of exports.values()) {
    const now = Date.parse(data.exported_at);
    const grants = new Map(data.grants.map((grant) => [grant.id, grant]));
    for (const grant of data.grants) if (grant.expiresAt !== null && grant.expiresAt < now) reached++;
    for (const entry of data.audit) {
      if (entry.event !== "call_allowed") continue;
      const grant = grants.get(entry.grantId);
      if (grant?.expiresAt != null && entry.at > grant.expiresAt) usable++;
    }
  }
  if (!direct?.measured) {
    return {
      name: "grants usable after expiry",
      value: reached > 0 ? usable : null,
      ok: reached > 0 ? usable === 0 : null,
      detail: `not measured across the restart: the run ended before the 5-minute grant expired (${reached} grants reached their expiry, ${usable} calls allowed after one)`,
    };
  }
  const directBad = (direct.refused ? 0 : 1) + (direct.status === "expired" ? 0 : 1) + direct.hits;
  return zeroFigure(
    "grants usable after expiry",
    usable + directBad,
    `${reached} grants reached their expiry; ${usable} calls allowed after one; the grant approved before the restart reads "${direct.status}" after its expiry, its call was ${direct.refused ? "refused" : "ALLOWED"} and reached the provider ${direct.hits} time(s)`,
  );
}

/**
 * No pending request past its expiry, no approved grant past its end (the alarm ran, across the
 * restart too), and no vault record without its connection.
 * @param {Map<string, any>} exports
 * @param {{ keys: string[], connected: Map<string, Set<string>> }} vault  userId -> vault ids the app says are connected
 * @param {ExpiryCheck} direct
 */
export function consistencyFigures(exports, vault, direct) {
  let pending = 0;
  let approved = 0;
  let grants = 0;
  // Only requests and grants whose deadline has passed can show whether the alarm ran.
  let pendingDue = 0;
  let approvedDue = 0;
  for (const data of exports.values()) {
    const now = Date.parse(data.exported_at) - ALARM_SLACK_MS;
    for (const grant of data.grants) {
      grants++;
      if (grant.decidedAt === null && grant.pendingExpiresAt < now) pendingDue++;
      if (grant.expiresAt !== null && grant.expiresAt < now) approvedDue++;
      if (grant.status === "pending" && grant.pendingExpiresAt < now) pending++;
      if (grant.status === "approved" && grant.expiresAt !== null && grant.expiresAt < now) approved++;
    }
  }
  const acrossRestart = direct.pendingMeasured && direct.pendingStatus !== "expired" ? 1 : 0;
  /** @param {string} name @param {number} value @param {number} due @param {string} detail @returns {Figure} */
  const dueFigure = (name, value, due, detail) =>
    due === 0
      ? { name, value: null, ok: null, detail: `not measured: none reached its deadline in this run (${detail})` }
      : zeroFigure(name, value, `${due} reached their deadline (${detail})`);
  const orphans = vault.keys.filter((key) => {
    const [, userId, id] = key.split(":");
    return !vault.connected.get(userId ?? "")?.has(id ?? "");
  });
  return [
    dueFigure(
      "pending requests past their expiry",
      pending + acrossRestart,
      pendingDue,
      `${grants} grants and requests checked; the request left undecided before the restart reads "${direct.pendingStatus}"${direct.pendingMeasured ? " after its deadline" : ", its deadline not reached"}`,
    ),
    dueFigure("approved grants past their end", approved, approvedDue, `${grants} grants and requests checked`),
    zeroFigure(
      "vault records without their connection",
      orphans.length,
      `${vault.keys.length} vault records${orphans.length ? `; e.g. ${orphans.slice(0, 3).join(", ")}` : ""}`,
    ),
  ];
}

/**
 * Every secret the run used, looked for in every haystack of its group.
 * @param {Array<{ secrets: Map<string, string>, haystacks: Array<{ name: string, text: string }> }>} groups
 *   secret -> what it is; a group's secrets are looked for only in that group's haystacks
 */
export function leakFigure(groups) {
  /** @type {string[]} */
  const found = [];
  let count = 0;
  for (const { secrets, haystacks } of groups) {
    count += secrets.size;
    for (const [secret, what] of secrets) {
      for (const haystack of haystacks) {
        if (haystack.text.includes(secret)) found.push(`${what} in ${haystack.name}`);
      }
    }
  }
  const names = [...new Set(groups.flatMap((group) => group.haystacks.map((haystack) => haystack.name)))];
  const bytes = groups[0]?.haystacks.reduce((sum, haystack) => sum + haystack.text.length, 0) ?? 0;
  return zeroFigure(
    "leaks",
    found.length,
    `${count} secrets looked for in ${names.join(", ")} (${(bytes / 1e6).toFixed(1)} MB)${found.length ? `: ${found.slice(0, 8).join("; ")}` : ""}`,
  );
}

/** @param {Figure[]} figures */
export function formatFigures(figures) {
  const width = Math.max(...figures.map((figure) => figure.name.length));
  return figures
    .map((figure) => {
      const verdict = figure.ok === null ? "n/a " : figure.ok ? "ok  " : "FAIL";
      const value = figure.value === null ? "-" : String(figure.value);
      return `${verdict} ${figure.name.padEnd(width)} ${value.padStart(5)}  ${figure.detail}`;
    })
    .join("\n");
}
