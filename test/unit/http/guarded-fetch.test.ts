/** guardedFetch: vetted URL, no redirect, one deadline, a decoded byte cap (docs/threat-model.md B, D, E). */
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type GuardedFetchOptions, guardedFetch } from "../../../src/http/guarded-fetch";
import { err, ok } from "../../../src/lib/result";
import { resetFetchRoutes, routeFetch, seen, seenAt } from "../../helpers/fetch-router";
import { BOMB_BYTES, gzipped, inflating, never } from "../upstream/client/fixtures";
import { drip, streamed } from "./bodies";

const API = "https://api.test";
const ELSEWHERE = "https://elsewhere.test";
type Refused = { code: "refused_by_vet"; url: string };

/** Accepts only API; the refusal is the caller's own shape, returned as is. */
const vet = (raw: string) =>
  raw.startsWith(`${API}/`) ? ok(new URL(raw)) : err<Refused>({ code: "refused_by_vet", url: raw });
const options: GuardedFetchOptions<Refused> = { vet, timeoutMs: 1000, maxBytes: 1024 };

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

beforeEach(() => {
  resetFetchRoutes();
  routeFetch(ELSEWHERE, () => new Response("trapped"));
});

describe("guardedFetch: the vet", () => {
  it.each([`${ELSEWHERE}/x`, "http://api.test/x", "not a url", ""])(
    "returns the vet's refusal of %j as is and fetches nothing",
    async (url) => {
      routeFetch(API, () => new Response("ok"));
      let called = 0;
      const result = await guardedFetch(
        url,
        {},
        {
          ...options,
          fetcher: async () => {
            called++;
            return new Response("ok");
          },
        },
      );
      expect(result).toEqual({ ok: false, error: { code: "refused_by_vet", url } });
      expect(called).toBe(0);
      expect(seen).toEqual([]);
    },
  );

  it("fetches the URL the vet returned, not the text it was given", async () => {
    routeFetch(API, () => new Response("ok"));
    const rewrite = () => ok(new URL(`${API}/vetted`));
    const result = await guardedFetch(`${API}/asked`, {}, { ...options, vet: rewrite });
    expect(result.ok && text(result.value.bytes)).toBe("ok");
    expect(seen.map((request) => request.url)).toEqual([`${API}/vetted`]);
  });

  it("sends method, headers and body, and asks for manual redirects", async () => {
    const sent: Request[] = [];
    const result = await guardedFetch(
      `${API}/doc`,
      { method: "POST", headers: { "x-one": "1" }, body: "payload" },
      {
        ...options,
        fetcher: async (request) => {
          sent.push(request);
          return new Response(await request.text(), { status: 201 });
        },
      },
    );
    expect(result).toMatchObject({ ok: true, value: { status: 201, truncated: false } });
    expect(result.ok && text(result.value.bytes)).toBe("payload");
    expect(sent.map((request) => [request.method, request.headers.get("x-one"), request.redirect])).toEqual([
      ["POST", "1", "manual"],
    ]);
  });
});

describe("guardedFetch: redirects", () => {
  const REDIRECTS = [300, 301, 302, 303, 304, 305, 306, 307, 308, 399];

  it.each(REDIRECTS)("refuses a %i and fetches nothing from its Location", async (status) => {
    routeFetch(API, () => new Response(null, { status, headers: { location: `${ELSEWHERE}/steal` } }));
    const result = await guardedFetch(`${API}/doc`, {}, options);
    expect(result).toEqual({ ok: false, error: { code: "redirect_refused", status } });
    expect(seen.map((request) => request.url)).toEqual([`${API}/doc`]);
    expect(seenAt(ELSEWHERE)).toEqual([]);
  });

  it("refuses the opaque status 0 of a manual redirect, even when reporting redirects", async () => {
    const fetcher = async () => Response.error();
    for (const redirects of ["refuse", "report"] as const) {
      const result = await guardedFetch(`${API}/doc`, {}, { ...options, fetcher, redirects });
      expect(result).toEqual({ ok: false, error: { code: "redirect_refused", status: 0 } });
    }
  });

  it.each([200, 201, 204, 299, 400, 401, 404, 500, 503])("answers a %i as it is", async (status) => {
    routeFetch(API, () => new Response(status === 204 ? null : "body", { status }));
    const result = await guardedFetch(`${API}/doc`, {}, options);
    expect(result).toMatchObject({ ok: true, value: { status } });
  });

  it.each(REDIRECTS)("reports a %i as an answer when asked, still without following it", async (status) => {
    routeFetch(API, () => new Response(null, { status, headers: { location: `${ELSEWHERE}/steal` } }));
    const result = await guardedFetch(`${API}/doc`, {}, { ...options, redirects: "report" });
    expect(result).toMatchObject({ ok: true, value: { status } });
    expect(result.ok && result.value.headers.get("location")).toBe(`${ELSEWHERE}/steal`);
    expect(seenAt(ELSEWHERE)).toEqual([]);
    expect(seen).toHaveLength(1);
  });
});

describe("guardedFetch: the deadline", () => {
  it("times out a server that never sends headers, even when the fetcher ignores the signal", async () => {
    const started = Date.now();
    const result = await guardedFetch(`${API}/slow`, {}, { ...options, timeoutMs: 50, fetcher: never });
    expect(result).toEqual({ ok: false, error: { code: "timeout" } });
    expect(Date.now() - started).toBeLessThan(900);
  });

  it("aborts the request it sent when the deadline passes", async () => {
    let signal: AbortSignal | undefined;
    const fetcher = (request: Request) => {
      signal = request.signal;
      return never();
    };
    await guardedFetch(`${API}/slow`, {}, { ...options, timeoutMs: 50, fetcher });
    expect(signal?.aborted).toBe(true);
  });

  it("times out a slow drip: one deadline covers the body too", async () => {
    routeFetch(API, drip);
    const started = Date.now();
    const result = await guardedFetch(`${API}/drip`, {}, { ...options, timeoutMs: 150, maxBytes: 1024 * 1024 });
    expect(result).toEqual({ ok: false, error: { code: "timeout" } });
    expect(Date.now() - started).toBeLessThan(900);
  });

  it("times out a body that stalls after its first bytes", async () => {
    routeFetch(API, () => streamed(['{"a":'], false).response);
    const result = await guardedFetch(`${API}/stall`, {}, { ...options, timeoutMs: 50 });
    expect(result).toEqual({ ok: false, error: { code: "timeout" } });
  });

  it("says unreachable, not timeout, when the fetcher throws, and keeps none of its words", async () => {
    const fetcher = async () => {
      throw new TypeError("connect ECONNREFUSED 10.0.0.1 Bearer secret");
    };
    const result = await guardedFetch(`${API}/x`, {}, { ...options, fetcher });
    expect(result).toEqual({ ok: false, error: { code: "unreachable" } });
  });

  it("says unreachable when the body breaks off", async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array([97]));
        controller.error(new TypeError("reset"));
      },
    });
    const result = await guardedFetch(`${API}/x`, {}, { ...options, fetcher: async () => new Response(body) });
    expect(result).toEqual({ ok: false, error: { code: "unreachable" } });
  });
});

describe("guardedFetch: the caller's AbortSignal", () => {
  it("rejects with the reason of a signal aborted beforehand, and fetches nothing", async () => {
    routeFetch(API, () => new Response("ok"));
    const reason = new Error("caller gave up");
    const signal = AbortSignal.abort(reason);
    await expect(guardedFetch(`${API}/x`, {}, { ...options, signal })).rejects.toBe(reason);
    expect(seen).toEqual([]);
  });

  it("rejects with the caller's reason while waiting for headers, and aborts the request", async () => {
    const controller = new AbortController();
    const reason = new Error("caller gave up");
    let sent: AbortSignal | undefined;
    const fetcher = (request: Request) => {
      sent = request.signal;
      setTimeout(() => controller.abort(reason), 20);
      return never();
    };
    await expect(guardedFetch(`${API}/x`, {}, { ...options, signal: controller.signal, fetcher })).rejects.toBe(reason);
    expect(sent?.aborted).toBe(true);
  });

  it("rejects with the caller's reason during the body, and cancels it", async () => {
    const controller = new AbortController();
    const reason = new Error("caller gave up");
    const body = streamed(["a"], false);
    const fetcher = async () => {
      setTimeout(() => controller.abort(reason), 20);
      return body.response;
    };
    await expect(guardedFetch(`${API}/x`, {}, { ...options, signal: controller.signal, fetcher })).rejects.toBe(reason);
    expect(body.cancelled()).toBe(true);
  });

  it("still times out on its own deadline when the caller's signal never fires", async () => {
    const signal = new AbortController().signal;
    const result = await guardedFetch(`${API}/x`, {}, { ...options, signal, timeoutMs: 50, fetcher: never });
    expect(result).toEqual({ ok: false, error: { code: "timeout" } });
  });
});

describe("guardedFetch: the byte cap", () => {
  it("refuses a streamed body past maxBytes", async () => {
    routeFetch(API, () => streamed(["a".repeat(600), "b".repeat(600)]).response);
    const result = await guardedFetch(`${API}/big`, {}, options);
    expect(result).toEqual({ ok: false, error: { code: "too_large" } });
  });

  it("refuses an endless body at the cap and cancels it", async () => {
    let cancelled = false;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(100));
      },
      cancel() {
        cancelled = true;
      },
    });
    const result = await guardedFetch(`${API}/big`, {}, { ...options, fetcher: async () => new Response(endless) });
    expect(result).toEqual({ ok: false, error: { code: "too_large" } });
    expect(cancelled).toBe(true);
  });

  it("refuses a declared Content-Length past maxBytes without waiting for the body", async () => {
    const body = streamed(["x"], false);
    routeFetch(API, () => new Response(body.response.body, { headers: { "content-length": "2000" } }));
    const result = await guardedFetch(`${API}/big`, {}, { ...options, timeoutMs: 500 });
    expect(result).toEqual({ ok: false, error: { code: "too_large" } });
    expect(body.cancelled()).toBe(true);
  });

  it("reads a body of exactly maxBytes", async () => {
    routeFetch(API, () => streamed(["a".repeat(1000), "b".repeat(24)]).response);
    const result = await guardedFetch(`${API}/edge`, {}, options);
    expect(result).toMatchObject({ ok: true, value: { truncated: false } });
    expect(result.ok && result.value.bytes.byteLength).toBe(1024);
  });

  it("keeps the first maxBytes and says so when asked to truncate", async () => {
    routeFetch(API, () => streamed(["a".repeat(1000), "b".repeat(1000)]).response);
    const result = await guardedFetch(`${API}/big`, {}, { ...options, body: "truncate" });
    expect(result).toMatchObject({ ok: true, value: { truncated: true } });
    expect(result.ok && text(result.value.bytes)).toBe(`${"a".repeat(1000)}${"b".repeat(24)}`);
  });

  it("cancels the body unread when asked to discard it, so an endless stream cannot hold the answer", async () => {
    const body = streamed(["event: message\n"], false);
    routeFetch(API, () => body.response);
    const result = await guardedFetch(`${API}/sse`, {}, { ...options, timeoutMs: 500, body: "discard" });
    expect(result).toMatchObject({ ok: true, value: { status: 200, truncated: false } });
    expect(result.ok && result.value.bytes.byteLength).toBe(0);
    expect(body.cancelled()).toBe(true);
  });

  describe("with a gzip body decoded by the runtime (a decompression bomb: 10 MiB from about 10 KB)", () => {
    const cap = { ...options, maxBytes: 64 * 1024 };
    let bomb: Uint8Array;
    beforeAll(async () => {
      bomb = await gzipped('{"pad":"', BOMB_BYTES, '"}');
    });

    it.each([
      ["read", { ok: false, error: { code: "too_large" } }],
      ["truncate", { ok: true, value: { status: 200, truncated: true } }],
    ] as const)("stops at the cap of decoded bytes in %s mode, inflating no further", async (mode, expected) => {
      // Under the cap on the wire, Content-Length included: only the decoded count can stop it.
      expect(bomb.byteLength).toBeLessThan(cap.maxBytes);
      const answer = inflating(bomb);
      const result = await guardedFetch(
        `${API}/bomb`,
        {},
        { ...cap, body: mode, fetcher: async () => answer.response },
      );
      expect(result).toMatchObject(expected);
      if (result.ok) expect(result.value.bytes.byteLength).toBe(cap.maxBytes);
      expect(answer.decoded()).toBeGreaterThan(cap.maxBytes);
      expect(answer.decoded()).toBeLessThan(1024 * 1024);
    });

    it("reads a gzip body under the cap whole, decoded (so the refusals above can fail)", async () => {
      const answer = inflating(await gzipped('{"pad":"', 1000, '"}'));
      routeFetch(API, () => answer.response);
      const result = await guardedFetch(`${API}/small`, {}, cap);
      expect(result.ok && JSON.parse(text(result.value.bytes))).toEqual({ pad: "0".repeat(1000) });
    });
  });
});
