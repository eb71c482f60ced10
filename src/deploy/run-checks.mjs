/**
 * Runs the deploy checks against a wrangler.toml: reads it with wrangler's own reader (the TOML
 * parser and the environment rules `wrangler deploy --env production` applies, so the checker
 * sees exactly what a deploy would send), applies the rules of checks.mjs and, when asked, asks
 * Cloudflare through `wrangler secret list` which secrets are set. Node only; never imported by
 * the Worker. It spawns nothing but `wrangler secret list`, and prints nothing itself.
 */
import { spawn } from "node:child_process";
import { stripVTControlCharacters } from "node:util";
import { checkProduction, checkRemoteSecrets, PRODUCTION_ENV } from "./checks.mjs";

/** @typedef {import("./checks.mjs").Problem} Problem */

/**
 * @typedef {object} CheckReport
 * @property {Problem[]} problems every problem found, in the order of the rules
 * @property {"remote" | "offline"} secrets whether the secrets on Cloudflare were checked
 * @property {string} worker the Worker name the production environment deploys as
 */

/**
 * Check `configPath` for a production deploy.
 * @param {{ configPath: string, remote: boolean }} options
 * @returns {Promise<CheckReport>}
 */
export async function runChecks({ configPath, remote }) {
  const read = await readWranglerConfig(configPath);
  if (!read.ok) return { problems: [read.problem], secrets: "offline", worker: "" };
  const { top, production, envDeclared } = read;
  const problems = checkProduction({ envDeclared, top, production });
  if (!remote || !envDeclared) return { problems, secrets: "offline", worker: production.name ?? "" };
  const listed = await listRemoteSecrets(configPath);
  if (!listed.ok) return { problems: [...problems, listed.problem], secrets: "remote", worker: production.name ?? "" };
  const required = production.secrets?.required ?? [];
  return {
    problems: [...problems, ...checkRemoteSecrets(required, listed.names)],
    secrets: "remote",
    worker: production.name ?? "",
  };
}

/** wrangler.toml through wrangler's reader: the raw file and the two resolved views the rules need. */
async function readWranglerConfig(configPath) {
  // Loaded on first use, not at import: it is a 15 MB bundle, and a bad argument needs none of it.
  const wrangler = await import("wrangler");
  try {
    const { rawConfig } = wrangler.experimental_readRawConfig({ config: configPath });
    const envDeclared = Object.hasOwn(rawConfig.env ?? {}, PRODUCTION_ENV);
    const top = wrangler.unstable_readConfig({ config: configPath }, { hideWarnings: true });
    const production = wrangler.unstable_readConfig(
      { config: configPath, env: PRODUCTION_ENV },
      { hideWarnings: true },
    );
    return { ok: true, top, production, envDeclared };
  } catch (error) {
    const detail = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, " ").trim().slice(0, 500);
    return { ok: false, problem: { code: "config_invalid", message: `wrangler cannot read ${configPath}: ${detail}` } };
  }
}

/** How long `wrangler secret list` may take (login check and one API call) before we give up. */
const SECRET_LIST_TIMEOUT_MS = 60_000;

/**
 * The secret names set on the production Worker, from `wrangler secret list` (found on PATH:
 * npm puts node_modules/.bin there). A Worker that does not exist yet has none.
 * @returns {Promise<{ ok: true, names: string[] } | { ok: false, problem: Problem }>}
 */
function listRemoteSecrets(configPath) {
  const args = ["secret", "list", "--env", PRODUCTION_ENV, "--format", "json", "--config", configPath];
  const command = `wrangler ${args.slice(0, 4).join(" ")}`;
  return new Promise((resolve) => {
    const child = spawn("wrangler", args, {
      // stdin closed: a missing login fails instead of opening a browser from inside a check.
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_HIDE_BANNER: "true" },
      timeout: SECRET_LIST_TIMEOUT_MS,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const failed = (why) =>
      resolve({
        ok: false,
        problem: {
          code: "secret_list_failed",
          message: `could not list the Worker's secrets (${command}): ${why}. Log in with npx wrangler login or set CLOUDFLARE_API_TOKEN`,
        },
      });
    child.on("error", (error) => failed(error.message));
    child.on("close", (status) => {
      if (status !== 0) {
        // A Worker never deployed and never given a secret: it has no secrets yet.
        if (/Worker "[^"]*"[^\n]* not found/.test(stdout + stderr)) return resolve({ ok: true, names: [] });
        const why = status === null ? "it did not answer in time" : `exit code ${status}`;
        return failed(firstLine(stderr || stdout) || why);
      }
      const names = parseSecretList(stdout);
      if (!names) return failed("its output is not the JSON list of secrets");
      resolve({ ok: true, names });
    });
  });
}

/** `wrangler secret list --format json` prints `[{ "name": …, "type": "secret_text" }, …]`. */
function parseSecretList(stdout) {
  try {
    const start = stdout.indexOf("[");
    const list = JSON.parse(stdout.slice(start));
    if (!Array.isArray(list) || !list.every((entry) => typeof entry?.name === "string")) return null;
    return list.map((entry) => entry.name);
  } catch {
    return null;
  }
}

function firstLine(text) {
  // wrangler's error lines start with a coloured "✘ [ERROR]" box; keep the words only.
  const line =
    stripVTControlCharacters(text)
      .split("\n")
      .find((candidate) => candidate.trim() !== "") ?? "";
  return line
    .replace(/^\s*✘\s*\[ERROR\]\s*/, "")
    .trim()
    .replace(/\.$/, "")
    .slice(0, 300);
}
