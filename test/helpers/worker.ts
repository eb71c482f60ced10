/**
 * Call the Worker's own fetch handler inside workerd with a chosen set of bindings, the way the
 * runtime would. Each distinct env object gets its own configuration and provider, so a test
 * can run the dev sign-in mode beside the default OIDC mode without another pool.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import worker from "../../src/index";

export const PUBLIC_ORIGIN = "https://countersign.test";
export const RESOURCE = `${PUBLIC_ORIGIN}/mcp`;

/** The default test bindings (OIDC sign-in against the fake IdP at https://idp.test). */
export const baseEnv: Env = env;

/** A copy of the bindings with some replaced; build it once per file and reuse it. */
export function envWith(overrides: Partial<Record<keyof Env, string>>): Env {
  // The provider caches its helpers on the env object it serves (OAUTH_PROVIDER); a copy of an
  // env another provider already served must not inherit them.
  const { OAUTH_PROVIDER: _helpers, ...bindings } = env as Env & { OAUTH_PROVIDER?: unknown };
  return { ...bindings, ...overrides } as Env;
}

/** Send a request to the Worker. Sets Host from the URL like a real client would. */
export async function fetchWorker(input: string, init: RequestInit = {}, bindings: Env = baseEnv): Promise<Response> {
  const url = new URL(input, bindings.PUBLIC_URL);
  const headers = new Headers(init.headers);
  if (!headers.has("Host")) headers.set("Host", url.host);
  // Each request from its own documentation-range address, so per-IP flood limits only bite in
  // the tests that send a fixed CF-Connecting-IP on purpose.
  if (!headers.has("CF-Connecting-IP"))
    headers.set("CF-Connecting-IP", `198.51.100.${Math.floor(Math.random() * 254) + 1}`);
  const request = new Request(url, { ...init, headers, redirect: "manual" }) as Request<
    unknown,
    IncomingRequestCfProperties
  >;
  const ctx = createExecutionContext();
  const response = await worker.fetch(request, bindings, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}
