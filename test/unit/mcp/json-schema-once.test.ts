/**
 * Tool schemas converted to JSON Schema once per isolate: the memoised conversion equals zod's
 * own for both directions, is the same frozen object on every call (so no request can alter
 * what the next one lists), and validation is exactly zod's.
 */
import { describe, expect, it } from "vitest";
import * as z from "zod";
import { deepFreeze, jsonSchemaOnce } from "../../../src/mcp/json-schema-once";

const build = () =>
  z.object({
    url: z.string().url(),
    method: z.enum(["GET", "POST"]).default("GET"),
    headers: z.record(z.string(), z.string()).optional(),
  });

const TARGET = { target: "draft-2020-12" };

describe("jsonSchemaOnce", () => {
  it.each(["input", "output"] as const)("converts %s like zod does, once, frozen", (io) => {
    const plain = build();
    const once = jsonSchemaOnce(build());
    const first = once["~standard"].jsonSchema[io](TARGET);
    expect(first).toEqual(plain["~standard"].jsonSchema[io](TARGET));
    expect(once["~standard"].jsonSchema[io](TARGET)).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen((first as { properties: object }).properties)).toBe(true);
    expect(() => {
      (first as { properties: Record<string, unknown> }).properties.url = {};
    }).toThrow(TypeError);
  });

  it("keeps one conversion per target", () => {
    const once = jsonSchemaOnce(build());
    const modern = once["~standard"].jsonSchema.input(TARGET);
    const draft7 = once["~standard"].jsonSchema.input({ target: "draft-07" });
    expect(draft7).not.toBe(modern);
    expect(once["~standard"].jsonSchema.input({ target: "draft-07" })).toBe(draft7);
  });

  it.each([
    [{ url: "https://api.test/x" }, true],
    [{ url: "not a url" }, false],
    [{ url: "https://api.test/x", method: "DELETE" }, false],
    [{}, false],
  ])("validates %j exactly as zod does", async (value, ok) => {
    const once = jsonSchemaOnce(build());
    const result = await once["~standard"].validate(value);
    expect(result).toEqual(await build()["~standard"].validate(value));
    expect("value" in result).toBe(ok);
  });

  it("leaves the schema's own keys and parse unchanged", () => {
    const once = jsonSchemaOnce(build());
    expect(Object.keys(once)).toEqual(Object.keys(build()));
    expect(once.parse({ url: "https://api.test/x" })).toEqual({ url: "https://api.test/x", method: "GET" });
  });

  it("deepFreeze freezes nested arrays and objects", () => {
    const value = deepFreeze({ a: [{ b: 1 }], c: { d: "x" } });
    expect(Object.isFrozen(value.a[0])).toBe(true);
    expect(Object.isFrozen(value.c)).toBe(true);
  });
});
