/**
 * docs/threat-model.md section C through the Worker: the approval link and page. Each refusal
 * asserts the status AND that the request did not change and nothing was written to the log.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { sessionFor, type UserSession } from "../../src/session/user-session";
import { location, TestBrowser } from "../helpers/browser";
import { FakeIdp } from "../helpers/fake-idp";
import { askSession, decideOnPage, openApproval, pathOf, submitApproval, tool } from "../helpers/grants";
import { oidcSignIn, signedInClient } from "../helpers/oauth";

let idp: FakeIdp;
beforeEach(async () => {
  idp = await FakeIdp.create();
  idp.install();
});
afterEach(() => vi.restoreAllMocks());

async function setup(args: Record<string, unknown> = {}) {
  const client = await signedInClient(idp, `user-${crypto.randomUUID()}`, "owner@example.com");
  const asked = await askSession(client.tokens.access_token, args);
  const userId = (await tool(client.tokens.access_token, "whoami")).structured?.user.id as string;
  const stub = sessionFor(env.SESSION, userId);
  const status = async () =>
    (await tool(client.tokens.access_token, "check_access_request", { request_id: asked.request_id })).structured
      ?.status;
  const auditCount = () =>
    runInDurableObject(stub, (_instance: UserSession, state) => {
      return state.storage.sql
        .exec<{ n: number }>("SELECT COUNT(*) AS n FROM audit WHERE grant_id = ?", asked.request_id)
        .one().n;
    });
  return { ...client, asked, userId, stub, status, auditCount };
}

const approveFields = (page: { t?: string; csrf?: string }) => ({
  t: page.t as string,
  csrf: page.csrf as string,
  decision: "approve",
  providers: ["github", "linear"],
  level: "write",
  duration: "300",
});

describe("GET /approve/<id>", () => {
  it("only renders for link previews and scanners: nothing changes without a POST", async () => {
    const { asked, browser, status, auditCount } = await setup();
    const before = await auditCount();
    for (let i = 0; i < 3; i++) {
      expect((await browser.get(pathOf(asked.approval_url))).status).toBe(200);
      expect((await new TestBrowser().get(pathOf(asked.approval_url))).status).toBe(302);
      expect(
        (await browser.get(pathOf(asked.approval_url), { "User-Agent": "Slackbot-LinkExpanding 1.0" })).status,
      ).toBe(200);
    }
    expect(await status()).toBe("pending");
    expect(await auditCount()).toBe(before);
  });

  it("sends a signed-out phone to sign in and back to the same approval", async () => {
    const { asked } = await setup();
    const phone = new TestBrowser();
    const first = await phone.get(pathOf(asked.approval_url));
    expect(first.status).toBe(302);
    const signin = location(first);
    expect(signin.pathname).toBe("/signin");
    expect(signin.searchParams.get("return_to")).toBe(pathOf(asked.approval_url));
    expect(await first.text()).not.toContain("triage");
  });

  it("shows another signed-in user exactly what a missing request looks like", async () => {
    const { asked, browser } = await setup({ reason: "SECRET-REASON-abc" });
    const stranger = new TestBrowser();
    await oidcSignIn(stranger, idp, "/signin?return_to=/", `stranger-${crypto.randomUUID()}`, "owner@example.com");
    const theirs = await stranger.get(pathOf(asked.approval_url));
    const missing = await stranger.get(
      `/approve/req_doesnotexist?t=${new URL(asked.approval_url).searchParams.get("t")}`,
    );
    expect(theirs.status).toBe(404);
    expect(missing.status).toBe(404);
    const html = await theirs.text();
    expect(html).toBe(await missing.text());
    expect(html).not.toContain("SECRET-REASON");
    expect((await browser.get(pathOf(asked.approval_url))).status).toBe(200);
  });

  it("refuses a wrong or missing link token with the same not-found page", async () => {
    const { asked, browser } = await setup();
    const id = new URL(asked.approval_url).pathname.split("/").pop();
    for (const query of ["", "?t=", "?t=AAAA", `?t=${"A".repeat(43)}`]) {
      const response = await browser.get(`/approve/${id}${query}`);
      expect(response.status).toBe(404);
    }
  });

  it("sends the hardening headers: no framing, strict CSP without inline script, no-store, no-referrer", async () => {
    const { asked, browser } = await setup();
    const response = await browser.get(pathOf(asked.approval_url));
    const csp = response.headers.get("Content-Security-Policy") ?? "";
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(response.headers.get("X-Frame-Options")).toBe("DENY");
    expect(response.headers.get("Cache-Control")).toContain("no-store");
    expect(response.headers.get("Referrer-Policy")).toBe("no-referrer");
    const html = await response.text();
    expect(html).not.toMatch(/<script|\sstyle=|\son[a-z]+=/i);
  });

  it("renders hostile agent text as escaped, revealed and clipped text, with no links built from it", async () => {
    const hostile = `<script>alert(1)</script><a href="javascript:alert(2)">click</a>\u202Egnp.exe${"A".repeat(5000)}`;
    const client = await signedInClient(idp, `user-${crypto.randomUUID()}`);
    const outcome = await tool(client.tokens.access_token, "request_elevated_access", {
      kind: "call",
      method: "POST",
      url: "https://api.github.com/repos/a/b/issues?title=%3Cimg%20src%3Dx%20onerror%3Dalert(3)%3E",
      body: JSON.stringify({ title: "<img src=x onerror=alert(4)>", body: "B".repeat(40_000) }),
      reason: hostile.slice(0, 2000),
    });
    const page = await openApproval(client.browser, outcome.structured?.approval_url);
    expect(page.response.status).toBe(200);
    expect(page.html).not.toContain("<script>alert(1)");
    expect(page.html).not.toContain("<img src=x");
    expect(page.html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(page.html).toContain("[U+202E]");
    expect(page.html).not.toContain("\u202E");
    expect(page.html).toContain("more characters not shown");
    expect(page.html).not.toMatch(/href="javascript:/i);
    expect(page.html).not.toContain('href="https://api.github.com');
    expect(page.html).toContain("api.github.com");
  });
});

describe("what the page shows is what is sent", () => {
  const HIDDEN = /[\p{Default_Ignorable_Code_Point}\p{Bidi_Control}]/u;

  it("reveals every hidden character in the reason, path, query and body, and shows the body as sent", async () => {
    const client = await signedInClient(idp, `user-${crypto.randomUUID()}`);
    const body = '{"amount":1,"amount":1000000,"id":9007199254740993,"n":1e400,"note":"a\u00ADb\u{E0041}"}';
    const outcome = await tool(client.tokens.access_token, "request_elevated_access", {
      kind: "call",
      method: "POST",
      url: "https://api.github.com/repos/a/b%E2%80%8Bc/issues?q=x%D8%9Cy",
      body,
      reason: "Move \u061C10 20 EUR\u{E0020}\u00AD",
    });
    expect(outcome.error).toBeUndefined();
    const page = await openApproval(client.browser, outcome.structured?.approval_url);
    expect(page.response.status).toBe(200);
    expect(page.html).not.toMatch(HIDDEN);
    expect(page.html).toContain("Move [U+061C]10 20 EUR[U+E0020][U+00AD]");
    expect(page.html).toContain("/repos/a/b%E2%80%8Bc/issues");
    expect(page.html).toContain("/repos/a/b[U+200B]c/issues");
    expect(page.html).toContain("x[U+061C]y");
    for (const part of ["1000000", "9007199254740993", "1e400", "a[U+00AD]b[U+E0041]"])
      expect(page.html).toContain(part);
    expect(page.html).toMatch(/&quot;amount&quot;:1,&quot;amount&quot;:1000000|"amount":1,"amount":1000000/);
  });
});

describe("POST /approve/<id>", () => {
  it("refuses a cross-site POST, a missing CSRF token and a foreign one with 403, changing nothing", async () => {
    const { asked, browser, status, auditCount } = await setup();
    const page = await openApproval(browser, asked.approval_url);
    const other = await askSession((await signedInClient(idp, `x-${crypto.randomUUID()}`)).tokens.access_token);
    const before = await auditCount();
    const attempts: [Record<string, string | string[]>, Record<string, string>][] = [
      [approveFields(page), { Origin: "https://evil.test" }],
      [approveFields(page), { Origin: "null", "Sec-Fetch-Site": "cross-site" }],
      [{ ...approveFields(page), csrf: "" }, {}],
      [{ ...approveFields(page), csrf: "forged-csrf-token-forged-csrf-token-forged" }, {}],
      [{ ...approveFields(page), csrf: (await openApproval(browser, other.approval_url)).csrf ?? "x" }, {}],
    ];
    for (const [fields, headers] of attempts) {
      const response = await submitApproval(browser, asked.approval_url, fields, headers);
      expect(response.status).toBe(403);
    }
    expect(await status()).toBe("pending");
    expect(await auditCount()).toBe(before);
  });

  it("refuses a signed-out POST with 403", async () => {
    const { asked, browser, status } = await setup();
    const page = await openApproval(browser, asked.approval_url);
    const response = await submitApproval(new TestBrowser(), asked.approval_url, approveFields(page));
    expect(response.status).toBe(403);
    expect(await status()).toBe("pending");
  });

  for (const ending of ["approve", "deny", "revoke", "expire"] as const) {
    it(`answers a re-POST after ${ending} with 409 and leaves the state as it was`, async () => {
      const { asked, browser, tokens, stub, status, auditCount } = await setup();
      const page = await openApproval(browser, asked.approval_url);
      if (ending === "approve" || ending === "deny") {
        const first = await submitApproval(browser, asked.approval_url, { ...approveFields(page), decision: ending });
        expect(first.status).toBe(200);
      } else if (ending === "revoke") {
        await tool(tokens.access_token, "revoke_access", { request_id: asked.request_id });
      } else {
        await runInDurableObject(stub, (_instance: UserSession, state) => {
          state.storage.sql.exec(
            "UPDATE grants SET pending_expires_at = ? WHERE id = ?",
            Date.now() - 1,
            asked.request_id,
          );
        });
      }
      const settled = await status();
      const before = await auditCount();
      for (const decision of ["approve", "deny"]) {
        const again = await submitApproval(browser, asked.approval_url, { ...approveFields(page), decision });
        expect(again.status).toBe(409);
      }
      expect(await status()).toBe(settled);
      // An expiry found at approval time is recorded once; nothing else is written.
      expect(await auditCount()).toBe(ending === "expire" ? before + 1 : before);
    });
  }

  it("rejects an approval after the pending TTL on the server clock", async () => {
    const { asked, browser, stub, status } = await setup();
    const page = await openApproval(browser, asked.approval_url);
    await runInDurableObject(stub, (_instance: UserSession, state) => {
      state.storage.sql.exec("UPDATE grants SET pending_expires_at = ? WHERE id = ?", Date.now() - 1, asked.request_id);
    });
    const late = await submitApproval(browser, asked.approval_url, approveFields(page));
    expect(late.status).toBe(409);
    expect(await late.text()).toContain("expired");
    expect(await status()).toBe("expired");
  });

  const widenings: [string, Record<string, string | string[]>][] = [
    ["a provider that was not requested", { providers: ["github", "slack"] }],
    ["write on a read request", { level: "write" }],
    ["a duration off the list", { duration: "123" }],
    ["a duration over the cap", { duration: "86400" }],
    ["no provider at all", { providers: [] }],
    ["a level that does not exist", { level: "admin" }],
    ["a duration that is not a number", { duration: "soon" }],
  ];
  for (const [label, change] of widenings) {
    it(`refuses ${label} with 400 and leaves the request pending`, async () => {
      const { asked, browser, status } = await setup({ level: "read" });
      const page = await openApproval(browser, asked.approval_url);
      const response = await submitApproval(browser, asked.approval_url, {
        ...approveFields(page),
        level: "read",
        ...change,
      });
      expect(response.status).toBe(400);
      expect(await status()).toBe("pending");
      const html = await response.text();
      if (change.level !== "admin") expect(html).toContain('name="decision"'); // the form is shown again
    });
  }

  it("lets exactly one of 20 parallel approvals change the state, with one audit entry", async () => {
    const { asked, browser, status, stub } = await setup();
    const page = await openApproval(browser, asked.approval_url);
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => submitApproval(browser, asked.approval_url, approveFields(page))),
    );
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses.filter((code) => code === 200)).toHaveLength(1);
    expect(statuses.filter((code) => code === 409)).toHaveLength(19);
    expect(await status()).toBe("approved");
    const approvals = await runInDurableObject(
      stub,
      (_instance: UserSession, state) =>
        state.storage.sql
          .exec<{ n: number }>(
            "SELECT COUNT(*) AS n FROM audit WHERE grant_id = ? AND event = 'approved'",
            asked.request_id,
          )
          .one().n,
    );
    expect(approvals).toBe(1);
  });

  it("lets approve racing deny end in exactly one decision", async () => {
    const { asked, browser, status, stub } = await setup();
    const page = await openApproval(browser, asked.approval_url);
    const [approved, denied] = await Promise.all([
      submitApproval(browser, asked.approval_url, approveFields(page)),
      submitApproval(browser, asked.approval_url, { ...approveFields(page), decision: "deny" }),
    ]);
    expect([approved.status, denied.status].sort()).toEqual([200, 409]);
    const final = await status();
    expect(["approved", "denied"]).toContain(final);
    const decisions = await runInDurableObject(
      stub,
      (_instance: UserSession, state) =>
        state.storage.sql
          .exec<{ n: number }>(
            "SELECT COUNT(*) AS n FROM audit WHERE grant_id = ? AND event IN ('approved', 'denied')",
            asked.request_id,
          )
          .one().n,
    );
    expect(decisions).toBe(1);
  });
});

describe("approval link secrecy", () => {
  it("stores only a hash of the link token and never logs it", async () => {
    const lines: string[] = [];
    for (const method of ["log", "warn", "error"] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => lines.push(args.map(String).join(" ")));
    }
    const { asked, browser, stub } = await setup();
    await decideOnPage(browser, asked.approval_url, "approve");
    const token = new URL(asked.approval_url).searchParams.get("t") as string;
    const stored = await runInDurableObject(stub, (_instance: UserSession, state) =>
      JSON.stringify([
        state.storage.sql.exec("SELECT * FROM grants").toArray(),
        state.storage.sql.exec("SELECT * FROM audit").toArray(),
      ]),
    );
    expect(stored).not.toContain(token);
    expect(stored).toContain("link_token_hash");
    expect(lines.join("\n")).not.toContain(token);
    expect(lines.join("\n")).not.toContain(asked.approval_url);
  });
});
