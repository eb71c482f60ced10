/**
 * A minimal browser for tests: a cookie jar, manual redirects, and form posts that carry the
 * Origin header a real browser sends. Cookies are kept by name only (one origin under test).
 */
import { fetchWorker, PUBLIC_ORIGIN } from "./worker";

export class TestBrowser {
  readonly cookies = new Map<string, string>();
  constructor(
    readonly bindings?: Env,
    readonly origin = PUBLIC_ORIGIN,
  ) {}

  /** Store every Set-Cookie of a response; Max-Age=0 deletes. */
  absorb(response: Response): Response {
    for (const line of response.headers.getSetCookie()) {
      const [pair = "", ...attributes] = line.split(";");
      const index = pair.indexOf("=");
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      if (attributes.some((attribute) => attribute.trim().toLowerCase() === "max-age=0")) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  cookieHeader(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const response = await fetchWorker(path, { headers: { Cookie: this.cookieHeader(), ...headers } }, this.bindings);
    return this.absorb(response);
  }

  async post(path: string, form: Record<string, string | string[]>, headers: Record<string, string> = {}) {
    const body = new URLSearchParams();
    for (const [name, value] of Object.entries(form)) {
      for (const item of Array.isArray(value) ? value : [value]) body.append(name, item);
    }
    const response = await fetchWorker(
      path,
      {
        method: "POST",
        body,
        headers: {
          Cookie: this.cookieHeader(),
          Origin: this.origin,
          "Content-Type": "application/x-www-form-urlencoded",
          ...headers,
        },
      },
      this.bindings,
    );
    return this.absorb(response);
  }
}

/** The value of a hidden or named input in an HTML page. */
export function inputValue(html: string, name: string): string | undefined {
  const match = new RegExp(`<input[^>]*name="${name}"[^>]*value="([^"]*)"`).exec(html);
  return match?.[1]?.replace(/&amp;/g, "&");
}

/** Path + query of a Location header, asserting it exists. */
export function location(response: Response): URL {
  const value = response.headers.get("Location");
  if (!value) throw new Error(`expected a redirect, got ${response.status}`);
  return new URL(value, PUBLIC_ORIGIN);
}
