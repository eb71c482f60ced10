/** The /mcp input guard's depth scan, and the logger's redaction of credentials. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { log } from "../../../src/lib/log";
import { guardMcpRequest, jsonDepth, MAX_JSON_DEPTH } from "../../../src/mcp/guard";

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

  it("passes a valid body through unchanged", async () => {
    const result = await guardMcpRequest(post('{"jsonrpc":"2.0","id":1,"method":"ping"}'));
    expect(result).toBeInstanceOf(Request);
    expect(await (result as Request).text()).toBe('{"jsonrpc":"2.0","id":1,"method":"ping"}');
  });

  it("allows the maximum depth and refuses one more", async () => {
    const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
    expect(await guardMcpRequest(post(nested(MAX_JSON_DEPTH)))).toBeInstanceOf(Request);
    expect(((await guardMcpRequest(post(nested(MAX_JSON_DEPTH + 1)))) as Response).status).toBe(400);
  });

  it("passes GET requests through untouched", async () => {
    const request = new Request("https://countersign.test/mcp");
    expect(await guardMcpRequest(request)).toBe(request);
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
