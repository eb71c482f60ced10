/** connectOffers (approvals/connect-notice.tsx): which accounts a request names that need connecting, and how. */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { connectOffers } from "../../../src/approvals/connect-notice";
import { type Config, loadConfig } from "../../../src/config";
import type { ProviderLink } from "../../../src/providers/links";
import type { ServerView } from "../../../src/upstream/store";
import { pendingGrant, T0 } from "../../helpers/grant-fixtures";

function configOf(overrides: Partial<Record<keyof Env, string>> = {}): Config {
  const loaded = loadConfig({ ...env, ...overrides } as Env);
  if (!loaded.ok) throw new Error(`config: ${loaded.error.code}`);
  return loaded.value;
}

const link = (providerId: string, status: ProviderLink["status"]): ProviderLink => ({
  providerId,
  kind: "oauth2",
  status,
  scopes: [],
  tokenObtainedAt: T0,
  connectedAt: T0,
  updatedAt: T0,
  accountHost: null,
});

const server = (name: string, status: ServerView["status"], auth: ServerView["auth"] = "oauth"): ServerView => ({
  name,
  url: `https://${name}.example.com/mcp`,
  source: "user",
  title: name,
  auth,
  apiKeyHeader: null,
  status,
  lastError: null,
  oauth: null,
  tools: [],
  toolsAt: null,
  readTools: [],
  tokenObtainedAt: null,
  addedAt: T0,
  updatedAt: T0,
});

describe("connectOffers", () => {
  const config = configOf();

  it("skips connected accounts and offers the rest in the request's order, each in the way it connects", async () => {
    const grant = pendingGrant({
      requestedProviders: ["github", "linear", "notion", "snowflake", "sentry", "up", "down", "fine"],
    });
    const offers = await connectOffers(
      config,
      env,
      grant,
      [link("github", "connected"), link("linear", "reauth_required")],
      [server("up", "not_connected"), server("down", "error", "unknown"), server("fine", "connected")],
    );
    expect(
      offers.map((offer) => (offer.kind === "server" ? `server:${offer.server.name}` : `${offer.kind}:${offer.id}`)),
    ).toEqual([
      "oauth:linear",
      "unavailable:notion",
      "api_key:snowflake",
      "api_key:sentry",
      "server:up",
      "server:down",
    ]);
    expect(offers[0]).toMatchObject({ kind: "oauth", reconnect: true });
    expect(offers[2]).toMatchObject({ hostExample: "xy12345.us-east-1.snowflakecomputing.com" });
    expect(offers[3]).not.toHaveProperty("hostExample");
    expect(offers[3]).not.toHaveProperty("demoKey");
  });

  it("offers nothing for a one-call request, a decided request, or an id that names nothing", async () => {
    const none: ProviderLink[] = [];
    expect(await connectOffers(config, env, pendingGrant({ kind: "call" }), none, [])).toEqual([]);
    expect(await connectOffers(config, env, pendingGrant({ status: "approved" }), none, [])).toEqual([]);
    expect(await connectOffers(config, env, pendingGrant({ status: "expired" }), none, [])).toEqual([]);
    expect(await connectOffers(config, env, pendingGrant({ requestedProviders: ["nothing"] }), none, [])).toEqual([]);
  });

  it("fills in the demo's key in dev mode only", async () => {
    const dev = configOf({ DEV_SIGNIN: "enabled", PUBLIC_URL: "http://localhost:8787" });
    const [offer] = await connectOffers(dev, env, pendingGrant({ requestedProviders: ["demo"] }), [], []);
    expect(offer).toMatchObject({ kind: "api_key", id: "demo" });
    expect(offer?.kind === "api_key" ? offer.demoKey : undefined).toMatch(/^[\w-]{43}$/);
    expect(await connectOffers(config, env, pendingGrant({ requestedProviders: ["demo"] }), [], [])).toEqual([]);
  });
});
