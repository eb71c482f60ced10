/**
 * Provider side of integration tests: connect a provider for a signed-in person (OAuth through
 * the real /connections flow against a fake token endpoint, or a pasted API key), approve access,
 * and fake provider APIs at the fetch boundary.
 */
import { env } from "cloudflare:test";
import { expect } from "vitest";
import { csrfToken } from "../../src/approvals/link";
import { loadConfig } from "../../src/config";
import { location, type TestBrowser } from "./browser";
import { routeFetch } from "./fetch-router";
import { askSession, decideOnPage, tool } from "./grants";

export const CANARY = "CANARY-ghp-0123456789abcdefCANARY";

export async function connectionsCsrf(userId: string): Promise<string> {
  const config = loadConfig(env);
  if (!config.ok) throw new Error("config");
  return csrfToken(config.value, userId, "connections");
}

export interface TokenEndpointOptions {
  accessToken?: string;
  refreshToken?: string;
  expiresIn?: number;
}

/** Fake a provider's token endpoint origin (code exchange, refresh, revocation) and count calls. */
export function fakeTokenEndpoint(origin: string, options: TokenEndpointOptions = {}) {
  const counts = { code: 0, refresh: 0, revoke: 0 };
  let refreshBehaviour: "ok" | "invalid_grant" | "down" = "ok";
  routeFetch(origin, (request, body) => {
    const form = new URLSearchParams(body);
    const path = new URL(request.url).pathname;
    if (/revoke/.test(path)) {
      counts.revoke++;
      return new Response(null, { status: 200 });
    }
    if (form.get("grant_type") === "refresh_token") {
      counts.refresh++;
      if (refreshBehaviour === "invalid_grant") return Response.json({ error: "invalid_grant" }, { status: 400 });
      if (refreshBehaviour === "down") return new Response("unavailable", { status: 503 });
      return Response.json({
        access_token: `${options.accessToken ?? CANARY}-refreshed-${counts.refresh}`,
        token_type: "bearer",
        expires_in: 3600,
      });
    }
    counts.code++;
    return Response.json({
      access_token: options.accessToken ?? CANARY,
      token_type: "bearer",
      scope: "repo read:user",
      ...(options.refreshToken ? { refresh_token: options.refreshToken } : {}),
      ...(options.expiresIn !== undefined ? { expires_in: options.expiresIn } : {}),
    });
  });
  return {
    counts,
    refreshWill(behaviour: "ok" | "invalid_grant" | "down") {
      refreshBehaviour = behaviour;
    },
  };
}

/** Connect an OAuth provider through /connections (connect → provider → callback). */
export async function connectOAuth(browser: TestBrowser, userId: string, providerId: string) {
  const start = await browser.post(`/connections/${providerId}/connect`, { csrf: await connectionsCsrf(userId) });
  expect(start.status).toBe(302);
  const authorize = location(start);
  expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
  const state = authorize.searchParams.get("state") as string;
  const callback = await browser.get(`/connections/callback?${new URLSearchParams({ code: "provider-code", state })}`);
  expect(callback.status).toBe(303);
  return authorize;
}

/** Connect an API-key provider by pasting the key. */
export async function connectApiKey(browser: TestBrowser, userId: string, providerId: string, key = CANARY) {
  const response = await browser.post(`/connections/${providerId}/api-key`, {
    csrf: await connectionsCsrf(userId),
    api_key: key,
  });
  expect(response.status).toBe(303);
}

/** Ask for and approve broad access in one go. */
export async function grantAccess(
  token: string,
  browser: TestBrowser,
  providers: string[],
  level: "read" | "write",
  duration = "300",
) {
  const asked = await askSession(token, { providers, level, reason: "test access" });
  const decided = await decideOnPage(browser, asked.approval_url, "approve", { providers, level, duration });
  expect(decided.status).toBe(200);
  return asked.request_id;
}

/** A fake JSON API that records requests and answers with `respond`. */
export function fakeApi(
  origin: string,
  respond: (request: Request, body: string) => Response | Promise<Response> = () => Response.json({ ok: true }),
) {
  routeFetch(origin, respond);
}

/** Call call_integration_api. */
export const callApi = (token: string, args: Record<string, unknown>) => tool(token, "call_integration_api", args);
