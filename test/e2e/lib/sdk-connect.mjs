// The two MCP SDK clients the e2e suite runs its claims against, behind one shape: the v2
// client (@modelcontextprotocol/client) and the 2025-era v1 client (@modelcontextprotocol/sdk).
// `SDKS` names only how the two are driven (constructors, finishAuth's argument, callTool's
// options position, their error classes); what a test expects of each stays in the test.
// connectClient (and connectV1Client / connectV2Client) hand back a client authorized through
// the fetch-based browser emulation as `email`: a first connect gets a 401, the person allows,
// finishAuth redeems the code, a second connect succeeds.
import * as v2 from "@modelcontextprotocol/client";
import { UnauthorizedError as V1UnauthorizedError, auth as v1Auth } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as V1Transport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError as V1McpError } from "@modelcontextprotocol/sdk/types.js";
import { browserDrivenProvider } from "./sdk-harness.mjs";

/** Long enough for a `check_access_request` with `wait_seconds: 50`. */
export const LONG_CALL = { timeout: 75_000 };

/**
 * @typedef {object} Sdk
 * @property {"v1" | "v2"} name
 * @property {string} packageName
 * @property {() => any} newClient
 * @property {(url: URL, authProvider: any) => any} newTransport
 * @property {(transport: any, callback: URL) => Promise<void>} finishAuth   v1 takes the code, v2 the callback's query
 * @property {(client: any, name: string, args: object, options: object) => Promise<any>} callTool
 * @property {(provider: any, options: { serverUrl: string }) => Promise<string>} auth
 * @property {new (...args: any[]) => Error} UnauthorizedError
 * @property {new (...args: any[]) => Error & { code: number }} ProtocolError   a JSON-RPC error answer
 */

/** @type {Sdk[]} */
export const SDKS = [
  {
    name: "v1",
    packageName: "@modelcontextprotocol/sdk",
    newClient: () => new V1Client({ name: "countersign-e2e-v1", version: "1.0.0" }),
    newTransport: (url, authProvider) => new V1Transport(url, { authProvider }),
    finishAuth: (transport, callback) => transport.finishAuth(callback.searchParams.get("code")),
    callTool: (client, name, args, options) => client.callTool({ name, arguments: args }, undefined, options),
    auth: v1Auth,
    UnauthorizedError: V1UnauthorizedError,
    ProtocolError: V1McpError,
  },
  {
    name: "v2",
    packageName: "@modelcontextprotocol/client",
    newClient: () =>
      new v2.Client({ name: "countersign-e2e-v2", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } }),
    newTransport: (url, authProvider) => new v2.StreamableHTTPClientTransport(url, { authProvider }),
    finishAuth: (transport, callback) => transport.finishAuth(callback.searchParams),
    callTool: (client, name, args, options) => client.callTool({ name, arguments: args }, options),
    auth: v2.auth,
    UnauthorizedError: v2.UnauthorizedError,
    ProtocolError: v2.ProtocolError,
  },
];

/**
 * @param {Sdk} sdk
 * @param {{ origin: string, resource: string }} server
 * @param {{ email: string, clientName: string }} options
 */
export async function connectClient(sdk, server, { email, clientName }) {
  const harness = await browserDrivenProvider({ origin: server.origin, email, clientName });
  const newTransport = () => sdk.newTransport(new URL(server.resource), harness.provider);
  const first = sdk.newClient();
  await first.connect(newTransport()).then(
    () => {
      throw new Error("the first connect should have needed authorization");
    },
    (error) => {
      if (!(error instanceof sdk.UnauthorizedError)) throw error;
    },
  );
  await first.close().catch(() => {});
  if (harness.callbacks.length !== 1) throw new Error("the browser did not come back to the client");
  const transport = newTransport();
  await sdk.finishAuth(transport, harness.callbacks[0]);
  const client = sdk.newClient();
  await client.connect(transport);
  /** @param {string} name @param {object} [args] @param {object} [options] */
  const call = (name, args = {}, options = LONG_CALL) => sdk.callTool(client, name, args, options);
  return { client, call, harness, transport };
}

const [V1, V2] = SDKS;

/** The v2 client, authorized. @param {{ origin: string, resource: string }} server @param {{ email: string, clientName: string }} options */
export const connectV2Client = (server, options) => connectClient(/** @type {Sdk} */ (V2), server, options);

/** The v1 client, authorized. @param {{ origin: string, resource: string }} server @param {{ email: string, clientName: string }} options */
export const connectV1Client = (server, options) => connectClient(/** @type {Sdk} */ (V1), server, options);
