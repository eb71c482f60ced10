/** safeFetch: vetted URL on every hop, no redirects, bounded time and bytes (docs/threat-model.md B, D, E). */
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { fetchJson, safeFetch } from "../../../../src/upstream/client/safe-fetch";
import { resetFetchRoutes, routeFetch, seenAt } from "../../../helpers/fetch-router";
import {
  BOMB_BYTES,
  EVIL_ORIGIN,
  fetchedUrls,
  gzipped,
  HOSTILE_ENDPOINTS,
  inflating,
  json,
  never,
  redirectTo,
  trapHostile,
  trappedRequests,
} from "./fixtures";

const UP = "https://up.example.com";
const options = { allowLoopback: false, timeoutMs: 1000, maxBytes: 1024 };

/** A body that sends `chunks` and then, unless `end`, never finishes. */
function streamed(chunks: string[], end = true): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      if (end) controller.close();
    },
  });
  return new Response(body, { headers: { "content-type": "application/json" } });
}

beforeEach(() => {
  resetFetchRoutes();
  trapHostile();
});

describe("safeFetch", () => {
  it.each(HOSTILE_ENDPOINTS)("refuses %j with %s before any request", async (raw, code) => {
    const result = await safeFetch(raw, {}, options);
    expect(result).toEqual({ ok: false, error: { code } });
    expect(fetchedUrls()).toEqual([]);
    expect(trappedRequests()).toEqual([]);
  });

  it("returns status, headers and text of a plain answer", async () => {
    routeFetch(UP, () => json({ hello: "world" }, 201, { "x-upstream": "1" }));
    const result = await safeFetch(`${UP}/doc`, { method: "POST", body: "payload" }, options);
    if (!result.ok) throw new Error(result.error.code);
    expect(result.value.status).toBe(201);
    expect(result.value.headers.get("x-upstream")).toBe("1");
    expect(result.value.text).toBe('{"hello":"world"}');
    expect(result.value.truncated).toBe(false);
    expect(seenAt(UP)).toMatchObject([{ method: "POST", body: "payload", url: `${UP}/doc` }]);
  });

  it("sends the request with redirect: manual, whatever the fetcher", async () => {
    const modes: string[] = [];
    const fetcher = async (request: Request) => {
      modes.push(request.redirect);
      return json({});
    };
    await safeFetch(`${UP}/doc`, {}, { ...options, fetcher });
    expect(modes).toEqual(["manual"]);
  });

  it.each([301, 302, 303, 307, 308])("refuses a %i redirect without following it", async (status) => {
    routeFetch(UP, () => redirectTo(status));
    const result = await safeFetch(`${UP}/doc`, {}, options);
    expect(result).toEqual({ ok: false, error: { code: "redirect_refused", status } });
    expect(seenAt(EVIL_ORIGIN)).toEqual([]);
    expect(fetchedUrls()).toEqual([`${UP}/doc`]);
  });

  it("times out when the server never answers", async () => {
    routeFetch(UP, never);
    const started = Date.now();
    const result = await safeFetch(`${UP}/slow`, {}, { ...options, timeoutMs: 50 });
    expect(result).toEqual({ ok: false, error: { code: "timeout" } });
    expect(Date.now() - started).toBeLessThan(900);
  });

  it("times out on a slow drip that never ends", async () => {
    routeFetch(UP, () => streamed(['{"a":'], false));
    const result = await safeFetch(`${UP}/drip`, {}, { ...options, timeoutMs: 50 });
    expect(result).toEqual({ ok: false, error: { code: "timeout" } });
  });

  it("reports an unreachable server as unreachable, not timeout", async () => {
    const fetcher = async () => {
      throw new TypeError("connection refused");
    };
    const result = await safeFetch(`${UP}/x`, {}, { ...options, fetcher });
    expect(result).toEqual({ ok: false, error: { code: "unreachable" } });
  });

  it("refuses a streamed body past maxBytes", async () => {
    routeFetch(UP, () => streamed(["a".repeat(600), "b".repeat(600)]));
    const result = await safeFetch(`${UP}/big`, {}, options);
    expect(result).toEqual({ ok: false, error: { code: "too_large" } });
  });

  it("refuses a declared Content-Length past maxBytes without waiting for the body", async () => {
    routeFetch(UP, () => {
      const response = streamed(["x"], false);
      return new Response(response.body, { headers: { "content-length": "2000" } });
    });
    const result = await safeFetch(`${UP}/big`, {}, { ...options, timeoutMs: 200 });
    expect(result).toEqual({ ok: false, error: { code: "too_large" } });
  });

  it("reads a body of exactly maxBytes", async () => {
    routeFetch(UP, () => streamed(["a".repeat(1000), "b".repeat(24)]));
    const result = await safeFetch(`${UP}/edge`, {}, options);
    expect(result.ok && result.value.text.length).toBe(1024);
  });

  it("cuts the body at maxBytes and says so when asked to truncate", async () => {
    routeFetch(UP, () => streamed(["a".repeat(1000), "b".repeat(1000)]));
    const result = await safeFetch(`${UP}/big`, {}, { ...options, truncate: true });
    if (!result.ok) throw new Error(result.error.code);
    expect(result.value.text).toBe(`${"a".repeat(1000)}${"b".repeat(24)}`);
    expect(result.value.truncated).toBe(true);
  });

  describe("with a gzip body decoded by the runtime (a decompression bomb)", () => {
    const cap = { ...options, maxBytes: 64 * 1024 };
    let bomb: Uint8Array;
    beforeAll(async () => {
      bomb = await gzipped('{"pad":"', BOMB_BYTES, '"}');
    });

    it("counts decoded bytes: 10 MiB from about 10 KB on the wire is too_large, inflated no further than near the cap", async () => {
      // Under the cap on the wire, Content-Length included: only the decoded count can stop it.
      expect(bomb.byteLength).toBeLessThan(cap.maxBytes);
      const answer = inflating(bomb);
      routeFetch(UP, () => answer.response);
      const result = await safeFetch(`${UP}/bomb`, {}, cap);
      expect(result).toEqual({ ok: false, error: { code: "too_large" } });
      expect(answer.decoded()).toBeGreaterThan(cap.maxBytes);
      expect(answer.decoded()).toBeLessThan(1024 * 1024);
    });

    it("cuts the decoded body at maxBytes when asked to truncate, inflating no further", async () => {
      const answer = inflating(bomb);
      routeFetch(UP, () => answer.response);
      const result = await safeFetch(`${UP}/bomb`, {}, { ...cap, truncate: true });
      if (!result.ok) throw new Error(result.error.code);
      expect(result.value.truncated).toBe(true);
      expect(result.value.text).toBe(`{"pad":"${"0".repeat(cap.maxBytes - 8)}`);
      expect(answer.decoded()).toBeLessThan(1024 * 1024);
    });

    it("reads a gzip body under the cap as its decoded text (the refusals above can fail)", async () => {
      const answer = inflating(await gzipped('{"pad":"', 1000, '"}'));
      routeFetch(UP, () => answer.response);
      const result = await fetchJson(`${UP}/small`, {}, { allowLoopback: false });
      expect(result).toMatchObject({ ok: true, value: { status: 200, json: { pad: "0".repeat(1000) } } });
    });
  });

  it("discards the body unread when asked, so an endless stream cannot hold it", async () => {
    routeFetch(UP, () => streamed(["event: message\n"], false));
    const result = await safeFetch(`${UP}/sse`, {}, { ...options, timeoutMs: 200, discardBody: true });
    expect(result).toMatchObject({ ok: true, value: { status: 200, text: "", truncated: false } });
  });

  it("checks the URL with dev loopback only when allowed", async () => {
    routeFetch("http://127.0.0.1:8787", () => json({ ok: true }));
    const refused = await safeFetch("http://127.0.0.1:8787/x", {}, options);
    expect(refused).toEqual({ ok: false, error: { code: "scheme_not_allowed" } });
    expect(seenAt("http://127.0.0.1:8787")).toEqual([]);
    const allowed = await safeFetch("http://127.0.0.1:8787/x", {}, { ...options, allowLoopback: true });
    expect(allowed.ok).toBe(true);
    expect(seenAt("http://127.0.0.1:8787")).toHaveLength(1);
  });
});

describe("fetchJson", () => {
  it("parses a JSON object", async () => {
    routeFetch(UP, () => json({ a: 1 }));
    const result = await fetchJson(`${UP}/doc`, {}, { allowLoopback: false });
    expect(result).toMatchObject({ ok: true, value: { status: 200, json: { a: 1 } } });
  });

  it.each([["[1,2]"], ["null"], ['"text"'], ["{not json"], [""]])("gives json: null for %j", async (text) => {
    routeFetch(UP, () => new Response(text));
    const result = await fetchJson(`${UP}/doc`, {}, { allowLoopback: false });
    expect(result).toMatchObject({ ok: true, value: { status: 200, json: null } });
  });

  it("caps documents at 64 KiB by default", async () => {
    routeFetch(UP, () => json({ pad: "x".repeat(65 * 1024) }));
    const result = await fetchJson(`${UP}/doc`, {}, { allowLoopback: false });
    expect(result).toEqual({ ok: false, error: { code: "too_large" } });
  });
});
