// The paths that ask Cloudflare: `check:deploy --remote` (or CLOUDFLARE_API_TOKEN set) and
// `npm run deploy`, against a fake `wrangler` first on PATH, so no network is touched. A refused
// deploy must never reach `wrangler deploy`: each test asserts the exact wrangler calls made.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  CHECK,
  codes,
  DEPLOY,
  goodToml,
  installFakeWrangler,
  run,
  SHIPPED_TOML,
  secretList,
  tempConfig,
} from "./fixtures.mjs";

/** Run `script` on a temp copy of `text` with a fake wrangler; clean up after. */
async function withFake(text, script, args, env) {
  const config = tempConfig(text);
  try {
    const fake = installFakeWrangler(config.dir);
    const result = await run(script, ["--config", config.configPath, ...args], { PATH: fake.path, ...env });
    return { ...result, calls: fake.calls(), configPath: config.configPath };
  } finally {
    config.cleanup();
  }
}

const listCall = (configPath) => `secret list --env production --format json --config ${configPath}`;

describe("check:deploy --remote", () => {
  it("passes when Cloudflare has every required secret", async () => {
    const result = await withFake(goodToml(), CHECK, ["--remote"], {
      FAKE_SECRETS: secretList("COOKIE_SECRET", "VAULT_KEYS", "OIDC_CLIENT_SECRET"),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.calls, [listCall(result.configPath)]);
    assert.doesNotMatch(result.stdout, /not checked/);
  });

  it("refuses each required secret Cloudflare lacks with secret_missing", async () => {
    const result = await withFake(goodToml(), CHECK, ["--remote"], { FAKE_SECRETS: secretList("COOKIE_SECRET") });
    assert.equal(result.code, 1);
    assert.deepEqual(codes(result.stderr), ["secret_missing"]);
    assert.match(result.stderr, /secret VAULT_KEYS is not set on the Worker/);
  });

  it("asks Cloudflare when CLOUDFLARE_API_TOKEN is set, without --remote", async () => {
    const result = await withFake(goodToml(), CHECK, [], {
      CLOUDFLARE_API_TOKEN: "test-token",
      FAKE_SECRETS: secretList(),
    });
    assert.equal(result.code, 1);
    assert.deepEqual(codes(result.stderr), ["secret_missing", "secret_missing"]);
    assert.deepEqual(result.calls, [listCall(result.configPath)]);
  });

  it("counts a Worker that does not exist yet as having no secrets", async () => {
    const result = await withFake(goodToml(), CHECK, ["--remote"], { FAKE_MODE: "not_found" });
    assert.equal(result.code, 1);
    assert.deepEqual(codes(result.stderr), ["secret_missing", "secret_missing"]);
  });

  it("refuses with secret_list_failed when wrangler cannot list the secrets", async () => {
    const result = await withFake(goodToml(), CHECK, ["--remote"], { FAKE_MODE: "unauthenticated" });
    assert.equal(result.code, 1);
    assert.deepEqual(codes(result.stderr), ["secret_list_failed"]);
    assert.match(result.stderr, /You must be logged in to use wrangler\. Log in with npx wrangler login/);
  });

  it("refuses with secret_list_failed when wrangler prints something else than the list", async () => {
    const result = await withFake(goodToml(), CHECK, ["--remote"], { FAKE_SECRETS: "{}" });
    assert.deepEqual(codes(result.stderr), ["secret_list_failed"]);
  });

  it("lists the configuration's problems and the secrets' together", async () => {
    const result = await withFake(SHIPPED_TOML, CHECK, ["--remote"], { FAKE_SECRETS: secretList("VAULT_KEYS") });
    assert.equal(result.code, 1);
    assert.deepEqual(codes(result.stderr), [
      "public_url_placeholder",
      "signin_missing",
      "kv_id_placeholder",
      "kv_id_placeholder",
      "secret_missing",
    ]);
  });
});

describe("npm run deploy", () => {
  const ALL_SECRETS = secretList("COOKIE_SECRET", "VAULT_KEYS");

  it("deploys --env production after the checks pass, passing other flags on", async () => {
    const result = await withFake(goodToml(), DEPLOY, ["--dry-run"], { FAKE_SECRETS: ALL_SECRETS });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.calls, [
      listCall(result.configPath),
      `deploy --env production --config ${result.configPath} --dry-run`,
    ]);
  });

  it("refuses the shipped configuration and never runs wrangler deploy", async () => {
    const result = await withFake(SHIPPED_TOML, DEPLOY, [], { FAKE_SECRETS: ALL_SECRETS });
    assert.equal(result.code, 1);
    assert.deepEqual(codes(result.stderr), [
      "public_url_placeholder",
      "signin_missing",
      "kv_id_placeholder",
      "kv_id_placeholder",
    ]);
    assert.deepEqual(result.calls, [listCall(result.configPath)]);
  });

  it("refuses a missing secret and never runs wrangler deploy", async () => {
    const result = await withFake(goodToml(), DEPLOY, [], { FAKE_SECRETS: secretList("VAULT_KEYS") });
    assert.equal(result.code, 1);
    assert.deepEqual(codes(result.stderr), ["secret_missing"]);
    assert.ok(!result.calls.some((call) => call.startsWith("deploy")));
  });

  for (const flags of [
    ["--var", "PUBLIC_URL:https://x.example"],
    ["--var=PUBLIC_URL:https://x.example"],
    ["--env", "staging"],
    ["--keep-vars"],
  ]) {
    it(`refuses ${flags[0].split("=")[0]} with one_off_flag before calling wrangler at all`, async () => {
      const result = await withFake(goodToml(), DEPLOY, flags, { FAKE_SECRETS: ALL_SECRETS });
      assert.equal(result.code, 1);
      assert.deepEqual(codes(result.stderr), ["one_off_flag"]);
      assert.deepEqual(result.calls, []);
    });
  }
});
