/**
 * The rules a production configuration must pass before `npm run deploy` sends it: pure
 * functions of the configuration wrangler resolved (and, for secrets, of the names Cloudflare
 * reports), returning every problem at once. No I/O and no process state here; the Worker never
 * imports this folder. Each problem carries a stable code and a message naming the setting,
 * never a secret's value. The Worker's own parse (src/config.ts) stays the last word at runtime;
 * these rules catch, before a deploy, what would make it answer 503 or be unsafe.
 */

/** @typedef {{ code: string, message: string }} Problem */

/**
 * The environment `npm run deploy` deploys. One name, so the checker, the deploy and the docs
 * cannot disagree.
 */
export const PRODUCTION_ENV = "production";

/** The secrets the Worker cannot start without (src/config.ts: cookie_secret_missing, vault_keys_invalid). */
const WORKER_SECRETS = ["COOKIE_SECRET", "VAULT_KEYS"];

/** Secret names that must never be written in wrangler.toml, where they would be committed. */
const SECRET_NAMES = new Set([...WORKER_SECRETS, "OIDC_CLIENT_SECRET", "VAPID_PRIVATE_KEY"]);
const SECRET_PATTERN = /^(?:[A-Z0-9_]+_CLIENT_SECRET|MCP_[A-Z0-9_]+_CLIENT_SECRET)$/;

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "0.0.0.0", "[::]"]);

/** Whether a hostname is this machine (as src/config.ts's isLoopbackHost, plus the unspecified addresses). */
function isLoopbackHost(hostname) {
  return LOOPBACK_HOSTS.has(hostname) || hostname.endsWith(".localhost") || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/**
 * Every problem of the production environment.
 * @param {object} input
 * @param {boolean} input.envDeclared whether wrangler.toml has an [env.production] section at all
 * @param {any} input.top the top-level configuration (what `npm run dev` runs), resolved by wrangler
 * @param {any} input.production the production environment, resolved by wrangler as `deploy --env` would
 * @returns {Problem[]}
 */
export function checkProduction({ envDeclared, top, production }) {
  if (!envDeclared) {
    return [
      {
        code: "env_missing",
        message: `wrangler.toml has no [env.${PRODUCTION_ENV}] section: production settings live there, not in --var flags`,
      },
    ];
  }
  const vars = production.vars ?? {};
  return [
    ...checkPublicUrl(vars.PUBLIC_URL, production),
    ...checkSignIn(vars),
    ...checkSettings(vars),
    ...checkKv(top, production),
    ...checkBindings(top, production),
    ...checkSecretConfig(production),
  ];
}

/** @returns {Problem[]} */
function checkPublicUrl(raw, production) {
  const where = `[env.${PRODUCTION_ENV}.vars] PUBLIC_URL`;
  if (typeof raw !== "string" || raw.trim() === "") {
    return [{ code: "public_url_invalid", message: `missing ${where}: set the https origin people will use` }];
  }
  if (/[<>]/.test(raw)) {
    return [
      { code: "public_url_placeholder", message: `${where} is still the placeholder "${raw}": put your host in` },
    ];
  }
  let url;
  try {
    url = new URL(raw);
  } catch {
    return [{ code: "public_url_invalid", message: `unexpected ${where} value: "${raw}" is not a URL` }];
  }
  if (isLoopbackHost(url.hostname)) {
    return [
      {
        code: "public_url_loopback",
        message: `${where} is "${raw}", a loopback address: a deployed Worker with it answers 503; use its public https origin`,
      },
    ];
  }
  const bare = url.pathname === "/" && !url.search && !url.hash && !url.username && !url.password;
  if (url.protocol !== "https:" || !bare) {
    return [{ code: "public_url_invalid", message: `unexpected ${where} value: use an https origin with no path` }];
  }
  return checkHostServed(url.hostname, production);
}

/** The deployed Worker must answer on PUBLIC_URL's host, or every link and token points elsewhere. */
function checkHostServed(hostname, production) {
  const name = production.name ?? "";
  if (hostname.endsWith(".workers.dev")) {
    const label = hostname.split(".")[0];
    if (hostname.split(".").length !== 4 || label !== name) {
      return [
        {
          code: "public_url_host_mismatch",
          message: `[env.${PRODUCTION_ENV}.vars] PUBLIC_URL's host is "${hostname}" but the Worker is "${name}": its workers.dev host is ${name}.<your-subdomain>.workers.dev`,
        },
      ];
    }
    // wrangler turns workers.dev off by default once routes are configured.
    const routed = (production.routes ?? []).length > 0 || Boolean(production.route);
    if (production.workers_dev === false || (production.workers_dev === undefined && routed)) {
      return [
        {
          code: "public_url_host_mismatch",
          message: `[env.${PRODUCTION_ENV}] turns workers.dev off (workers_dev = false, or routes without workers_dev = true), so "${hostname}" does not reach the Worker`,
        },
      ];
    }
    return [];
  }
  const routes = [...(production.routes ?? []), ...(production.route ? [production.route] : [])];
  const hosts = routes.map((route) => routeHost(typeof route === "string" ? route : (route?.pattern ?? "")));
  if (hosts.some((host) => host === hostname || (host.startsWith("*.") && hostname.endsWith(host.slice(1))))) {
    return [];
  }
  return [
    {
      code: "public_url_host_mismatch",
      message: `[env.${PRODUCTION_ENV}.vars] PUBLIC_URL's host "${hostname}" is not in [env.${PRODUCTION_ENV}] routes: add { pattern = "${hostname}", custom_domain = true }`,
    },
  ];
}

function routeHost(pattern) {
  return pattern
    .replace(/^https?:\/\//, "")
    .split("/")[0]
    .toLowerCase();
}

/** @returns {Problem[]} */
function checkSignIn(vars) {
  const problems = [];
  const where = `[env.${PRODUCTION_ENV}.vars]`;
  if (vars.DEV_SIGNIN) {
    problems.push({
      code: "dev_signin_enabled",
      message: `${where} DEV_SIGNIN is "${vars.DEV_SIGNIN}": dev sign-in lets anyone in as anyone; leave it empty`,
    });
  }
  if (vars.UPSTREAM_DEV_LOOPBACK) {
    problems.push({
      code: "upstream_loopback_enabled",
      message: `${where} UPSTREAM_DEV_LOOPBACK is "${vars.UPSTREAM_DEV_LOOPBACK}": it is for local development only; leave it empty`,
    });
  }
  const issuer = vars.OIDC_ISSUER ?? "";
  const clientId = vars.OIDC_CLIENT_ID ?? "";
  if (!issuer && !clientId) {
    problems.push({
      code: "signin_missing",
      message: `${where} OIDC_ISSUER and OIDC_CLIENT_ID are empty: without OpenID Connect nobody can sign in`,
    });
  } else if (!clientId) {
    problems.push({ code: "oidc_incomplete", message: `missing ${where} OIDC_CLIENT_ID` });
  } else if (!isHttpsIssuer(issuer)) {
    problems.push({
      code: "oidc_incomplete",
      message: `unexpected ${where} OIDC_ISSUER value: use your provider's https issuer URL`,
    });
  }
  return problems;
}

function isHttpsIssuer(raw) {
  try {
    const url = new URL(raw);
    return url.protocol === "https:" && !url.search && !url.hash && !url.username;
  } catch {
    return false;
  }
}

/**
 * The other vars src/config.ts refuses at run time, with its codes. CUSTOM_PROVIDERS and
 * MCP_SERVERS are only checked to be JSON arrays here; their entries are judged by the Worker.
 */
function checkSettings(vars) {
  const problems = [];
  const where = `[env.${PRODUCTION_ENV}.vars]`;
  const minutes = vars.GRANT_MAX_MINUTES ? Number(vars.GRANT_MAX_MINUTES) : 60;
  if (!Number.isInteger(minutes) || minutes < 5 || minutes > 1440) {
    problems.push({
      code: "grant_max_invalid",
      message: `unexpected ${where} GRANT_MAX_MINUTES value: use whole minutes from 5 to 1440`,
    });
  }
  const subject = vars.VAPID_SUBJECT?.trim();
  if (subject && !/^(mailto:[^\s@]+@[^\s@]+|https:\/\/[^\s]+)$/.test(subject)) {
    problems.push({
      code: "vapid_subject_invalid",
      message: `unexpected ${where} VAPID_SUBJECT value: use a mailto: or https: URI`,
    });
  }
  for (const [name, code] of [
    ["CUSTOM_PROVIDERS", "custom_providers_invalid"],
    ["MCP_SERVERS", "mcp_servers_invalid"],
  ]) {
    if (vars[name] && !isJsonArray(vars[name])) {
      problems.push({ code, message: `unexpected ${where} ${name} value: it must be a JSON array` });
    }
  }
  return problems;
}

function isJsonArray(text) {
  try {
    return Array.isArray(JSON.parse(text));
  } catch {
    return false;
  }
}

/** KV namespace ids are 32 lowercase hex digits; the shipped local ids and `<…>` are placeholders. */
function checkKv(top, production) {
  const problems = [];
  const topIds = new Set((top.kv_namespaces ?? []).map((kv) => kv.id));
  const seen = new Map();
  for (const kv of production.kv_namespaces ?? []) {
    const where = `[[env.${PRODUCTION_ENV}.kv_namespaces]] ${kv.binding}`;
    const id = kv.id ?? "";
    if (id === "" || /[<>]/.test(id) || /^0+1?$/.test(id) || topIds.has(id)) {
      problems.push({
        code: "kv_id_placeholder",
        message: `${where} id is the placeholder "${id}": create it with npx wrangler kv namespace create ${kv.binding} --env ${PRODUCTION_ENV} and paste its id`,
      });
    } else if (!/^[0-9a-f]{32}$/.test(id)) {
      problems.push({ code: "kv_id_invalid", message: `unexpected ${where} id "${id}": a KV id is 32 hex digits` });
    } else if (seen.has(id)) {
      problems.push({
        code: "kv_id_shared",
        message: `${where} has the same id as ${seen.get(id)}: each binding needs its own namespace`,
      });
    }
    seen.set(id, kv.binding);
  }
  return problems;
}

/** Cloudflare does not inherit bindings into an environment: each local one must be repeated. */
function checkBindings(top, production) {
  const bound = new Set(bindingNames(production));
  return bindingNames(top)
    .filter((name) => !bound.has(name))
    .map((name) => ({
      code: "binding_missing",
      message: `[env.${PRODUCTION_ENV}] has no binding ${name}: copy it from the top level of wrangler.toml`,
    }));
}

function bindingNames(config) {
  return [
    ...(config.kv_namespaces ?? []).map((kv) => kv.binding),
    ...(config.durable_objects?.bindings ?? []).map((durable) => durable.name),
    ...(config.ratelimits ?? []).map((limiter) => limiter.name),
  ];
}

/** Secrets must be declared required (so deploys refuse without them) and never be written as vars. */
function checkSecretConfig(production) {
  const required = new Set(production.secrets?.required ?? []);
  const problems = WORKER_SECRETS.filter((name) => !required.has(name)).map((name) => ({
    code: "secret_not_required",
    message: `[env.${PRODUCTION_ENV}.secrets] required does not list ${name}, which the Worker cannot start without`,
  }));
  for (const name of Object.keys(production.vars ?? {})) {
    if (SECRET_NAMES.has(name) || SECRET_PATTERN.test(name)) {
      problems.push({
        code: "secret_in_vars",
        message: `[env.${PRODUCTION_ENV}.vars] ${name} is a secret written in wrangler.toml: remove it and set it with npx wrangler secret put ${name} --env ${PRODUCTION_ENV}`,
      });
    }
  }
  return problems;
}

/**
 * The required secrets Cloudflare does not have.
 * @param {string[]} required the production environment's [secrets] required
 * @param {string[]} present the secret names `wrangler secret list` reported
 * @returns {Problem[]}
 */
export function checkRemoteSecrets(required, present) {
  const have = new Set(present);
  return required
    .filter((name) => !have.has(name))
    .map((name) => ({
      code: "secret_missing",
      message: `secret ${name} is not set on the Worker: set it with npx wrangler secret put ${name} --env ${PRODUCTION_ENV} (npm run secrets:generate prints the line)`,
    }));
}
