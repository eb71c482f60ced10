// What the soak's clients saw, counted as it happens: every call that succeeded (with the marker
// that finds its audit entries), every failure by code, the direct checks (double uses, refused
// calls that reached the provider, hangs), and anything unexpected, with a message.

export class Tally {
  /** @type {Array<{ person: string, kind: "provider" | "upstream", marker: string | null }>} */
  successes = [];
  /** @type {Map<string, number>} failed calls by "<action>: <outcome>" */
  failures = new Map();
  /** @type {Map<string, number>} actions run, by name */
  actions = new Map();
  calls = 0;
  /** One-call approvals used N times at once or reused: the provider hits past the first. */
  doubleUses = 0;
  oneCallTrials = 0;
  /** Denied, revoked or disconnected calls that still reached the provider. */
  refusedReached = 0;
  refusedChecked = 0;
  /** @type {number[]} how long each hanging provider call took to fail */
  hangMs = [];
  /** Hanging calls that did not fail with Countersign's timeout code. */
  hangWrongCode = 0;
  /** @type {string[]} */
  unexpected = [];

  /** @param {string} person @param {"provider" | "upstream"} kind @param {string | null} marker */
  success(person, kind, marker) {
    this.successes.push({ person, kind, marker });
  }

  /** @param {string} action @param {string} what */
  failure(action, what) {
    const key = `${action}: ${what}`;
    this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
  }

  /** @param {string} action */
  ran(action) {
    this.actions.set(action, (this.actions.get(action) ?? 0) + 1);
  }

  /** @param {string} message */
  surprise(message) {
    if (this.unexpected.length < 200) this.unexpected.push(message);
    else if (this.unexpected.length === 200) this.unexpected.push("… (more left out)");
  }
}
