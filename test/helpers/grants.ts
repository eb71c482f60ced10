/**
 * The assistant's and the person's side of an access request, for integration tests:
 * tool calls that return structured content, and the approval page driven by a TestBrowser.
 */
import { expect } from "vitest";
import { inputValue, type TestBrowser } from "./browser";
import { callTool } from "./oauth";

/** Tool output as tests read it: every field is then asserted with expect(). */
// biome-ignore lint/suspicious/noExplicitAny: structured content is checked field by field in tests
export type Loose = Record<string, any>;

export interface ToolOutcome {
  status: number;
  structured?: Loose;
  error?: { code: string; message: string };
  rpcError?: { code: number; message: string };
  text?: string;
}

/** Call a tool and sort its answer into structured content, a tool error or a JSON-RPC error. */
export async function tool(token: string, name: string, args: Record<string, unknown> = {}): Promise<ToolOutcome> {
  const { status, message } = await callTool(token, name, args);
  if (message.error) return { status, rpcError: message.error as ToolOutcome["rpcError"] };
  const result = message.result as {
    isError?: boolean;
    structuredContent?: Record<string, unknown>;
    content: { text: string }[];
  };
  const text = result.content[0]?.text ?? "";
  if (result.isError) {
    // Our tool errors are JSON; the SDK's own argument validation answers in plain text.
    if (!text.startsWith("{")) return { status, error: { code: "invalid_params", message: text }, text };
    return { status, error: (JSON.parse(text) as { error: ToolOutcome["error"] }).error, text };
  }
  return { status, structured: result.structuredContent as Loose, text };
}

/** Ask for broad access and return the request id and approval URL. */
export async function askSession(token: string, args: Record<string, unknown> = {}) {
  const outcome = await tool(token, "request_elevated_access", {
    kind: "broad",
    level: "write",
    providers: ["github", "linear"],
    reason: "triage the bug backlog",
    ...args,
  });
  expect(outcome.error).toBeUndefined();
  return outcome.structured as { request_id: string; approval_url: string; expires_at: string; coalesced: boolean };
}

/** Path + query of an approval URL. */
export const pathOf = (url: string) => {
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
};

/** Open the approval page and read its hidden fields. */
export async function openApproval(browser: TestBrowser, approvalUrl: string) {
  const response = await browser.get(pathOf(approvalUrl));
  const html = await response.text();
  return { response, html, t: inputValue(html, "t"), csrf: inputValue(html, "csrf") };
}

/** Submit the approval form. */
export async function submitApproval(
  browser: TestBrowser,
  approvalUrl: string,
  fields: Record<string, string | string[]>,
  headers: Record<string, string> = {},
) {
  const id = new URL(approvalUrl).pathname.split("/").pop() as string;
  return browser.post(`/approve/${id}`, fields, headers);
}

/** Open and approve (or deny) in one go, returning the POST response. */
export async function decideOnPage(
  browser: TestBrowser,
  approvalUrl: string,
  decision: "approve" | "deny",
  fields: Record<string, string | string[]> = {},
) {
  const page = await openApproval(browser, approvalUrl);
  expect(page.response.status).toBe(200);
  return submitApproval(browser, approvalUrl, {
    t: page.t as string,
    csrf: page.csrf as string,
    decision,
    providers: ["github", "linear"],
    level: "write",
    duration: "300",
    ...fields,
  });
}
