/**
 * Clients for the URL-elicitation tests, inside workerd: the real SDK v2 client pinned to
 * 2026-07-28, talking to the Worker's own fetch, with a wire hook that can record or rewrite
 * each JSON-RPC message it sends (to tamper with a request state the way an attacker would);
 * and raw 2025-11-25 messages (initialize, tools/call) as a 2025-era client sends them.
 */
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { mcpJson, mcpRequest } from "./oauth";
import { fetchWorker, RESOURCE } from "./worker";

// biome-ignore lint/suspicious/noExplicitAny: JSON-RPC messages are checked field by field in tests
export type Message = Record<string, any>;

export interface ModernOptions {
  /** Declare `elicitation: { url: {} }` (default true). */
  urlElicitation?: boolean;
  /** The client's URL-elicitation handler: what a person's client does with the link. */
  onElicit?: (params: { url: string; message: string }) => Promise<"accept" | "decline" | "cancel">;
  /** Rewrite an outgoing message before it is sent (return it unchanged to only look). */
  rewrite?: (message: Message) => Message;
}

/** A v2 SDK client pinned to 2026-07-28, connected with `token`. */
export async function modernClient(token: string, options: ModernOptions = {}) {
  const sent: Message[] = [];
  const received: Message[] = [];
  const transport = new StreamableHTTPClientTransport(new URL(RESOURCE), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
    fetch: async (input: string | URL | Request, init?: RequestInit) => {
      let body = init?.body;
      if (typeof body === "string" && body.startsWith("{")) {
        const message = (options.rewrite ?? ((m: Message) => m))(JSON.parse(body) as Message);
        sent.push(message);
        body = JSON.stringify(message);
      }
      const response = await fetchWorker(String(input instanceof Request ? input.url : input), { ...init, body });
      const copy = response.clone();
      if ((copy.headers.get("Content-Type") ?? "").includes("json")) {
        received.push((await copy.json()) as Message);
      } else if ((copy.headers.get("Content-Type") ?? "").includes("event-stream")) {
        received.push(await mcpJson(copy));
      }
      return response;
    },
  });
  const capabilities = options.urlElicitation === false ? {} : { elicitation: { url: {} } };
  const client = new Client(
    { name: "elicitation-test", version: "1.0.0" },
    { capabilities, versionNegotiation: { mode: { pin: "2026-07-28" } } },
  );
  if (options.onElicit) {
    const onElicit = options.onElicit;
    client.setRequestHandler("elicitation/create", async (request) => {
      const params = request.params as { url: string; message: string };
      return { action: await onElicit({ url: params.url, message: params.message }) };
    });
  }
  await client.connect(transport);
  const call = (name: string, args: Record<string, unknown>) => client.callTool({ name, arguments: args });
  return { client, call, sent, received };
}

/** The tool-error body of a CallToolResult, or null for a success. */
export function errorOf(result: unknown): { code: string; message: string; [extra: string]: unknown } | null {
  const { isError, content } = result as { isError?: boolean; content?: { text?: string }[] };
  if (!isError) return null;
  return (JSON.parse(content?.[0]?.text ?? "{}") as { error: { code: string; message: string } }).error;
}

/** Send one raw JSON-RPC message to /mcp as a 2025-11-25 client. */
export async function legacyMessage(token: string, message: Message): Promise<Message> {
  const response = await mcpRequest(token, message, { "MCP-Protocol-Version": "2025-11-25" });
  return mcpJson(response) as Promise<Message>;
}

let legacyId = 1000;

/** A 2025-11-25 `initialize` declaring `capabilities`. */
export const legacyInitialize = (token: string, capabilities: Record<string, unknown>) =>
  legacyMessage(token, {
    jsonrpc: "2.0",
    id: ++legacyId,
    method: "initialize",
    params: { protocolVersion: "2025-11-25", capabilities, clientInfo: { name: "legacy-test", version: "1.0.0" } },
  });

/** A 2025-11-25 `tools/call`. */
export const legacyCall = (token: string, name: string, args: Record<string, unknown>) =>
  legacyMessage(token, { jsonrpc: "2.0", id: ++legacyId, method: "tools/call", params: { name, arguments: args } });
