/** guardedStream and ByteBudget: metered bodies under one operation's signal and allowance (docs/threat-model.md D, E). */
import { beforeEach, describe, expect, it } from "vitest";
import { ByteBudget, type GuardedStreamOptions, guardedStream } from "../../../src/http/guarded-stream";
import { err, ok } from "../../../src/lib/result";
import { resetFetchRoutes, routeFetch, seen, seenAt } from "../../helpers/fetch-router";
import { BOMB_BYTES, gzipped, inflating, never } from "../upstream/client/fixtures";
import { streamed } from "./bodies";

const API = "https://api.test";
const ELSEWHERE = "https://elsewhere.test";
type Refused = { code: "refused_by_vet" };

const vet = (raw: string) => (raw.startsWith(`${API}/`) ? ok(new URL(raw)) : err<Refused>({ code: "refused_by_vet" }));

class Exceeded extends Error {}

/** Options over a fresh signal and budget; `exceeded` counts how often the budget ran out. */
function operation(maxBytes = 1024) {
  const controller = new AbortController();
  let exceeded = 0;
  const budget = new ByteBudget(maxBytes, () => {
    exceeded++;
    return new Exceeded("over budget");
  });
  const options: GuardedStreamOptions<Refused> = { vet, signal: controller.signal, budget };
  return { controller, budget, options, exceeded: () => exceeded };
}

beforeEach(() => {
  resetFetchRoutes();
  routeFetch(ELSEWHERE, () => new Response("trapped"));
});

describe("guardedStream", () => {
  it("returns the vet's refusal and fetches nothing", async () => {
    const { options } = operation();
    const result = await guardedStream(`${ELSEWHERE}/x`, {}, options);
    expect(result).toEqual({ ok: false, error: { code: "refused_by_vet" } });
    expect(seen).toEqual([]);
  });

  it.each([301, 302, 303, 307, 308])("refuses a %i without following it", async (status) => {
    routeFetch(API, () => new Response(null, { status, headers: { location: `${ELSEWHERE}/steal` } }));
    const { options } = operation();
    const result = await guardedStream(`${API}/mcp`, { method: "POST", body: "{}" }, options);
    expect(result).toEqual({ ok: false, error: { code: "redirect_refused", status } });
    expect(seenAt(ELSEWHERE)).toEqual([]);
    expect(seen).toHaveLength(1);
  });

  it("says unreachable when the fetcher throws", async () => {
    const { options } = operation();
    const fetcher = async () => {
      throw new TypeError("refused");
    };
    expect(await guardedStream(`${API}/mcp`, {}, { ...options, fetcher })).toEqual({
      ok: false,
      error: { code: "unreachable" },
    });
  });

  it("hands back the body as a stream, decoded headers dropped, counted against the budget", async () => {
    routeFetch(API, () => streamed(["hello ", "world"], true, { "content-length": "11", "x-kept": "1" }).response);
    const { options, budget } = operation();
    const result = await guardedStream(`${API}/mcp`, {}, options);
    if (!result.ok) throw new Error(result.error.code);
    expect(result.value.headers.get("content-length")).toBeNull();
    expect(result.value.headers.get("x-kept")).toBe("1");
    expect(await result.value.text()).toBe("hello world");
    expect(budget.left).toBe(1024 - 11);
  });

  it("answers a 204 with no body", async () => {
    routeFetch(API, () => new Response(null, { status: 204 }));
    const { options } = operation();
    const result = await guardedStream(`${API}/mcp`, {}, options);
    expect(result.ok && result.value.status).toBe(204);
    expect(result.ok && result.value.body).toBeNull();
  });

  it("shares one budget across the bodies of an operation: the one that passes it errors with exceeded()", async () => {
    routeFetch(API, () => streamed(["a".repeat(600)]).response);
    const { options, exceeded } = operation();
    const first = await guardedStream(`${API}/one`, {}, options);
    expect(first.ok && (await first.value.text()).length).toBe(600);
    const second = await guardedStream(`${API}/two`, {}, options);
    if (!second.ok) throw new Error(second.error.code);
    await expect(second.value.text()).rejects.toBeInstanceOf(Exceeded);
    expect(exceeded()).toBe(1);
  });

  it("refuses a declared length past what is left, without reading", async () => {
    const body = streamed(["x"], false, { "content-length": "2000" });
    routeFetch(API, () => body.response);
    const { options, exceeded } = operation();
    const result = await guardedStream(`${API}/big`, {}, options);
    expect(result).toEqual({ ok: false, error: { code: "too_large" } });
    expect(body.cancelled()).toBe(true);
    expect(exceeded()).toBe(0);
  });

  it("stops a gzip bomb at the budget, decoded bytes counted, inflating no further", async () => {
    const answer = inflating(await gzipped('{"pad":"', BOMB_BYTES, '"}'));
    routeFetch(API, () => answer.response);
    const { options } = operation(64 * 1024);
    const result = await guardedStream(`${API}/bomb`, {}, options);
    if (!result.ok) throw new Error(result.error.code);
    expect(result.value.headers.get("content-encoding")).toBeNull();
    await expect(result.value.arrayBuffer()).rejects.toBeInstanceOf(Exceeded);
    expect(answer.decoded()).toBeGreaterThan(64 * 1024);
    expect(answer.decoded()).toBeLessThan(1024 * 1024);
  });

  describe("when the operation's signal aborts", () => {
    const reason = new Error("operation over");

    it("rejects with its reason before any request when already aborted", async () => {
      routeFetch(API, () => new Response("ok"));
      const { options, controller } = operation();
      controller.abort(reason);
      await expect(guardedStream(`${API}/mcp`, {}, options)).rejects.toBe(reason);
      expect(seen).toEqual([]);
    });

    it("rejects with its reason while waiting for headers, even when the fetcher ignores it", async () => {
      const { options, controller } = operation();
      setTimeout(() => controller.abort(reason), 20);
      await expect(guardedStream(`${API}/mcp`, {}, { ...options, fetcher: never })).rejects.toBe(reason);
    });

    it("errors an open body with its reason and cancels the source", async () => {
      const body = streamed(["event: a\n\n"], false);
      const { options, controller } = operation();
      const result = await guardedStream(`${API}/sse`, {}, { ...options, fetcher: async () => body.response });
      if (!result.ok) throw new Error(result.error.code);
      const reader = (result.value.body as ReadableStream<Uint8Array>).getReader();
      expect((await reader.read()).done).toBe(false);
      setTimeout(() => controller.abort(reason), 20);
      await expect(reader.read()).rejects.toBe(reason);
      expect(body.cancelled()).toBe(true);
    });
  });
});

describe("ByteBudget", () => {
  it("allows exactly its bytes and throws exceeded() past them", () => {
    const budget = new ByteBudget(10, () => new Exceeded("over"));
    budget.spend(4);
    budget.spend(6);
    expect(budget.left).toBe(0);
    expect(() => budget.spend(1)).toThrow(Exceeded);
  });
});
