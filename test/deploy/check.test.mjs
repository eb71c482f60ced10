// `npm run check:deploy`: the shipped wrangler.toml is refused naming each problem, a filled-in
// one passes, and each broken setting of [env.production] is refused with its own code. The rule
// table runs in-process through runChecks (one read of wrangler's reader per case); the command
// itself is run for its exit codes and its report.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runChecks } from "../../src/deploy/run-checks.mjs";
import {
  CHECK,
  codes,
  edit,
  GOOD_OAUTH_KV,
  GOOD_VAULT_KV,
  goodToml,
  run,
  SHIPPED_TOML,
  tempConfig,
} from "./fixtures.mjs";

/** Check `text` offline and return the problem codes. */
async function problemCodes(text) {
  const config = tempConfig(text);
  try {
    const report = await runChecks({ configPath: config.configPath, remote: false });
    assert.equal(report.secrets, "offline");
    return report.problems.map((problem) => problem.code);
  } finally {
    config.cleanup();
  }
}

const PUBLIC_URL = 'PUBLIC_URL = "https://countersign-production.acme.workers.dev"';
const OIDC = 'OIDC_ISSUER = "https://login.acme.example"\nOIDC_CLIENT_ID = "countersign"\n# Never';

/** One broken setting each, on the filled-in configuration: [name, edit, the one code expected]. */
const BROKEN = [
  ["a loopback PUBLIC_URL", (t) => edit(t, PUBLIC_URL, 'PUBLIC_URL = "http://localhost:8787"'), "public_url_loopback"],
  [
    "a 127.0.0.1 PUBLIC_URL over https",
    (t) => edit(t, PUBLIC_URL, 'PUBLIC_URL = "https://127.0.0.1"'),
    "public_url_loopback",
  ],
  [
    "an http PUBLIC_URL",
    (t) => edit(t, PUBLIC_URL, 'PUBLIC_URL = "http://countersign.acme.example"'),
    "public_url_invalid",
  ],
  [
    "a PUBLIC_URL with a path",
    (t) => edit(t, PUBLIC_URL, 'PUBLIC_URL = "https://countersign-production.acme.workers.dev/mcp"'),
    "public_url_invalid",
  ],
  ["an empty PUBLIC_URL", (t) => edit(t, PUBLIC_URL, 'PUBLIC_URL = ""'), "public_url_invalid"],
  [
    "another Worker's workers.dev host",
    (t) => edit(t, PUBLIC_URL, 'PUBLIC_URL = "https://countersign.acme.workers.dev"'),
    "public_url_host_mismatch",
  ],
  [
    "a workers.dev host once routes turn workers.dev off",
    (t) => edit(t, "# routes = [{ pattern", "routes = [{ pattern"),
    "public_url_host_mismatch",
  ],
  [
    "a custom domain with no route",
    (t) => edit(t, PUBLIC_URL, 'PUBLIC_URL = "https://countersign.acme.example"'),
    "public_url_host_mismatch",
  ],
  [
    "dev sign-in on",
    (t) => edit(t, 'DEV_SIGNIN = ""\nMCP_ALLOWED', 'DEV_SIGNIN = "enabled"\nMCP_ALLOWED'),
    "dev_signin_enabled",
  ],
  [
    "loopback upstream servers on",
    (t) => edit(t, 'UPSTREAM_DEV_LOOPBACK = ""\n\n[env', 'UPSTREAM_DEV_LOOPBACK = "enabled"\n\n[env'),
    "upstream_loopback_enabled",
  ],
  ["no OIDC settings", (t) => edit(t, OIDC, 'OIDC_ISSUER = ""\nOIDC_CLIENT_ID = ""\n# Never'), "signin_missing"],
  [
    "an OIDC issuer without a client id",
    (t) => edit(t, OIDC, 'OIDC_ISSUER = "https://login.acme.example"\nOIDC_CLIENT_ID = ""\n# Never'),
    "oidc_incomplete",
  ],
  [
    "an http OIDC issuer",
    (t) => edit(t, OIDC, 'OIDC_ISSUER = "http://login.acme.example"\nOIDC_CLIENT_ID = "countersign"\n# Never'),
    "oidc_incomplete",
  ],
  [
    "a GRANT_MAX_MINUTES out of range",
    (t) => edit(t, 'GRANT_MAX_MINUTES = "60"\nMCP_SERVERS', 'GRANT_MAX_MINUTES = "2000"\nMCP_SERVERS'),
    "grant_max_invalid",
  ],
  [
    "a VAPID_SUBJECT that is no mailto: or https: URI",
    (t) =>
      edit(
        t,
        'GRANT_MAX_MINUTES = "60"\nMCP_SERVERS',
        'GRANT_MAX_MINUTES = "60"\nVAPID_SUBJECT = "ops@acme.example"\nMCP_SERVERS',
      ),
    "vapid_subject_invalid",
  ],
  [
    "a CUSTOM_PROVIDERS that is not JSON",
    (t) =>
      edit(
        t,
        'CUSTOM_PROVIDERS = ""\nGRANT_MAX_MINUTES = "60"\nMCP',
        `CUSTOM_PROVIDERS = '[{"id":"acme",}]'\nGRANT_MAX_MINUTES = "60"\nMCP`,
      ),
    "custom_providers_invalid",
  ],
  [
    "an MCP_SERVERS that is not a JSON array",
    (t) =>
      edit(
        t,
        'MCP_SERVERS = ""\nUPSTREAM_DEV_LOOPBACK = ""\n\n[env',
        `MCP_SERVERS = '{"name":"team"}'\nUPSTREAM_DEV_LOOPBACK = ""\n\n[env`,
      ),
    "mcp_servers_invalid",
  ],
  [
    "the local OAUTH_KV id",
    (t) => edit(t, `id = "${GOOD_OAUTH_KV}"`, 'id = "00000000000000000000000000000000"'),
    "kv_id_placeholder",
  ],
  [
    "a KV id that is not 32 hex digits",
    (t) => edit(t, `id = "${GOOD_OAUTH_KV}"`, 'id = "my-oauth-namespace"'),
    "kv_id_invalid",
  ],
  ["one KV id for both bindings", (t) => t.replace(/a1b2c3d4e5f60718293a4b5c6d7e8f90/, GOOD_OAUTH_KV), "kv_id_shared"],
  [
    "no VAULT_KV binding",
    (t) => edit(t, `[[env.production.kv_namespaces]]\nbinding = "VAULT_KV"\nid = "${GOOD_VAULT_KV}"\n`, ""),
    "binding_missing",
  ],
  [
    "no Durable Object binding",
    (t) => edit(t, '[[env.production.durable_objects.bindings]]\nname = "SESSION"\nclass_name = "UserSession"\n', ""),
    "binding_missing",
  ],
  [
    "VAULT_KEYS not required",
    (t) =>
      edit(t, 'required = ["COOKIE_SECRET", "VAULT_KEYS"]\n\n# The ids', 'required = ["COOKIE_SECRET"]\n\n# The ids'),
    "secret_not_required",
  ],
  [
    "a secret (OIDC_CLIENT_SECRET) written as a var",
    (t) =>
      edit(
        t,
        'GRANT_MAX_MINUTES = "60"\nMCP_SERVERS = ""\nUPSTREAM_DEV_LOOPBACK = ""\n\n[env',
        'GRANT_MAX_MINUTES = "60"\nOIDC_CLIENT_SECRET = "x"\nMCP_SERVERS = ""\nUPSTREAM_DEV_LOOPBACK = ""\n\n[env',
      ),
    "secret_in_vars",
  ],
];

describe("check:deploy rules", () => {
  it("passes the filled-in configuration", async () => {
    assert.deepEqual(await problemCodes(goodToml()), []);
  });

  it("passes valid optional settings (GRANT_MAX_MINUTES, VAPID_SUBJECT, JSON arrays)", async () => {
    let text = edit(
      goodToml(),
      'GRANT_MAX_MINUTES = "60"\nMCP_SERVERS = ""',
      `GRANT_MAX_MINUTES = "1440"\nVAPID_SUBJECT = "mailto:ops@acme.example"\nMCP_SERVERS = '[]'`,
    );
    text = edit(text, 'CUSTOM_PROVIDERS = ""\nGRANT', `CUSTOM_PROVIDERS = '[{"id":"acme"}]'\nGRANT`);
    assert.deepEqual(await problemCodes(text), []);
  });

  it("passes a custom domain that [env.production] routes", async () => {
    let text = edit(goodToml(), PUBLIC_URL, 'PUBLIC_URL = "https://countersign.acme.example"');
    text = edit(text, "# routes = [{ pattern", "routes = [{ pattern");
    text = edit(text, '"countersign.example.com"', '"countersign.acme.example"');
    assert.deepEqual(await problemCodes(text), []);
  });

  for (const [name, change, code] of BROKEN) {
    it(`refuses ${name} with ${code}`, async () => {
      assert.deepEqual(await problemCodes(change(goodToml())), [code]);
    });
  }

  it("refuses a configuration with no [env.production]", async () => {
    const text = SHIPPED_TOML.slice(0, SHIPPED_TOML.indexOf("[env.production]"));
    assert.deepEqual(await problemCodes(text), ["env_missing"]);
  });

  it("refuses a file wrangler cannot read with config_invalid", async () => {
    assert.deepEqual(await problemCodes(`${goodToml()}\n[env.production.vars\n`), ["config_invalid"]);
  });

  it("refuses COOKIE_SECRET written as a var: wrangler's reader rejects a var named like a required secret", async () => {
    const text = edit(
      goodToml(),
      'GRANT_MAX_MINUTES = "60"\nMCP_SERVERS',
      'GRANT_MAX_MINUTES = "60"\nCOOKIE_SECRET = "x"\nMCP_SERVERS',
    );
    assert.deepEqual(await problemCodes(text), ["config_invalid"]);
  });
});

describe("npm run check:deploy", () => {
  it("fails on the shipped configuration, naming every problem at once", async () => {
    const config = tempConfig(SHIPPED_TOML);
    try {
      const { code, stderr } = await run(CHECK, ["--config", config.configPath]);
      assert.equal(code, 1);
      assert.deepEqual(codes(stderr), [
        "public_url_placeholder",
        "signin_missing",
        "kv_id_placeholder",
        "kv_id_placeholder",
      ]);
      assert.match(stderr, /Not ready to deploy: 4 problems/);
      assert.match(stderr, /PUBLIC_URL is still the placeholder/);
      assert.match(stderr, /OAUTH_KV id is the placeholder/);
      assert.match(stderr, /VAULT_KV id is the placeholder/);
      assert.match(stderr, /were not checked \(offline\)/);
    } finally {
      config.cleanup();
    }
  });

  it("passes the filled-in configuration with exit code 0", async () => {
    const config = tempConfig(goodToml());
    try {
      const { code, stderr, stdout } = await run(CHECK, ["--config", config.configPath]);
      assert.equal(code, 0, stderr);
      assert.equal(stderr, "");
      assert.match(stdout, /is ready to deploy as the Worker "countersign-production"/);
    } finally {
      config.cleanup();
    }
  });

  it("refuses an unknown argument with exit code 2", async () => {
    const { code, stderr } = await run(CHECK, ["--dry-run"]);
    assert.equal(code, 2);
    assert.match(stderr, /unexpected argument "--dry-run"/);
  });
});
