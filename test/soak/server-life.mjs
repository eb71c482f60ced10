// The soak's dev server across a crash: started once on a fresh persisted state, then killed with
// SIGKILL (the whole process group: wrangler and workerd) in the middle of the run and started
// again on the same port, secrets and --persist-to dir, so every client's token, cookie and
// vault record stays valid. Clients await `ready()` before each call; while the server is down
// it resolves only once the new one answers /healthz. Every instance's output is kept for the
// leak scan; the persisted dir is removed only by `dispose()`.

import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevServer } from "../e2e/lib/fixture.mjs";
import { freePort } from "../e2e/lib/util.mjs";

export class ServerLife {
  /** @type {import("../e2e/lib/fixture.mjs").DevServer | undefined} */
  #server;
  /** @type {Promise<void>} */
  #ready = Promise.resolve();
  /** @type {Array<() => string>} */
  #logs = [];
  /** @type {import("../e2e/lib/fixture.mjs").DevServerState | undefined} */
  state;
  restarts = 0;
  /** Bumped when a kill starts: a call that spans a change may have been cut by the crash. */
  generation = 0;
  /** Wall time of each restart, kill to healthy. */
  downtimesMs = /** @type {number[]} */ ([]);

  /** @param {{ label: string, vars: Record<string, string> }} options */
  constructor({ label, vars }) {
    this.label = label;
    this.vars = vars;
  }

  async start() {
    this.state = {
      port: await freePort(),
      cookieSecret: randomBytes(32).toString("base64url"),
      vaultKeys: `soak:${randomBytes(32).toString("base64url")}`,
      persistDir: await mkdtemp(join(tmpdir(), `countersign-${this.label}-`)),
    };
    await this.#boot();
  }

  get origin() {
    return `http://localhost:${this.state?.port}`;
  }

  /** Resolves when the server is up (at once, unless a restart is under way). */
  ready() {
    return this.#ready;
  }

  /** SIGKILL the process group, then start again on the same state. */
  async crashAndRestart() {
    const started = performance.now();
    let done = () => {};
    this.#ready = new Promise((resolve) => {
      done = resolve;
    });
    this.generation++;
    try {
      await this.#server?.kill();
      this.#server = undefined;
      await this.#boot();
      this.restarts++;
      this.downtimesMs.push(Math.round(performance.now() - started));
    } finally {
      done();
    }
  }

  /** Everything every instance printed, stdout and stderr. */
  logs() {
    return this.#logs.map((read) => read()).join("\n");
  }

  /** Stop the server gracefully; the persisted state stays for the checks that read it. */
  async stop() {
    await this.#server?.stop();
    this.#server = undefined;
  }

  /** Remove the persisted state. */
  async dispose() {
    await this.stop();
    if (this.state) await rm(this.state.persistDir, { recursive: true, force: true, maxRetries: 3 });
  }

  async #boot() {
    const label = this.#logs.length === 0 ? this.label : `${this.label}-restart-${this.#logs.length}`;
    const server = await startDevServer({ label, vars: this.vars, state: this.state });
    this.#server = server;
    this.#logs.push(server.logs);
  }
}
