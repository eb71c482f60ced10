// Fixtures for the deploy-check tests: temp copies of the repository's wrangler.toml (as shipped,
// filled in, or with one setting broken), a fake `wrangler` put first on PATH that records its
// arguments and answers `secret list` as told (so no test reaches Cloudflare), and a runner for
// the npm scripts' entry points under the Node that runs the tests.
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const SHIPPED_TOML = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
export const CHECK = join(ROOT, "src/deploy/check.mjs");
export const DEPLOY = join(ROOT, "src/deploy/deploy.mjs");
export const SECRETS = join(ROOT, "src/deploy/secrets.mjs");

export const GOOD_OAUTH_KV = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
export const GOOD_VAULT_KV = "a1b2c3d4e5f60718293a4b5c6d7e8f90";

/** Replace `from` once in `text`, failing loudly when the shipped file no longer has it. */
export function edit(text, from, to) {
  if (!text.includes(from)) throw new Error(`fixture: wrangler.toml no longer contains ${JSON.stringify(from)}`);
  return text.replace(from, to);
}

/** The shipped wrangler.toml with [env.production] filled in as the docs tell people to. */
export function goodToml() {
  let text = SHIPPED_TOML;
  text = edit(
    text,
    'PUBLIC_URL = "https://countersign-production.<your-subdomain>.workers.dev"',
    'PUBLIC_URL = "https://countersign-production.acme.workers.dev"',
  );
  text = edit(
    text,
    'OIDC_ISSUER = ""\nOIDC_CLIENT_ID = ""\n# Never',
    'OIDC_ISSUER = "https://login.acme.example"\nOIDC_CLIENT_ID = "countersign"\n# Never',
  );
  text = edit(text, 'id = "<your OAUTH_KV namespace id>"', `id = "${GOOD_OAUTH_KV}"`);
  text = edit(text, 'id = "<your VAULT_KV namespace id>"', `id = "${GOOD_VAULT_KV}"`);
  return text;
}

/** A temp directory holding `wrangler.toml` with `text`; `cleanup` removes it. */
export function tempConfig(text) {
  const dir = mkdtempSync(join(tmpdir(), "countersign-deploy-"));
  const configPath = join(dir, "wrangler.toml");
  writeFileSync(configPath, text);
  return { dir, configPath, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A fake `wrangler` in `dir/bin`, first on the returned PATH. `secret list` prints FAKE_SECRETS
 * (JSON), or fails as a missing login does (FAKE_MODE=unauthenticated) or as a Worker that does
 * not exist does (FAKE_MODE=not_found); anything else exits 0. Every call is recorded.
 */
export function installFakeWrangler(dir) {
  const bin = join(dir, "bin");
  const log = join(dir, "wrangler-calls");
  mkdirSync(bin, { recursive: true });
  writeFileSync(log, "");
  const script = `#!/bin/sh
echo "$*" >> "${log}"
if [ "$1" = "secret" ] && [ "$2" = "list" ]; then
  case "$FAKE_MODE" in
    unauthenticated) echo "✘ [ERROR] You must be logged in to use wrangler." >&2; exit 1 ;;
    not_found) echo "✘ [ERROR] Worker \\"countersign-production\\" (env: production) not found." >&2; exit 1 ;;
  esac
  echo "$FAKE_SECRETS"
fi
exit 0
`;
  writeFileSync(join(bin, "wrangler"), script);
  chmodSync(join(bin, "wrangler"), 0o755);
  return {
    path: `${bin}:${process.env.PATH ?? ""}`,
    calls: () =>
      readFileSync(log, "utf8")
        .split("\n")
        .filter((line) => line !== ""),
  };
}

/** The JSON `wrangler secret list` prints for these names. */
export function secretList(...names) {
  return JSON.stringify(names.map((name) => ({ name, type: "secret_text" })));
}

/**
 * Run one of the entry points with the test's Node; resolves with its exit code and output.
 * CLOUDFLARE_API_TOKEN is removed unless `env` sets it, so the offline path stays offline.
 * @param {string} script
 * @param {string[]} args
 * @param {Record<string, string>} [env]
 */
export function run(script, args, env = {}) {
  const { CLOUDFLARE_API_TOKEN: _token, ...inherited } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      env: { ...inherited, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The problem codes a report printed, in order (`  <code>  <message>` lines on stderr). */
export function codes(stderr) {
  return [...stderr.matchAll(/^ {2}([a-z_]+) {2,}/gm)].map((match) => match[1]);
}
