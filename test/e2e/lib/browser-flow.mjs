// A fetch-based stand-in for a person's browser on the authorization pages: a cookie jar, a
// minimal HTML form reader, and the consent -> dev sign-in -> resume walk that ends in the
// redirect back to the MCP client (whose Location we return instead of following).
import { fetchWithTimeout } from "./util.mjs";

/** Stores cookies as name=value only; Secure/__Host- attributes are deliberately not enforced. */
export class CookieJar {
  /** @type {Map<string, string>} */
  #cookies = new Map();

  /** Take every Set-Cookie of a response; an expired or emptied cookie is removed. */
  store(/** @type {Response} */ res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((attr) => {
        const [key, val = ""] = attr.split("=").map((part) => part.trim());
        if (/^max-age$/i.test(key)) return Number(val) <= 0;
        if (/^expires$/i.test(key)) return Date.parse(val) <= Date.now();
        return false;
      });
      if (expired || value === "") this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  /** The Cookie request header, or undefined when the jar is empty. */
  header() {
    if (this.#cookies.size === 0) return undefined;
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  names() {
    return [...this.#cookies.keys()];
  }

  values() {
    return [...this.#cookies.values()];
  }
}

const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", "#39": "'", "#x27": "'", "#x2F": "/" };

/** Decode the few HTML entities an attribute value rendered by JSX can contain. */
export function decodeEntities(text) {
  return text.replace(/&(#?\w+);/g, (whole, name) => {
    if (name in ENTITIES) return ENTITIES[name];
    if (/^#\d+$/.test(name)) return String.fromCodePoint(Number(name.slice(1)));
    if (/^#x[0-9a-f]+$/i.test(name)) return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
    return whole;
  });
}

function attributes(tag) {
  /** @type {Record<string, string>} */
  const out = {};
  for (const match of tag.matchAll(/([a-zA-Z_:-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g)) {
    out[match[1].toLowerCase()] = decodeEntities(match[2] ?? match[3] ?? match[4] ?? "");
  }
  return out;
}

/**
 * @typedef {object} HtmlForm
 * @property {string} method
 * @property {string} action
 * @property {Array<Record<string, string>>} inputs   attributes of each <input>
 * @property {Array<{ name: string, value: string, label: string }>} buttons
 */

/**
 * Every <form> in a page, with its inputs and submit buttons.
 * @param {string} html
 * @returns {HtmlForm[]}
 */
export function parseForms(html) {
  const forms = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attrs = attributes(match[1]);
    const body = match[2];
    const inputs = [...body.matchAll(/<input\b([^>]*)>/gi)].map((input) => attributes(input[1]));
    const buttons = [...body.matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button>/gi)].map((button) => {
      const attr = attributes(button[1]);
      return { name: attr.name ?? "", value: attr.value ?? "", label: button[2].replace(/<[^>]*>/g, "").trim() };
    });
    forms.push({ method: (attrs.method ?? "get").toLowerCase(), action: attrs.action ?? "", inputs, buttons });
  }
  return forms;
}

/**
 * One browser tab's worth of state against the server: same cookie jar, manual redirects, and an
 * Origin header on every POST (the server refuses POSTs without its own Origin).
 */
export class BrowserSession {
  /**
   * @param {string} origin
   * @param {{ headers?: Record<string, string> }} [options]  sent with every request (e.g. the
   *   benchmark's CF-Connecting-IP, so each simulated person has their own rate-limit bucket)
   */
  constructor(origin, { headers = {} } = {}) {
    this.origin = origin;
    this.extraHeaders = headers;
    this.jar = new CookieJar();
    /** @type {Array<{ method: string, url: string, status: number }>} */
    this.history = [];
  }

  /** @param {string} url  absolute or origin-relative */
  async get(url) {
    return this.#send(new URL(url, this.origin), { method: "GET" });
  }

  /**
   * @param {string} url
   * @param {URLSearchParams} form
   */
  async post(url, form) {
    return this.#send(new URL(url, this.origin), {
      method: "POST",
      body: form,
      headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: this.origin },
    });
  }

  async #send(url, init) {
    const headers = new Headers({ ...this.extraHeaders, ...init.headers });
    const cookie = this.jar.header();
    if (cookie) headers.set("Cookie", cookie);
    const res = await fetchWithTimeout(url, { ...init, headers, redirect: "manual" });
    this.jar.store(res);
    this.history.push({ method: init.method, url: url.pathname, status: res.status });
    return res;
  }

  /** The absolute target of a redirect response (throws when it is not one). */
  location(/** @type {Response} */ res) {
    const location = res.headers.get("Location");
    if (res.status < 300 || res.status > 399 || !location) {
      throw new Error(`expected a redirect, got HTTP ${res.status} (${this.describe()})`);
    }
    return new URL(location, this.origin);
  }

  describe() {
    return this.history.map((step) => `${step.method} ${step.url} -> ${step.status}`).join(", ");
  }
}

/**
 * @typedef {object} AuthorizeOutcome
 * @property {URL} callback          where the server sent the browser back to the client
 * @property {string} consentHtml    the consent page as served
 * @property {HtmlForm} consentForm
 * @property {BrowserSession} browser
 */

/**
 * Walk a person through the authorization: open the consent page, press Allow (or Cancel), sign
 * in with the dev sign-in when asked, and stop at the redirect that leaves our origin.
 * @param {object} options
 * @param {string} options.origin
 * @param {string | URL} options.authorizationUrl
 * @param {string} options.email
 * @param {"approve" | "deny"} [options.decision]
 * @param {string[]} [options.scopes]     the boxes left ticked (default: every requested scope)
 * @param {boolean} [options.remember]
 * @param {BrowserSession} [options.browser]
 * @returns {Promise<AuthorizeOutcome>}
 */
export async function authorizeInBrowser({
  origin,
  authorizationUrl,
  email,
  decision = "approve",
  scopes,
  remember = true,
  browser = new BrowserSession(origin),
}) {
  const page = await browser.get(String(authorizationUrl));
  const consentHtml = await page.text();
  if (page.status !== 200) throw new Error(`consent page: HTTP ${page.status}: ${consentHtml.slice(0, 300)}`);
  const consentForm = parseForms(consentHtml).find((form) => form.action === "/authorize");
  if (consentForm?.method !== "post") throw new Error("consent page has no POST /authorize form");
  const handle = consentForm.inputs.find((input) => input.name === "handle")?.value;
  if (!handle) throw new Error("consent form has no handle");
  const offered = consentForm.inputs.filter((input) => input.name === "scope").map((input) => input.value);

  const form = new URLSearchParams({ handle, decision });
  for (const scope of scopes ?? offered) form.append("scope", scope);
  if (remember) form.set("remember", "yes");
  let next = browser.location(await browser.post("/authorize", form));

  // Same-origin hops: the dev sign-in page, then /authorize/resume.
  for (let hops = 0; next.origin === origin; hops++) {
    if (hops > 5) throw new Error(`too many redirects (${browser.describe()})`);
    if (next.pathname === "/signin") {
      const signIn = await browser.get(next.href);
      const html = await signIn.text();
      if (signIn.status !== 200) throw new Error(`sign-in page: HTTP ${signIn.status}`);
      const signInForm = parseForms(html).find((f) => f.action === "/signin/dev");
      if (!signInForm) throw new Error("sign-in page has no POST /signin/dev form");
      const returnTo = signInForm.inputs.find((input) => input.name === "return_to")?.value ?? "";
      next = browser.location(await browser.post("/signin/dev", new URLSearchParams({ email, return_to: returnTo })));
    } else {
      next = browser.location(await browser.get(next.href));
    }
  }
  return { callback: next, consentHtml, consentForm, browser };
}
