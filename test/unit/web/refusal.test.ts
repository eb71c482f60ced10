/** refusalPage: the log line and the page of a refused browser step name the same code. */
import { Hono } from "hono";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { WebEnv } from "../../../src/web/context";
import { refusalPage } from "../../../src/web/refusal";

afterEach(() => {
  vi.restoreAllMocks();
});

function warnings(): unknown[] {
  const lines: unknown[] = [];
  vi.spyOn(console, "warn").mockImplementation((line: unknown) => lines.push(JSON.parse(String(line))));
  return lines;
}

describe("refusalPage", () => {
  it("logs the code as the reason, after the caller's fields, and shows it on a page with the status", async () => {
    const lines = warnings();
    const app = new Hono<WebEnv>().get("/", (c) =>
      refusalPage(
        c,
        502,
        "connections.exchange_failed",
        { title: "Not connected", message: "The provider refused the connection.", code: "token_endpoint_error" },
        { provider: "github" },
      ),
    );
    const response = await app.request("/");
    expect(response.status).toBe(502);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await response.text();
    expect(html).toContain("<h1>Not connected</h1>");
    expect(html).toContain("<p>The provider refused the connection.</p>");
    expect(html).toContain('<p class="muted mono">token_endpoint_error</p>');
    expect(lines).toEqual([
      { level: "warn", event: "connections.exchange_failed", provider: "github", reason: "token_endpoint_error" },
    ]);
  });

  it("keeps the code as the reason even when a field of the same name is passed", async () => {
    const lines = warnings();
    const app = new Hono<WebEnv>().get("/", (c) =>
      refusalPage(
        c,
        400,
        "signin.oidc_rejected",
        { title: "t", message: "m", code: "state_mismatch" },
        { reason: "x" },
      ),
    );
    expect((await app.request("/")).status).toBe(400);
    expect(lines).toEqual([{ level: "warn", event: "signin.oidc_rejected", reason: "state_mismatch" }]);
  });
});
