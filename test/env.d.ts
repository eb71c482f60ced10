/** Test-only bindings: what vitest.config.ts adds on top of wrangler.toml. */
declare namespace Cloudflare {
  interface Env {
    OIDC_CLIENT_SECRET: string;
    VAPID_PRIVATE_KEY: string;
    VAPID_SUBJECT: string;
  }
}
