/** The one-call summary (approvals/summary.tsx) and who-asks label (approvals/client-label.tsx), pure. */
import { describe, expect, it } from "vitest";
import { keyClientId } from "../../../src/apikeys/key";
import { clientLabel } from "../../../src/approvals/client-label";
import { summarizeCall } from "../../../src/approvals/summary";
import { GITHUB } from "../../../src/providers/registry/github";
import { canonicalToolCall } from "../../../src/upstream/tools";
import { pendingGrant } from "../../helpers/grant-fixtures";

const names = (id: string) => ({ github: "GitHub", notes: "Notes (MCP server at mcp.example.com)" })[id] ?? id;
const servers = [
  {
    name: "notes",
    tools: [
      { name: "wipe", annotations: { destructiveHint: true } },
      { name: "append", annotations: { destructiveHint: false } },
      { name: "peek", annotations: { readOnlyHint: true } },
      { name: "plain" },
    ],
  },
];
const facts = { provider: (id: string) => (id === "github" ? GITHUB : undefined), servers, names };

const httpCall = (method: string, url: string, body = "") =>
  pendingGrant({
    kind: "call",
    requestedLevel: method === "GET" ? "read" : "write",
    requestedProviders: ["github"],
    requestedDurationSeconds: 900,
    call: { method, url, body, headers: [] },
  });

const toolCall = (tool: string, level: "read" | "write" = "write") =>
  pendingGrant({
    kind: "call",
    requestedLevel: level,
    requestedProviders: ["notes"],
    call: canonicalToolCall("notes", tool, { id: 1 }),
  });

describe("summarizeCall", () => {
  it("says which account, what the call does, that it writes and how long it stays usable", () => {
    const summary = summarizeCall(
      httpCall("POST", "https://api.github.com/repos/octo/app/issues", '{"title":"x"}'),
      facts,
    );
    expect(summary).toEqual({
      account: "GitHub",
      does: "create an issue in octo/app",
      operation: "POST /repos/octo/app/issues",
      writes: true,
      tool: null,
      usableSeconds: 900,
    });
  });

  it("says a read reads, and has no words where the provider gives none", () => {
    const summary = summarizeCall(httpCall("GET", "https://api.github.com/repos/octo/app/issues"), facts);
    expect(summary).toMatchObject({ does: null, operation: "GET /repos/octo/app/issues", writes: false });
  });

  it.each([
    ["wipe", "destructive"],
    ["append", "not_destructive"],
    ["peek", "read_only"],
    ["plain", "undeclared"],
    ["gone", "unlisted"],
  ] as const)("reports what the tool %s declared about itself: %s", (tool, declared) => {
    expect(summarizeCall(toolCall(tool), facts)).toMatchObject({
      account: "Notes (MCP server at mcp.example.com)",
      does: `call the tool ${tool}`,
      operation: tool,
      writes: true,
      tool: declared,
    });
  });

  it("does not summarise a broad request", () => {
    expect(summarizeCall(pendingGrant(), facts)).toBeNull();
  });
});

describe("clientLabel", () => {
  it("sets where the tokens go beside the name the client gave itself", () => {
    expect(clientLabel("Claude", { clientId: "abc", redirectUri: "https://login.evil.example.co.uk/cb" })).toEqual({
      name: "Claude",
      verifiedDomain: null,
      tokensGo: {
        kind: "redirect",
        host: "login.evil.example.co.uk",
        domain: "example.co.uk",
        scheme: "https",
        loopback: false,
        idn: false,
      },
    });
  });

  it.each([
    ["a loopback app", "http://127.0.0.1:33418/callback", { loopback: true, host: "127.0.0.1" }],
    ["localhost", "http://localhost:6274/oauth/callback", { loopback: true, host: "localhost" }],
    ["an internationalised host", "https://clаude.ai/cb", { idn: true, host: "xn--clude-5ve.ai" }],
    ["an app link", "cursor://anysphere.cursor-retrieval/oauth/callback", { scheme: "cursor" }],
  ])("marks %s", (_label, redirectUri, expected) => {
    expect(clientLabel("x", { clientId: "abc", redirectUri }).tokensGo).toMatchObject(expected);
  });

  it("names a CIMD client's verified domain, and no domain for a registered one", () => {
    const cimd = { clientId: "https://app.example.com/client.json", redirectUri: "https://app.example.com/cb" };
    expect(clientLabel("App", cimd).verifiedDomain).toBe("app.example.com");
    expect(clientLabel("App", { clientId: "opaque", redirectUri: "https://x.test/cb" }).verifiedDomain).toBeNull();
  });

  it("says a personal API key has no redirect, and an unknown connection has none recorded", () => {
    expect(clientLabel("ci", { clientId: keyClientId("k1"), redirectUri: "" }).tokensGo).toEqual({ kind: "api_key" });
    expect(clientLabel("x", null).tokensGo).toEqual({ kind: "unrecorded" });
    expect(clientLabel("x", { clientId: "abc", redirectUri: "" }).tokensGo).toEqual({ kind: "unrecorded" });
    expect(clientLabel("x", { clientId: "abc", redirectUri: "not a url" }).tokensGo).toEqual({ kind: "unrecorded" });
  });
});
