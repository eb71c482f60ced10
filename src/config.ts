/**
 * Deployment configuration, parsed once per isolate from the Worker's bindings. Everything that
 * names this server on the wire (issuer, resource, links) comes from PUBLIC_URL here, never from
 * a request's Host header. A misconfiguration is a value the caller renders as a setup error,
 * so a half-configured deployment fails closed instead of opening a door.
 */
import { demoProvider } from "./demo/demo-provider";
import { DEFAULT_POLICY, type GrantPolicy } from "./grants/types";
import type { ErrorCode } from "./lib/errors";
import { err, ok, type Result } from "./lib/result";
import { isVapidPrivateKey } from "./notify/vapid";
import { parseCustomProviders } from "./providers/custom";
import { createRegistry, type Registry } from "./providers/registry";
import { type CatalogueServer, parseCatalogue } from "./upstream/catalogue";
import { parseVaultKeys, type VaultKeyring } from "./vault/keys";

export type SignInConfig =
  | { kind: "dev"; issuer: string }
  | { kind: "oidc"; issuer: string; clientId: string; clientSecret: string | undefined };

export interface Config {
  /** Origin with no trailing slash, e.g. `https://countersign.example.com`. */
  publicOrigin: string;
  publicHost: string;
  /** The MCP endpoint URL every token is bound to (RFC 8707 resource). */
  resource: string;
  signIn: SignInConfig;
  cookieSecret: string;
  /** Browser Origins (hostnames) allowed on /mcp besides PUBLIC_URL's own. */
  extraMcpOrigins: string[];
  /** How long requests stay pending and how long the human may grant authority. */
  grantPolicy: GrantPolicy;
  /** The longest a standing rule may last, in hours (RULE_MAX_HOURS, default 24). */
  ruleMaxHours: number;
  /** Dev mode: dev sign-in on a loopback PUBLIC_URL; enables the demo provider and loopback custom providers. */
  devMode: boolean;
  /** Master keys of the token vault (first = current). */
  vault: VaultKeyring;
  /** Built-in providers, custom ones from CUSTOM_PROVIDERS, and the demo provider in dev mode. */
  registry: Registry;
  /** Upstream MCP servers offered to every user (MCP_SERVERS). */
  mcpServers: CatalogueServer[];
  /** Dev only (UPSTREAM_DEV_LOOPBACK=enabled on a loopback PUBLIC_URL): upstream servers on this machine. */
  upstreamLoopback: boolean;
  /** Web Push (VAPID_PRIVATE_KEY, VAPID_SUBJECT): null when no key is set, and then no push is sent. */
  push: PushConfig | null;
}

export interface PushConfig {
  /** base64url of the VAPID private scalar; the public key is derived from it. */
  privateKey: string;
  /** RFC 8292 `sub`: VAPID_SUBJECT, else PUBLIC_URL when https, else a dev mailto:. */
  subject: string;
}

export type ConfigErrorCode = ErrorCode<"config">;

export interface ConfigError {
  code: ConfigErrorCode;
  message: string;
}

/** The optional bindings `wrangler types` cannot see because they are unset secrets. */
export type ConfigEnv = Pick<
  Env,
  "PUBLIC_URL" | "OIDC_ISSUER" | "OIDC_CLIENT_ID" | "DEV_SIGNIN" | "MCP_ALLOWED_ORIGINS" | "COOKIE_SECRET"
> & {
  OIDC_CLIENT_SECRET?: string;
  GRANT_MAX_MINUTES?: string;
  RULE_MAX_HOURS?: string;
  VAULT_KEYS?: string;
  CUSTOM_PROVIDERS?: string;
  MCP_SERVERS?: string;
  UPSTREAM_DEV_LOOPBACK?: string;
  DEV_REQUEST_TTL_SECONDS?: string;
  VAPID_PRIVATE_KEY?: string;
  VAPID_SUBJECT?: string;
};

/** Durations (minutes) a person can pick on the approval page, before the configured cap. */
const DURATION_CHOICES_MINUTES = [5, 15, 30, 60, 120, 240, 480, 1440];

function parseGrantPolicy(raw: string | undefined): GrantPolicy | null {
  const minutes = raw === undefined || raw === "" ? 60 : Number(raw);
  if (!Number.isInteger(minutes) || minutes < 5 || minutes > 1440) return null;
  return {
    ...DEFAULT_POLICY,
    maxDurationSeconds: minutes * 60,
    durationChoices: DURATION_CHOICES_MINUTES.filter((choice) => choice <= minutes).map((choice) => choice * 60),
  };
}

/** RULE_MAX_HOURS: whole hours from 1 to 168 (a week), 24 when unset. */
function parseRuleMaxHours(raw: string | undefined): number | null {
  const hours = raw === undefined || raw === "" ? 24 : Number(raw);
  return Number.isInteger(hours) && hours >= 1 && hours <= 168 ? hours : null;
}

/**
 * DEV_REQUEST_TTL_SECONDS: how long a request stays pending, in whole seconds from 5 to 600,
 * for tests of expiry against `wrangler dev` (no clock to move there). Dev mode only; unset, the
 * policy's 10 minutes. Null when refused.
 */
function parseRequestTtl(raw: string | undefined, devMode: boolean): number | null | undefined {
  if (raw === undefined || raw === "") return undefined;
  const seconds = Number(raw);
  return devMode && Number.isInteger(seconds) && seconds >= 5 && seconds <= 600 ? seconds : null;
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Whether a hostname is this machine: dev-only features require it. */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || hostname.endsWith(".localhost");
}

function parsePublicUrl(raw: string | undefined): URL | null {
  if (!raw) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  const httpsOrLocal = url.protocol === "https:" || (url.protocol === "http:" && isLoopbackHost(url.hostname));
  const bare = url.pathname === "/" && !url.search && !url.hash && !url.username && !url.password;
  return httpsOrLocal && bare ? url : null;
}

const cache = new WeakMap<object, Result<Config, ConfigError>>();

/** Parse and validate configuration; memoized per `env` object. */
export function loadConfig(env: ConfigEnv): Result<Config, ConfigError> {
  const cached = cache.get(env);
  if (cached) return cached;
  const result = parseConfig(env);
  cache.set(env, result);
  return result;
}

/** Parse configuration without caching (tests use this directly). */
export function parseConfig(env: ConfigEnv): Result<Config, ConfigError> {
  const url = parsePublicUrl(env.PUBLIC_URL);
  if (!url) {
    return err({
      code: "public_url_invalid",
      message: 'unexpected "PUBLIC_URL" value: use an https origin with no path (http only on localhost)',
    });
  }
  const publicOrigin = url.origin;
  const secret = env.COOKIE_SECRET ?? "";
  if (secret.length < 32) {
    return err({
      code: "cookie_secret_missing",
      message: 'missing "COOKIE_SECRET": set a secret of 32+ random characters',
    });
  }
  let signIn: SignInConfig;
  if (env.DEV_SIGNIN === "enabled") {
    if (!isLoopbackHost(url.hostname)) {
      return err({
        code: "dev_signin_not_local",
        message:
          "DEV_SIGNIN is enabled but PUBLIC_URL is not a loopback address: dev sign-in never runs on a deployed Worker",
      });
    }
    signIn = { kind: "dev", issuer: `${publicOrigin}/signin/dev` };
  } else if (env.OIDC_ISSUER || env.OIDC_CLIENT_ID) {
    if (!env.OIDC_ISSUER || !env.OIDC_CLIENT_ID || !parseIssuer(env.OIDC_ISSUER)) {
      return err({
        code: "oidc_incomplete",
        message: 'unexpected OIDC configuration: set "OIDC_ISSUER" (an https URL) and "OIDC_CLIENT_ID"',
      });
    }
    signIn = {
      kind: "oidc",
      issuer: env.OIDC_ISSUER,
      clientId: env.OIDC_CLIENT_ID,
      clientSecret: env.OIDC_CLIENT_SECRET || undefined,
    };
  } else {
    return err({
      code: "signin_missing",
      message:
        'no sign-in configured: set "OIDC_ISSUER" and "OIDC_CLIENT_ID" (and the "OIDC_CLIENT_SECRET" secret for a confidential client)',
    });
  }
  const grantPolicy = parseGrantPolicy(env.GRANT_MAX_MINUTES);
  if (!grantPolicy) {
    return err({
      code: "grant_max_invalid",
      message: 'unexpected "GRANT_MAX_MINUTES" value: use whole minutes from 5 to 1440',
    });
  }
  const ruleMaxHours = parseRuleMaxHours(env.RULE_MAX_HOURS);
  if (ruleMaxHours === null) {
    return err({
      code: "rule_max_invalid",
      message: 'unexpected "RULE_MAX_HOURS" value: use whole hours from 1 to 168',
    });
  }
  const vault = parseVaultKeys(env.VAULT_KEYS);
  if (!vault.ok) return err({ code: "vault_keys_invalid", message: vault.error.message });
  const devMode = signIn.kind === "dev";
  const custom = parseCustomProviders(env.CUSTOM_PROVIDERS || "[]", { allowLoopback: devMode });
  if (!custom.ok) return err({ code: "custom_providers_invalid", message: custom.error.message });
  const extraMcpOrigins = (env.MCP_ALLOWED_ORIGINS ?? "")
    .split(",")
    .map((host) => host.trim().toLowerCase())
    .filter(Boolean);
  if (env.UPSTREAM_DEV_LOOPBACK === "enabled" && !devMode) {
    return err({
      code: "upstream_loopback_not_local",
      message:
        "UPSTREAM_DEV_LOOPBACK is enabled but dev sign-in is not: loopback upstream servers are for local development only",
    });
  }
  const upstreamLoopback = devMode && env.UPSTREAM_DEV_LOOPBACK === "enabled";
  const requestTtl = parseRequestTtl(env.DEV_REQUEST_TTL_SECONDS, devMode);
  if (requestTtl === null) {
    return err({
      code: "request_ttl_invalid",
      message: 'unexpected "DEV_REQUEST_TTL_SECONDS" value: whole seconds from 5 to 600, and only with dev sign-in',
    });
  }
  const base = {
    publicOrigin,
    publicHost: url.hostname,
    resource: `${publicOrigin}/mcp`,
    signIn,
    cookieSecret: secret,
    extraMcpOrigins,
    grantPolicy: requestTtl === undefined ? grantPolicy : { ...grantPolicy, pendingTtlSeconds: requestTtl },
    ruleMaxHours,
    devMode,
    vault: vault.value,
  };
  const providers = devMode ? [...custom.value, demoProvider(base)] : custom.value;
  const registry = createRegistry(providers);
  const catalogue = parseCatalogue(env.MCP_SERVERS || "", {
    allowLoopback: upstreamLoopback,
    providerIds: registry.all().map((provider) => provider.id),
    secrets: env as unknown as Record<string, unknown>,
  });
  if (!catalogue.ok) return err(catalogue.error);
  const push = parsePush(env, publicOrigin);
  if (!push.ok) return push;
  return ok({ ...base, registry, mcpServers: catalogue.value, upstreamLoopback, push: push.value });
}

function parseIssuer(raw: string): boolean {
  try {
    const url = new URL(raw);
    return url.protocol === "https:" && !url.search && !url.hash && !url.username;
  } catch {
    return false;
  }
}

/** VAPID_PRIVATE_KEY (the 32-byte scalar, base64url) and the contact the push services see. */
function parsePush(env: ConfigEnv, publicOrigin: string): Result<PushConfig | null, ConfigError> {
  const privateKey = env.VAPID_PRIVATE_KEY?.trim() ?? "";
  if (privateKey === "") return ok(null);
  if (!isVapidPrivateKey(privateKey)) {
    return err({
      code: "vapid_key_invalid",
      message: "VAPID_PRIVATE_KEY must be the 32-byte P-256 private key in base64url (43 characters)",
    });
  }
  // RFC 8292 §2.1 wants a mailto: or https: contact; a dev server on http://localhost has neither.
  const fallback = publicOrigin.startsWith("https:") ? publicOrigin : "mailto:countersign@localhost";
  const subject = env.VAPID_SUBJECT?.trim() || fallback;
  if (!/^(mailto:[^\s@]+@[^\s@]+|https:\/\/[^\s]+)$/.test(subject)) {
    return err({ code: "vapid_subject_invalid", message: "VAPID_SUBJECT must be a mailto: or https: URI" });
  }
  return ok({ privateKey, subject });
}
