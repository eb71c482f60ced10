/**
 * `npm run secrets:generate`: fresh values for the three secrets a deployment generates itself,
 * printed as the `wrangler secret put` lines that set them on the production Worker. Lines that
 * are not commands start with `#`, so the saved output runs as a shell script. Nothing is
 * written to disk or sent anywhere; the values exist only in this output.
 *
 * - COOKIE_SECRET: 48 random bytes, base64url (64 characters; the Worker wants 32+).
 * - VAULT_KEYS: `k1:` and 32 random bytes, base64url (src/vault/keys.ts's format, kid `k1`).
 * - VAPID_PRIVATE_KEY: the private scalar d of a new P-256 key, 32 bytes base64url, as
 *   src/notify/vapid.ts reads it (the public key is derived from it by the Worker).
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { PRODUCTION_ENV } from "./checks.mjs";

/** New values for the generated secrets, in the order they are printed. */
function generateSecrets() {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const d = privateKey.export({ format: "jwk" }).d;
  if (typeof d !== "string") throw new Error("P-256 key export has no d");
  return {
    COOKIE_SECRET: randomBytes(48).toString("base64url"),
    VAULT_KEYS: `k1:${randomBytes(32).toString("base64url")}`,
    VAPID_PRIVATE_KEY: d,
  };
}

/** The shell line that sets one secret; base64url and `:` need no quoting beyond single quotes. */
function secretPutLine(name, value) {
  return `printf '%s' '${value}' | npx wrangler secret put ${name} --env ${PRODUCTION_ENV}`;
}

const secrets = generateSecrets();
console.log(
  [
    "# Countersign secrets for [env.production]. Keep a copy of VAULT_KEYS and VAPID_PRIVATE_KEY somewhere safe:",
    "# without VAULT_KEYS no stored provider token opens again, and a new VAPID key makes every phone",
    "# turn notifications on again. Run these lines in the repository (or save this output and run it with sh):",
    ...Object.entries(secrets).map(([name, value]) => secretPutLine(name, value)),
  ].join("\n"),
);
