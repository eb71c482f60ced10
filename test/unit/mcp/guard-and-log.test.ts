/** The /mcp input guard (depth scan, parsed body, prototype keys), which upstream tools a body needs, and the logger's redaction of credentials. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { errorLabel, log } from "../../../src/lib/log";
import {
  type GuardedRequest,
  guardMcpRequest,
  jsonDepth,
  MAX_JSON_DEPTH,
  PROTOTYPE_KEY_REASON,
  prototypeKey,
  upstreamToolsNeeded,
} from "../../../src/mcp/guard";

describe("jsonDepth", () => {
  it.each([
    ["1", 0],
    ["{}", 1],
    ['{"a":[{"b":[]}]}', 4],
    ['{"a":"[[[[[[[[["}', 1],
    ['{"a":"\\"[[[["}', 1],
    ["[[],[[]]]", 3],
  ])("%s has depth %i", (text, depth) => {
    expect(jsonDepth(text)).toBe(depth);
  });
});

describe("guardMcpRequest", () => {
  const post = (body: string) => new Request("https://countersign.test/mcp", { method: "POST", body });

  const passed = (result: Response | GuardedRequest) => {
    expect(result).not.toBeInstanceOf(Response);
    return result as GuardedRequest;
  };

  it("passes a valid body on parsed, the same request, with its body read once", async () => {
    const request = post('{"jsonrpc":"2.0","id":1,"method":"ping"}');
    const result = passed(await guardMcpRequest(request));
    expect(result.request).toBe(request);
    expect(result.body).toEqual({ jsonrpc: "2.0", id: 1, method: "ping" });
    expect(request.bodyUsed).toBe(true);
  });

  it("allows the maximum depth and refuses one more", async () => {
    const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
    expect(passed(await guardMcpRequest(post(nested(MAX_JSON_DEPTH)))).body).toHaveLength(1);
    expect(((await guardMcpRequest(post(nested(MAX_JSON_DEPTH + 1)))) as Response).status).toBe(400);
  });

  const call = (args: string, id = "7") =>
    `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"call_integration_api","arguments":${args}}}`;

  it.each([
    ['{"__proto__":{"url":"x"}}', "__proto__"],
    ['{"\\u005f_proto__":{}}', "__proto__"],
    ['{"body":"{}","headers":{"constructor":"x"}}', "constructor"],
    ['{"a":[1,{"b":[{"prototype":null}]}]}', "prototype"],
    ['{"a":{"b":{"c":{"__proto__":1}}}}', "__proto__"],
  ])("refuses tool arguments %s with -32602 naming %s", async (args, key) => {
    const response = (await guardMcpRequest(post(call(args)))) as Response;
    expect(response).toBeInstanceOf(Response);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      jsonrpc: "2.0",
      id: 7,
      error: {
        code: -32602,
        message: `Invalid params: tool arguments may not contain the key "${key}"`,
        data: { reason: PROTOTYPE_KEY_REASON, key },
      },
    });
  });

  it("refuses a batch containing such a call with 400 and no id", async () => {
    const body = `[{"jsonrpc":"2.0","id":1,"method":"ping"},${call('{"__proto__":{}}', "2")}]`;
    const response = (await guardMcpRequest(post(body))) as Response;
    expect(response.status).toBe(400);
    expect(((await response.json()) as { id: unknown; error: { code: number } }).error.code).toBe(-32602);
  });

  it.each([
    ['{"body":"{\\"__proto__\\":1}"}'],
    ['{"text":"constructor"}'],
    ['{"proto":1,"_proto_":2,"Constructor":3}'],
  ])("passes the ordinary arguments %s", async (args) => {
    expect(passed(await guardMcpRequest(post(call(args)))).body).toEqual(JSON.parse(call(args)));
  });

  it("checks only tool calls' arguments", async () => {
    const other = '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"clientInfo":{"constructor":1}}}';
    expect(passed(await guardMcpRequest(post(other))).body).toEqual(JSON.parse(other));
    expect(prototypeKey(JSON.parse('{"x":[{"y":{"__proto__":{}}}]}'))).toBe("__proto__");
  });

  it("passes GET requests through untouched", async () => {
    const request = new Request("https://countersign.test/mcp");
    expect(await guardMcpRequest(request)).toEqual({ request, body: undefined });
    expect(request.bodyUsed).toBe(false);
  });
});

describe("upstreamToolsNeeded", () => {
  const call = (name: string, id = 1) => ({ jsonrpc: "2.0", id, method: "tools/call", params: { name } });
  it.each([
    ["a tools/list", { jsonrpc: "2.0", id: 1, method: "tools/list" }, "all"],
    ["a call of one upstream tool", call("notes__read"), { only: "notes__read", retry: false }],
    [
      "a retried call of one upstream tool",
      { ...call("notes__read"), params: { name: "notes__read", requestState: "opaque" } },
      { only: "notes__read", retry: true },
    ],
    ["a call of our own tool", call("whoami"), "none"],
    ["an initialize", { jsonrpc: "2.0", id: 1, method: "initialize", params: {} }, "none"],
    ["a batch with one upstream call", [call("whoami"), call("notes__read", 2)], "all"],
    ["a batch with a tools/list", [call("whoami"), { jsonrpc: "2.0", id: 2, method: "tools/list" }], "all"],
    ["a batch of our own calls", [call("whoami"), call("list_integrations", 2)], "none"],
    ["a call with no name", { jsonrpc: "2.0", id: 1, method: "tools/call", params: {} }, "none"],
    ["a call whose name is not a string", { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: 1 } }, "none"],
    ["no body", undefined, "none"],
    ["a JSON scalar", 7, "none"],
  ])("%s needs %j", (_label, body, needed) => {
    expect(upstreamToolsNeeded(body)).toEqual(needed);
  });
});

describe("log", () => {
  afterEach(() => vi.restoreAllMocks());

  it("writes one JSON object per line and redacts credential-named fields at any depth", () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => lines.push(line));
    log.info("test.event", {
      userId: "u_1",
      access_token: "canary-access",
      nested: { refreshToken: "canary-refresh", client_secret: "canary-secret", ok: "kept" },
      list: [{ Authorization: "Bearer canary-bearer" }],
      code: "canary-code",
      cookie: "canary-cookie",
      props: { email: "canary-props" },
    });
    expect(lines).toHaveLength(1);
    const line = lines[0] as string;
    expect(JSON.parse(line)).toMatchObject({ level: "info", event: "test.event", userId: "u_1" });
    expect(line).toContain("kept");
    expect(line).not.toMatch(/canary/);
  });
});

describe("errorLabel", () => {
  class Minified extends Error {
    code = -32602;
    secret = "CANARY-in-a-field";
  }
  const named = Object.assign(new Error("upstream said CANARY"), { name: "q", code: "ECONNRESET" });

  it.each<[string, unknown, string]>([
    ["a plain Error by name", new TypeError("CANARY body"), "TypeError"],
    ["a numeric code beside a minified name", new Minified("CANARY"), "Error:-32602"],
    ["a string code", named, "q:ECONNRESET"],
    ["a thrown string", "CANARY", "unknown"],
    ["an object with a code", { code: "x", message: "CANARY" }, "unknown"],
  ])("labels %s without the message", (_, error, label) => {
    expect(errorLabel(error)).toBe(label);
    expect(errorLabel(error)).not.toContain("CANARY");
  });
});
