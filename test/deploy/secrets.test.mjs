// `npm run secrets:generate`: three `wrangler secret put` lines for the production environment,
// each value of the shape the Worker parses, checked with the Worker's own parsers
// (src/vault/keys.ts, src/notify/vapid.ts, imported through Node's type stripping), and new
// values on every run.
import assert from "node:assert/strict";
import { registerHooks } from "node:module";
import { describe, it } from "node:test";
import { run, SECRETS } from "./fixtures.mjs";

// src/ imports siblings without an extension (bundler resolution); Node needs the `.ts`.
registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (error) {
      if (specifier.startsWith(".") && context.parentURL?.endsWith(".ts")) {
        return nextResolve(`${specifier}.ts`, context);
      }
      throw error;
    }
  },
});
const { parseVaultKeys } = await import("../../src/vault/keys.ts");
const { isVapidPrivateKey, vapidPublicKey } = await import("../../src/notify/vapid.ts");

const PUT_LINE = /^printf '%s' '([A-Za-z0-9_:-]+)' \| npx wrangler secret put ([A-Z_]+) --env production$/;

/** Run the generator; return its secrets by name, failing on any line that is neither a put nor a comment. */
async function generate() {
  const { code, stdout, stderr } = await run(SECRETS, []);
  assert.equal(code, 0, stderr);
  const secrets = {};
  for (const line of stdout.trim().split("\n")) {
    if (line.startsWith("# ")) continue;
    const match = PUT_LINE.exec(line);
    assert.ok(match, `unexpected line: ${line}`);
    secrets[match[2]] = match[1];
  }
  return secrets;
}

describe("npm run secrets:generate", () => {
  it("prints one put line for each of COOKIE_SECRET, VAULT_KEYS and VAPID_PRIVATE_KEY", async () => {
    assert.deepEqual(Object.keys(await generate()), ["COOKIE_SECRET", "VAULT_KEYS", "VAPID_PRIVATE_KEY"]);
  });

  it("generates values the Worker accepts", async () => {
    const secrets = await generate();
    assert.match(secrets.COOKIE_SECRET, /^[A-Za-z0-9_-]{64}$/);
    const vault = parseVaultKeys(secrets.VAULT_KEYS);
    assert.ok(vault.ok, "VAULT_KEYS parses");
    assert.match(secrets.VAULT_KEYS, /^k1:[A-Za-z0-9_-]{43}$/);
    assert.ok(isVapidPrivateKey(secrets.VAPID_PRIVATE_KEY), "VAPID_PRIVATE_KEY is 32 bytes of base64url");
    const publicKey = Buffer.from(await vapidPublicKey(secrets.VAPID_PRIVATE_KEY), "base64url");
    assert.equal(publicKey.length, 65);
    assert.equal(publicKey[0], 0x04);
  });

  it("generates new values on every run", async () => {
    const [first, second] = await Promise.all([generate(), generate()]);
    for (const name of Object.keys(first)) assert.notEqual(first[name], second[name], name);
  });
});
