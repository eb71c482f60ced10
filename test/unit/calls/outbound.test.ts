/** The one outbound request of a call: no redirects, bounded time and bytes, safe headers only. */
import { describe, expect, it } from "vitest";
import { RESPONSE_BYTE_CAP, sendCall, TRUNCATION_MARKER } from "../../../src/calls/outbound";
import { BOMB_BYTES, gzipped, inflating } from "../upstream/client/fixtures";

const request = { url: "https://api.test/x", method: "GET", headers: { authorization: "Bearer secret" }, body: "" };

describe("sendCall", () => {
  it("keeps JSON as JSON and returns only safe headers", async () => {
    const result = await sendCall(request, async () =>
      Response.json({ a: 1 }, { headers: { "Set-Cookie": "s=1", "X-RateLimit-Remaining": "9", "X-Internal": "no" } }),
    );
    expect(result.ok && result.value).toMatchObject({ status: 200, body: { a: 1 }, truncated: false });
    expect(result.ok && Object.keys(result.value.headers).sort()).toEqual(["content-type", "x-ratelimit-remaining"]);
  });

  it("asks fetch not to follow redirects", async () => {
    let mode: string | undefined;
    const result = await sendCall(request, async (sent) => {
      mode = sent.redirect;
      return new Response(null, { status: 301, headers: { Location: "https://elsewhere.test/" } });
    });
    expect(mode).toBe("manual");
    expect(result.ok && result.value).toMatchObject({ status: 301, headers: { location: "https://elsewhere.test/" } });
  });

  it("stops at the byte cap and marks the truncation", async () => {
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(1024).fill(97));
      },
    });
    const result = await sendCall(request, async () => new Response(endless), { byteCap: 10_000 });
    expect(result.ok && result.value.truncated).toBe(true);
    expect(result.ok && result.value.bytes).toBe(10_000);
    expect(result.ok && String(result.value.body).endsWith(TRUNCATION_MARKER)).toBe(true);
  });

  it("counts decoded bytes: a gzip bomb (10 MiB from about 10 KB) stops at the cap and is decoded no further", async () => {
    const wire = await gzipped('{"data":"', BOMB_BYTES, '"}');
    expect(wire.byteLength).toBeLessThan(64 * 1024);
    const bomb = inflating(wire);
    const result = await sendCall(request, async () => bomb.response);
    expect(result.ok && result.value).toMatchObject({ status: 200, truncated: true, bytes: RESPONSE_BYTE_CAP });
    expect(result.ok && String(result.value.body).endsWith(TRUNCATION_MARKER)).toBe(true);
    // The decompressor ran little past the cap: reading stopped there and the stream was cancelled.
    expect(bomb.decoded()).toBeLessThan(2 * RESPONSE_BYTE_CAP);
  });

  it("reads a small gzip body whole (so the bomb case can fail)", async () => {
    const small = inflating(await gzipped('{"data":"', 1000, '"}'));
    const result = await sendCall(request, async () => small.response);
    expect(result.ok && result.value).toMatchObject({ status: 200, truncated: false });
    expect(result.ok && (result.value.body as { data: string }).data).toHaveLength(1000);
  });

  it("gives up on a slow drip at the timeout", async () => {
    let timer: ReturnType<typeof setInterval> | undefined;
    const drip = new ReadableStream<Uint8Array>({
      start(controller) {
        timer = setInterval(() => controller.enqueue(new Uint8Array([97])), 20);
      },
      cancel() {
        clearInterval(timer);
      },
    });
    const started = Date.now();
    const result = await sendCall(request, async () => new Response(drip), { timeoutMs: 200 });
    clearInterval(timer);
    expect(!result.ok && result.error.code).toBe("provider_timeout");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("gives up on a provider that never answers, even if it ignores the abort signal", async () => {
    const result = await sendCall(request, () => new Promise<Response>(() => {}), { timeoutMs: 100 });
    expect(result).toEqual({ ok: false, error: { code: "provider_timeout" } });
  });

  it("reports an unreachable provider without details", async () => {
    const result = await sendCall(request, async () => {
      throw new TypeError("connect ECONNREFUSED 10.0.0.1 Bearer secret");
    });
    expect(result).toEqual({ ok: false, error: { code: "provider_unreachable" } });
  });

  it("never sends a body with GET", async () => {
    let body: string | null = "unset";
    await sendCall({ ...request, body: "ignored" }, async (sent) => {
      body = await sent.text();
      return new Response("ok");
    });
    expect(body).toBe("");
  });
});
