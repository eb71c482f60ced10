// Ready-to-use MCP SDK clients for tests that are about tools, not about OAuth: the v2 client
// (@modelcontextprotocol/client) or the 2025-era v1 client (@modelcontextprotocol/sdk), each
// authorized through the fetch-based browser emulation as `email` (first connect gets a 401,
// the person allows, finishAuth redeems the code, a second connect succeeds).
import * as v2 from "@modelcontextprotocol/client";
import { UnauthorizedError as V1UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as V1Transport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { browserDrivenProvider } from "./sdk-harness.mjs";

/** Long enough for a `check_access_request` with `wait_seconds: 50`. */
export const LONG_CALL = { timeout: 75_000 };

/**
 * @param {{ origin: string, resource: string }} server
 * @param {{ email: string, clientName: string }} options
 */
export async function connectV2Client(server, { email, clientName }) {
  const harness = await browserDrivenProvider({ origin: server.origin, email, clientName });
  const newClient = () =>
    new v2.Client({ name: "countersign-e2e-v2", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  const newTransport = () =>
    new v2.StreamableHTTPClientTransport(new URL(server.resource), { authProvider: harness.provider });
  const first = newClient();
  await first.connect(newTransport()).then(
    () => {
      throw new Error("the first connect should have needed authorization");
    },
    (error) => {
      if (!(error instanceof v2.UnauthorizedError)) throw error;
    },
  );
  await first.close().catch(() => {});
  if (harness.callbacks.length !== 1) throw new Error("the browser did not come back to the client");
  const transport = newTransport();
  await transport.finishAuth(harness.callbacks[0].searchParams);
  const client = newClient();
  await client.connect(transport);
  /** @param {string} name @param {object} [args] @param {object} [options] */
  const call = (name, args = {}, options = LONG_CALL) => client.callTool({ name, arguments: args }, options);
  return { client, call, harness };
}

/**
 * @param {{ origin: string, resource: string }} server
 * @param {{ email: string, clientName: string }} options
 */
export async function connectV1Client(server, { email, clientName }) {
  const harness = await browserDrivenProvider({ origin: server.origin, email, clientName });
  const newClient = () => new V1Client({ name: "countersign-e2e-v1", version: "1.0.0" });
  const newTransport = () => new V1Transport(new URL(server.resource), { authProvider: harness.provider });
  const first = newClient();
  await first.connect(newTransport()).then(
    () => {
      throw new Error("the first connect should have needed authorization");
    },
    (error) => {
      if (!(error instanceof V1UnauthorizedError)) throw error;
    },
  );
  await first.close().catch(() => {});
  if (harness.callbacks.length !== 1) throw new Error("the browser did not come back to the client");
  const transport = newTransport();
  await transport.finishAuth(harness.callbacks[0].searchParams.get("code"));
  const client = newClient();
  await client.connect(transport);
  /** @param {string} name @param {object} [args] @param {object} [options] */
  const call = (name, args = {}, options = LONG_CALL) => client.callTool({ name, arguments: args }, undefined, options);
  return { client, call, harness, transport };
}
