/**
 * A fake upstream MCP server and its authorization server, answered at the fetch boundary inside
 * workerd: a real SDK server (createMcpHandler) behind a Bearer or API-key check, RFC 9728
 * protected resource metadata, RFC 8414 metadata, RFC 7591 registration, a PKCE-checking token
 * endpoint and RFC 7009 revocation. Every part can be made hostile per test, and every request
 * it saw is recorded so tests can assert what was (and was not) sent. Plus the person's side:
 * a signed-in person with the page's CSRF token, and the storage probes security tests need.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { createMcpHandler, McpServer } from "@modelcontextprotocol/server";
import { expect } from "vitest";
import { z } from "zod";
import { sha256Hex } from "../../src/lib/crypto";
import { connectKey } from "../../src/lib/storage-keys";
import { sessionFor } from "../../src/session/user-session";
import { location } from "./browser";
import type { FakeIdp } from "./fake-idp";
import { routeFetch } from "./fetch-router";
import { type Loose, tool } from "./grants";
import { mcpJson, mcpRequest, signedInClient } from "./oauth";
import { connectionsCsrf } from "./providers";

export const MCP_ORIGIN = "https://mcp.example.com";
export const AS_ORIGIN = "https://auth.example.com";
export const EVIL_ORIGIN = "https://evil.example";
export const CALLBACK_URL = "https://countersign.test/connections/mcp/callback";
export const UPSTREAM_ACCESS = "UPSTREAM-ACCESS-CANARY-7f3a91";
export const UPSTREAM_REFRESH = "UPSTREAM-REFRESH-CANARY-9c1d22";

export interface ToolSpec {
  name: string;
  title?: string;
  description?: string;
  /** The tool's readOnlyHint; absent: no annotations at all. */
  readOnly?: boolean;
  /** The tool's destructiveHint; absent: not declared. */
  destructive?: boolean;
  /** The answer; by default the arguments echoed back as JSON text. */
  answer?: (args: Record<string, unknown>) => { content: { type: "text"; text: string }[]; isError?: boolean };
}

export interface SeenCall {
  tool: string;
  args: Record<string, unknown>;
  headers: Record<string, string>;
}

/** A hostile answer for some requests; undefined lets the fake answer normally. */
export type Override = (request: Request, body: string) => Response | undefined | Promise<Response | undefined>;

export type UpstreamAuth = { kind: "none" } | { kind: "oauth" } | { kind: "key"; header: string; value: string };

interface IssuedCode {
  challenge: string;
  resource: string | null;
  clientId: string | null;
  redirectUri: string | null;
}

export const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

export const redirectTo = (location = `${EVIL_ORIGIN}/steal`, status = 302) =>
  new Response(null, { status, headers: { location } });

/** A body that never ends (64 KiB chunks for as long as it is read). */
export function endless(contentType = "application/json"): Response {
  const chunk = new TextEncoder().encode(`{"pad":"${"x".repeat(64 * 1024)}`);
  return new Response(
    new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(chunk);
      },
    }),
    { headers: { "content-type": contentType } },
  );
}

/** A response that never arrives. */
export const never = () => new Promise<Response>(() => {});

const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");

async function s256(verifier: string): Promise<string> {
  return b64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
}

export class FakeUpstream {
  readonly serverUrl: string;
  readonly resourceMetadataUrl: string;
  tools: ToolSpec[] = [
    { name: "read_notes", description: "Reads notes", readOnly: true },
    { name: "write_note", description: "Writes a note", readOnly: false },
  ];
  auth: UpstreamAuth = { kind: "oauth" };
  /** The WWW-Authenticate value of a 401; by default names `resourceMetadataUrl`. */
  challenge: string;
  /** Merged into the protected resource metadata. */
  prm: Record<string, unknown> = {};
  /** Merged into the authorization server metadata. */
  as: Record<string, unknown> = {};
  /** Extra fields of a token response (e.g. `expires_in`). */
  tokenExtras: Record<string, unknown> = {};
  mcpOverride?: Override;
  asOverride?: Override;
  accessToken = UPSTREAM_ACCESS;
  refreshToken = UPSTREAM_REFRESH;
  readonly calls: SeenCall[] = [];
  readonly registrations: Record<string, unknown>[] = [];
  readonly tokenRequests: { form: URLSearchParams; headers: Record<string, string> }[] = [];
  readonly revocations: { form: URLSearchParams; headers: Record<string, string> }[] = [];
  readonly #codes = new Map<string, IssuedCode>();
  #clients = 0;

  constructor(
    readonly origin = MCP_ORIGIN,
    readonly issuer = AS_ORIGIN,
    readonly path = "/mcp",
  ) {
    this.serverUrl = `${origin}${path}`;
    this.resourceMetadataUrl = `${origin}/.well-known/oauth-protected-resource${path}`;
    this.challenge = `Bearer resource_metadata="${this.resourceMetadataUrl}"`;
  }

  /** Route the server's origin and the issuer's origin here. */
  install(): this {
    routeFetch(this.origin, (request, body) => this.#mcp(request, body));
    if (new URL(this.issuer).origin !== this.origin) {
      routeFetch(new URL(this.issuer).origin, (request, body) => this.#authorizationServer(request, body));
    }
    return this;
  }

  /** The person approves at the authorization server: a code for the parameters of `authorize`. */
  authorize(authorize: URL): string {
    expect(`${authorize.origin}${authorize.pathname}`).toBe(`${this.issuer}/authorize`);
    const code = `upstream-code-${crypto.randomUUID()}`;
    this.#codes.set(code, {
      challenge: authorize.searchParams.get("code_challenge") ?? "",
      resource: authorize.searchParams.get("resource"),
      clientId: authorize.searchParams.get("client_id"),
      redirectUri: authorize.searchParams.get("redirect_uri"),
    });
    return code;
  }

  prmDocument(): Record<string, unknown> {
    return { resource: this.serverUrl, authorization_servers: [this.issuer], ...this.prm };
  }

  asDocument(): Record<string, unknown> {
    return {
      issuer: this.issuer,
      authorization_endpoint: `${this.issuer}/authorize`,
      token_endpoint: `${this.issuer}/token`,
      registration_endpoint: `${this.issuer}/register`,
      revocation_endpoint: `${this.issuer}/revoke`,
      response_types_supported: ["code"],
      code_challenge_methods_supported: ["S256"],
      token_endpoint_auth_methods_supported: ["none", "client_secret_basic"],
      ...this.as,
    };
  }

  #authorized(request: Request): boolean {
    const auth = this.auth;
    if (auth.kind === "none") return true;
    if (auth.kind === "key") return request.headers.get(auth.header) === auth.value;
    return request.headers.get("authorization") === `Bearer ${this.accessToken}`;
  }

  async #mcp(request: Request, body: string): Promise<Response> {
    const overridden = await this.mcpOverride?.(request, body);
    if (overridden) return overridden;
    const path = new URL(request.url).pathname;
    if (path.startsWith("/.well-known/oauth-protected-resource")) return json(this.prmDocument());
    if (path !== this.path) return new Response("not found", { status: 404 });
    if (!this.#authorized(request)) {
      return this.auth.kind === "oauth"
        ? json({ error: "invalid_token" }, 401, { "www-authenticate": this.challenge })
        : new Response("unauthorized", { status: 401 });
    }
    this.#record(request, body);
    const handler = createMcpHandler(() => this.#server());
    return handler.fetch(
      new Request(request.url, {
        method: request.method,
        headers: request.headers,
        ...(request.method === "GET" || request.method === "HEAD" ? {} : { body }),
      }),
    );
  }

  #record(request: Request, body: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return;
    }
    for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
      const { method, params } = (message ?? {}) as { method?: string; params?: Loose };
      if (method !== "tools/call") continue;
      this.calls.push({
        tool: String(params?.name),
        args: (params?.arguments ?? {}) as Record<string, unknown>,
        headers: Object.fromEntries(request.headers),
      });
    }
  }

  #server(): McpServer {
    const server = new McpServer({ name: "fake-upstream", version: "1.0.0" });
    for (const spec of this.tools) {
      server.registerTool(
        spec.name,
        {
          ...(spec.title !== undefined ? { title: spec.title } : {}),
          ...(spec.description !== undefined ? { description: spec.description } : {}),
          inputSchema: z.looseObject({}),
          ...(spec.readOnly !== undefined || spec.destructive !== undefined
            ? {
                annotations: {
                  ...(spec.readOnly !== undefined ? { readOnlyHint: spec.readOnly } : {}),
                  ...(spec.destructive !== undefined ? { destructiveHint: spec.destructive } : {}),
                },
              }
            : {}),
        },
        async (args: Record<string, unknown>) =>
          spec.answer ? spec.answer(args) : { content: [{ type: "text" as const, text: JSON.stringify(args) }] },
      );
    }
    return server;
  }

  async #authorizationServer(request: Request, body: string): Promise<Response> {
    const overridden = await this.asOverride?.(request, body);
    if (overridden) return overridden;
    const path = new URL(request.url).pathname;
    const issuerPath = new URL(this.issuer).pathname.replace(/\/$/, "");
    if (path === `/.well-known/oauth-authorization-server${issuerPath}`) return json(this.asDocument());
    const headers = Object.fromEntries(request.headers);
    if (path === `${issuerPath}/register` && request.method === "POST") {
      const metadata = JSON.parse(body) as Record<string, unknown>;
      this.registrations.push(metadata);
      return json({ client_id: `dcr-client-${++this.#clients}`, redirect_uris: metadata.redirect_uris }, 201);
    }
    if (path === `${issuerPath}/token` && request.method === "POST") {
      const form = new URLSearchParams(body);
      this.tokenRequests.push({ form, headers });
      if (form.get("grant_type") === "refresh_token") {
        if (form.get("refresh_token") !== this.refreshToken) return json({ error: "invalid_grant" }, 400);
        return json({ access_token: this.accessToken, token_type: "Bearer", ...this.tokenExtras });
      }
      const issued = this.#codes.get(form.get("code") ?? "");
      this.#codes.delete(form.get("code") ?? "");
      const verifier = form.get("code_verifier") ?? "";
      if (
        !issued ||
        (await s256(verifier)) !== issued.challenge ||
        form.get("resource") !== issued.resource ||
        form.get("redirect_uri") !== issued.redirectUri
      ) {
        return json({ error: "invalid_grant" }, 400);
      }
      return json({
        access_token: this.accessToken,
        refresh_token: this.refreshToken,
        token_type: "Bearer",
        expires_in: 3600,
        ...this.tokenExtras,
      });
    }
    if (path === `${issuerPath}/revoke` && request.method === "POST") {
      this.revocations.push({ form: new URLSearchParams(body), headers });
      return new Response(null, { status: 200 });
    }
    return new Response("not found", { status: 404 });
  }
}

/** A signed-in person: MCP token, signed-in browser, user and connection ids, /connections CSRF. */
export async function signedInPerson(idp: FakeIdp, label = "up") {
  const client = await signedInClient(idp, `${label}-${crypto.randomUUID()}`);
  const token = client.tokens.access_token;
  const whoami = (await tool(token, "whoami")).structured as Loose;
  const userId = whoami.user.id as string;
  return {
    token,
    browser: client.browser,
    userId,
    connectionId: whoami.client.connection_id as string,
    csrf: await connectionsCsrf(userId),
    session: sessionFor(env.SESSION, userId),
  };
}

export type Person = Awaited<ReturnType<typeof signedInPerson>>;

/** Add a server through the /connections form; returns the response. */
export const addOnPage = (person: Person, name: string, url: string) =>
  person.browser.post("/connections/mcp/add", { csrf: person.csrf, name, url });

/** POST one of a server's actions on /connections. */
export const serverAction = (
  person: Person,
  name: string,
  action: string,
  form: Record<string, string | string[]> = {},
) => person.browser.post(`/connections/mcp/${encodeURIComponent(name)}/${action}`, { csrf: person.csrf, ...form });

/** Press Connect and follow the person through the authorization server back to our callback. */
export async function connectUpstream(
  person: Person,
  upstream: FakeUpstream,
  name: string,
  form: Record<string, string> = {},
): Promise<{ authorize: URL; callback: Response }> {
  const start = await serverAction(person, name, "connect", form);
  expect(start.status).toBe(302);
  const authorize = location(start);
  const code = upstream.authorize(authorize);
  const callback = await person.browser.get(
    `/connections/mcp/callback?${new URLSearchParams({ code, state: authorize.searchParams.get("state") as string })}`,
  );
  expect(callback.status).toBe(303);
  return { authorize, callback };
}

/** The stable code a MessagePage shows. */
export function pageCode(html: string): string | undefined {
  return /<p class="muted mono">([^<]*)<\/p>/.exec(html)?.[1];
}

/** The raw KV value of a vault record (sealed), or null. */
export const vaultRecord = (userId: string, id: string) => env.VAULT_KV.get(`vault:${userId}:${id}`);

/** Keys of connect transactions currently in OAUTH_KV. */
export async function connectTransactions(): Promise<string[]> {
  const listed = await env.OAUTH_KV.list({ prefix: "cs:connect:" });
  return listed.keys.map((key) => key.name);
}

/** Whether the connect transaction of `state` is still stored. */
export async function transactionStored(state: string): Promise<boolean> {
  return (await env.OAUTH_KV.get(connectKey(await sha256Hex(state)))) !== null;
}

/** Every row of every table of a person's Durable Object, as text (to scan for secrets). */
export async function dumpSession(person: Person): Promise<string> {
  return runInDurableObject(person.session, (_instance, state) => {
    const tables = state.storage.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%'")
      .toArray();
    return JSON.stringify(
      tables.map(({ name }) => ({ name, rows: state.storage.sql.exec(`SELECT * FROM "${name}"`).toArray() })),
    );
  });
}

/** tools/list over /mcp: our tools and the upstream ones. */
export async function listTools(token: string): Promise<Loose[]> {
  const response = await mcpRequest(token, { jsonrpc: "2.0", id: 1, method: "tools/list" });
  expect(response.status).toBe(200);
  const message = await mcpJson(response);
  return (message.result as { tools: Loose[] }).tools;
}
