/**
 * docs/threat-model.md section G, through the Worker: what /mcp does with hostile or broken
 * protocol input. Errors are JSON-RPC errors or HTTP statuses with no stack traces; nothing is
 * called, stored or reflected.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { FakeIdp } from "../helpers/fake-idp";
import { callTool, mcpJson, mcpRequest, signedInClient } from "../helpers/oauth";
import { fetchWorker } from "../helpers/worker";

let token: string;
let cookieOfSignedInUser: string;

beforeAll(async () => {
  const idp = await FakeIdp.create();
  idp.install();
  const session = await signedInClient(idp);
  token = session.tokens.access_token;
  cookieOfSignedInUser = session.browser.cookieHeader();
});

const rpc = (method: string, params?: unknown, id: unknown = 1) => ({ jsonrpc: "2.0", id, method, params });

function expectNoStack(text: string) {
  expect(text).not.toMatch(/at \S+ \(|\.ts:\d+|\.js:\d+|Error:/);
}

describe("/mcp body parsing", () => {
  const broken: [string, BodyInit, number, number][] = [
    ["truncated JSON", '{"jsonrpc":"2.0","id":1,"method":"tools/li', 400, -32700],
    ["invalid UTF-8", new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 400, -32700],
    ["a bare string", '"hello"', 400, -32600],
    ["empty body", "", 400, -32700],
  ];
  for (const [label, body, status, code] of broken) {
    it(`answers ${label} with a JSON-RPC error ${code} and no stack trace`, async () => {
      const response = await fetchWorker("/mcp", {
        method: "POST",
        headers: {
          Authorization: `Bearer ${token}`,
          "Content-Type": "application/json",
          Accept: "application/json, text/event-stream",
          "MCP-Protocol-Version": "2025-06-18",
        },
        body,
      });
      const text = await response.text();
      expect(response.status).toBe(status);
      expect(JSON.parse(text).error.code).toBe(code);
      expectNoStack(text);
    });
  }

  it("refuses an oversized body with 413 before parsing", async () => {
    const body = JSON.stringify(rpc("tools/call", { name: "whoami", arguments: { pad: "x".repeat(1_100_000) } }));
    const response = await mcpRequest(token, body);
    expect(response.status).toBe(413);
  });

  it("refuses an oversized body that lies about its length", async () => {
    const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ > 20) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const response = await fetchWorker("/mcp", {
      method: "POST",
      headers: {
        Authorization: `Bearer ${token}`,
        "Content-Type": "application/json",
        Accept: "application/json, text/event-stream",
      },
      body: stream,
      // @ts-expect-error: workerd needs duplex for a streamed request body
      duplex: "half",
    });
    expect(response.status).toBe(413);
  });

  it("refuses absurd nesting with 400", async () => {
    const body = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{"a":${"[".repeat(5000)}${"]".repeat(5000)}}}}`;
    const response = await mcpRequest(token, body);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: number } }).error.code).toBe(-32600);
  });
});

describe("/mcp JSON-RPC shapes", () => {
  it("answers an id of the wrong type as an invalid request", async () => {
    const response = await mcpRequest(token, rpc("tools/list", {}, { nested: true }));
    expect(response.status).toBeGreaterThanOrEqual(400);
    const message = await mcpJson(response);
    expect((message.error as { code: number }).code).toBe(-32600);
  });

  it("answers params that are not an object as an invalid request", async () => {
    const response = await mcpRequest(token, rpc("tools/call", "whoami"));
    const message = await mcpJson(response);
    expect((message.error as { code: number }).code).toBe(-32600);
  });

  it("answers tool arguments of the wrong type as invalid params with a clear message", async () => {
    const response = await mcpRequest(token, rpc("tools/call", { name: "whoami", arguments: "not-an-object" }));
    const message = await mcpJson(response);
    const error = message.error as { code: number; message: string };
    expect(error.code).toBe(-32602);
    expect(error.message.length).toBeGreaterThan(0);
    expectNoStack(JSON.stringify(message));
  });

  it("answers an unknown tool with an error, not a crash", async () => {
    const { message } = await callTool(token, "no_such_tool");
    expect(message.error).toMatchObject({ code: -32602 });
  });

  it("answers an unknown method with method not found", async () => {
    const message = await mcpJson(await mcpRequest(token, rpc("admin/grant_everything")));
    expect((message.error as { code: number }).code).toBe(-32601);
  });

  for (const method of ["GET", "DELETE", "PUT", "PATCH"]) {
    it(`answers HTTP ${method} with 405`, async () => {
      const response = await fetchWorker("/mcp", { method, headers: { Authorization: `Bearer ${token}` } });
      expect(response.status).toBe(405);
    });
  }
});

describe("/mcp browser boundary", () => {
  it("refuses a foreign Origin with 403 even with a valid token", async () => {
    for (const origin of ["https://evil.test", "https://countersign.test.evil.test", "null"]) {
      const response = await mcpRequest(token, rpc("tools/list"), { Origin: origin });
      expect(response.status).toBe(403);
    }
  });

  it("refuses a foreign Origin before looking at the body", async () => {
    const response = await mcpRequest(token, '{"broken', { Origin: "https://evil.test" });
    expect(response.status).toBe(403);
  });

  it("accepts our own Origin", async () => {
    const response = await mcpRequest(token, rpc("tools/list"), { Origin: "https://countersign.test" });
    expect(response.status).toBe(200);
  });

  it("ignores cookies: a signed-in browser (sign-in cookie) without a bearer token gets 401", async () => {
    const response = await mcpRequest(null, rpc("tools/list"), { Cookie: cookieOfSignedInUser });
    expect(response.status).toBe(401);
  });

  it("never reflects an Origin with credentials in CORS", async () => {
    const preflight = await fetchWorker("/mcp", {
      method: "OPTIONS",
      headers: { Origin: "https://countersign.test", "Access-Control-Request-Method": "POST" },
    });
    expect(preflight.headers.get("Access-Control-Allow-Credentials")).toBeNull();
    const response = await mcpRequest(token, rpc("tools/list"), { Origin: "https://countersign.test" });
    expect(response.headers.get("Access-Control-Allow-Credentials")).toBeNull();
    expect(response.headers.get("Access-Control-Allow-Origin")).not.toBe("https://countersign.test");
  });

  it("refuses a request whose Host is not PUBLIC_URL's", async () => {
    const response = await mcpRequest(token, rpc("tools/list"), { Host: "evil.test" });
    expect(response.status).toBe(403);
  });

  it("serves a stateless request whatever session id is claimed", async () => {
    const response = await mcpRequest(token, rpc("tools/list"), { "Mcp-Session-Id": "someone-elses-session" });
    // Stateless: no server-side session exists to hijack; the token alone decides.
    expect(response.status).toBe(200);
    const message = await mcpJson(response);
    expect((message.result as { tools: { name: string }[] }).tools.map((tool) => tool.name)).toContain("whoami");
  });
});

describe("tools/list", () => {
  it("lists whoami with an output schema", async () => {
    const message = await mcpJson(await mcpRequest(token, rpc("tools/list")));
    const tools = (message.result as { tools: { name: string; outputSchema?: unknown }[] }).tools;
    const whoami = tools.find((tool) => tool.name === "whoami");
    expect(whoami?.outputSchema).toMatchObject({ type: "object" });
  });
});
