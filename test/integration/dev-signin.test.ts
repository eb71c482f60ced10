/**
 * The embedded dev sign-in (DEV_SIGNIN=enabled on a loopback PUBLIC_URL), and what a deployment
 * with broken or missing sign-in configuration answers: a setup error, never an open door.
 */
import { describe, expect, it } from "vitest";
import { inputValue, location, TestBrowser } from "../helpers/browser";
import { authorizeUrl, callTool, pkce, REDIRECT_URI, registerClient, tokenRequest } from "../helpers/oauth";
import { addedKeys, kvKeys } from "../helpers/storage";
import { envWith, fetchWorker } from "../helpers/worker";

const DEV_ORIGIN = "http://localhost:8787";
const dev = envWith({ PUBLIC_URL: DEV_ORIGIN, DEV_SIGNIN: "enabled", OIDC_ISSUER: "", OIDC_CLIENT_ID: "" });

async function devAuthorize(browser: TestBrowser, email: string) {
  const client = await registerClient({ client_name: "Dev Client" }, dev);
  const { verifier, challenge } = await pkce();
  const url = authorizeUrl({ clientId: client.client_id, challenge }).replace(
    encodeURIComponent("https://countersign.test/mcp"),
    encodeURIComponent(`${DEV_ORIGIN}/mcp`),
  );
  const page = await browser.get(url);
  expect(page.status).toBe(200);
  const handle = inputValue(await page.text(), "handle") as string;
  const toSignin = location(
    await browser.post("/authorize", { handle, decision: "approve", scope: ["mcp", "offline_access"] }),
  );
  const signin = await browser.get(`${toSignin.pathname}${toSignin.search}`);
  const html = await signin.text();
  expect(html).toContain("Email");
  expect(html).toContain("Sign in");
  const returnTo = inputValue(html, "return_to") as string;
  const signedIn = await browser.post("/signin/dev", { email, return_to: returnTo });
  expect(signedIn.status).toBe(302);
  const resume = location(signedIn);
  const done = location(await browser.get(`${resume.pathname}${resume.search}`));
  const response = await tokenRequest(
    {
      grant_type: "authorization_code",
      client_id: client.client_id,
      code: done.searchParams.get("code") as string,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
    },
    {},
    dev,
  );
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

describe("dev sign-in", () => {
  it("signs a person in by e-mail and lets the client call whoami", async () => {
    const token = await devAuthorize(new TestBrowser(dev, DEV_ORIGIN), "Grace@Example.com");
    const { message } = await callTool(token, "whoami", {}, dev);
    const user = (message.result as { structuredContent: { user: Record<string, string> } }).structuredContent.user;
    expect(user.email).toBe("grace@example.com");
    expect(user.issuer).toBe(`${DEV_ORIGIN}/signin/dev`);
  });

  it("rejects an invalid e-mail with 400 and sets no sign-in cookie", async () => {
    const browser = new TestBrowser(dev, DEV_ORIGIN);
    for (const email of ["", "not-an-email", "a@b", `${"x".repeat(300)}@example.com`, "<script>@x.com"]) {
      const response = await browser.post("/signin/dev", { email, return_to: "/" });
      expect(response.status).toBe(400);
      expect(browser.cookies.has("__Host-cs_session")).toBe(false);
    }
  });

  it("refuses a cross-site sign-in POST (login CSRF) with 403", async () => {
    const browser = new TestBrowser(dev, DEV_ORIGIN);
    const response = await browser.post("/signin/dev", { email: "a@example.com" }, { Origin: "https://evil.test" });
    expect(response.status).toBe(403);
    expect(browser.cookies.has("__Host-cs_session")).toBe(false);
  });

  const hostileReturns = [
    "https://evil.test/",
    "//evil.test/",
    "/\\evil.test/",
    "\\\\evil.test",
    "javascript:alert(1)",
    "/\t/evil.test",
    "/%0d%0aSet-Cookie:x=y",
    "http://localhost:8787.evil.test/",
  ];
  for (const returnTo of hostileReturns) {
    it(`sends ${JSON.stringify(returnTo)} home instead of off-site`, async () => {
      const browser = new TestBrowser(dev, DEV_ORIGIN);
      const response = await browser.post("/signin/dev", { email: "a@example.com", return_to: returnTo });
      expect(response.status).toBe(302);
      const target = location(response);
      expect(target.origin).toBe("https://countersign.test"); // relative Location resolved by the helper
      expect(response.headers.get("Location")?.startsWith("/")).toBe(true);
      expect(response.headers.get("Location")?.startsWith("//")).toBe(false);
    });
  }

  it("treats a tampered sign-in cookie as signed out", async () => {
    const browser = new TestBrowser(dev, DEV_ORIGIN);
    await browser.post("/signin/dev", { email: "a@example.com", return_to: "/" });
    const sealed = browser.cookies.get("__Host-cs_session") as string;
    // Change the second-to-last character (always significant bits) to a different one.
    const flipped = `${sealed.slice(0, -2)}${sealed.at(-2) === "A" ? "B" : "A"}${sealed.slice(-1)}`;
    expect(flipped).not.toBe(sealed);
    browser.cookies.set("__Host-cs_session", flipped);
    const resume = await browser.get("/authorize/resume?state=x");
    expect(resume.status).toBe(302);
    expect(location(resume).pathname).toBe("/signin");
  });
});

describe("setup errors", () => {
  const broken: [string, Partial<Record<keyof Env, string>>, string][] = [
    [
      "dev sign-in on a public URL",
      { PUBLIC_URL: "https://countersign.example", DEV_SIGNIN: "enabled" },
      "dev_signin_not_local",
    ],
    ["no sign-in configured", { OIDC_ISSUER: "", OIDC_CLIENT_ID: "", DEV_SIGNIN: "" }, "signin_missing"],
    ["half an OIDC setup", { OIDC_CLIENT_ID: "" }, "oidc_incomplete"],
    ["an http OIDC issuer", { OIDC_ISSUER: "http://idp.test" }, "oidc_incomplete"],
    ["a short COOKIE_SECRET", { COOKIE_SECRET: "short" }, "cookie_secret_missing"],
    ["a PUBLIC_URL with a path", { PUBLIC_URL: "https://countersign.test/base" }, "public_url_invalid"],
    ["an http PUBLIC_URL off loopback", { PUBLIC_URL: "http://countersign.test" }, "public_url_invalid"],
  ];
  for (const [label, overrides, code] of broken) {
    it(`answers every route with a setup error for ${label}`, async () => {
      const bindings = envWith(overrides);
      const origin =
        overrides.PUBLIC_URL && !overrides.PUBLIC_URL.includes("/base")
          ? overrides.PUBLIC_URL
          : "https://countersign.test";
      const before = await kvKeys();
      for (const path of [
        "/",
        "/authorize?client_id=x",
        "/signin",
        "/.well-known/oauth-authorization-server",
        "/mcp",
      ]) {
        const response = await fetchWorker(`${origin}${path}`, {}, bindings);
        expect(response.status).toBe(503);
        expect(await response.text()).toContain(code);
      }
      const register = await fetchWorker(`${origin}/oauth/register`, { method: "POST", body: "{}" }, bindings);
      expect(register.status).toBe(503);
      const health = await fetchWorker(`${origin}/healthz`, {}, bindings);
      expect(health.status).toBe(503);
      expect(await health.json()).toEqual({ status: "misconfigured", code });
      expect(await addedKeys(before)).toEqual([]);
    });
  }

  it("has no dev sign-in route when OIDC is configured", async () => {
    const response = await new TestBrowser().post("/signin/dev", { email: "a@example.com", return_to: "/" });
    expect(response.status).toBe(404);
  });
});

it("serves /healthz", async () => {
  const response = await fetchWorker("/healthz");
  expect(response.status).toBe(200);
  expect(await response.json()).toEqual({ status: "ok" });
});
