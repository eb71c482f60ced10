/**
 * Workers tests: every test runs inside workerd with real Durable Objects and KV (isolated per
 * test file), through @cloudflare/vitest-plugin. Outbound fetches that a test did not fake fail
 * loudly instead of reaching the network.
 */
import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

const root = fileURLToPath(new URL("..", import.meta.url));

export default defineConfig({
  root,
  // wrangler.toml's [alias], which the Workers plugin does not apply: the tests run the code a deploy bundles.
  resolve: {
    alias: { "@modelcontextprotocol/client/_shims": `${root}src/upstream/client/sdk-shims.ts` },
  },
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          PUBLIC_URL: "https://countersign.test",
          OIDC_ISSUER: "https://idp.test",
          OIDC_CLIENT_ID: "countersign-test",
          OIDC_CLIENT_SECRET: "idp-client-secret",
          DEV_SIGNIN: "",
          COOKIE_SECRET: "test-cookie-secret-0123456789abcdef-0123456789",
          GITHUB_CLIENT_ID: "gh-client",
          GITHUB_CLIENT_SECRET: "gh-client-secret",
          GOOGLE_CLIENT_ID: "google-client",
          GOOGLE_CLIENT_SECRET: "google-client-secret",
          LINEAR_CLIENT_ID: "linear-client",
          LINEAR_CLIENT_SECRET: "linear-client-secret",
          VAULT_KEYS:
            "k2:dGVzdC12YXVsdC1rZXktdHdvLTAxMjM0NTY3ODlhYmNkZWY,k1:dGVzdC12YXVsdC1rZXktb25lLTAxMjM0NTY3ODlhYmNkZWY",
          // A test-only VAPID key (the private scalar d), so push is on in every test.
          VAPID_PRIVATE_KEY: "3s3P0cYbE2vG3pW8-2pQm0y7hG6tWqkz3Zl8yq4cR1A",
          VAPID_SUBJECT: "mailto:push@countersign.test",
        },
        outboundService: (request: Request) =>
          new Response(`unexpected outbound request to ${new URL(request.url).origin}`, { status: 599 }),
      },
    }),
  ],
  test: {
    include: ["test/unit/**/*.test.ts", "test/integration/**/*.test.ts"],
    testTimeout: 20_000,
    silent: "passed-only",
  },
});
