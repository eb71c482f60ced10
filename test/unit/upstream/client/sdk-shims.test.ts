/**
 * The MCP client's Workers shims swapped for ./sdk-shims.ts (wrangler.toml [alias], and the same
 * alias in the tests): the client gets the server package's copy of the JSON Schema validator,
 * and the swap exports what the client's own shim exports, with the same behaviour.
 */
import { Client } from "@modelcontextprotocol/client";
import * as swapped from "@modelcontextprotocol/client/_shims";
import { CfWorkerJsonSchemaValidator as ClientCopy } from "@modelcontextprotocol/client/validators/cf-worker";
import { CfWorkerJsonSchemaValidator as ServerCopy } from "@modelcontextprotocol/server/validators/cf-worker";
import { describe, expect, it } from "vitest";
import * as own from "../../../../node_modules/@modelcontextprotocol/client/dist/shimsWorkerd.mjs";

/** Schemas and values on which the two copies must agree, each a pass and a fail. */
const CASES: [string, Record<string, unknown>, unknown][] = [
  [
    "object with a required string",
    { type: "object", properties: { a: { type: "string" } }, required: ["a"] },
    { a: "x" },
  ],
  ["object with a required string", { type: "object", properties: { a: { type: "string" } }, required: ["a"] }, {}],
  ["no additional properties", { type: "object", additionalProperties: false }, { extra: 1 }],
  ["integer bounds", { type: "integer", minimum: 1, maximum: 3 }, 2],
  ["integer bounds", { type: "integer", minimum: 1, maximum: 3 }, 4],
  ["uri format", { type: "string", format: "uri" }, "https://example.com/a"],
  ["uri format", { type: "string", format: "uri" }, "not a uri"],
  ["email format", { type: "string", format: "email" }, "a@example.com"],
  ["email format", { type: "string", format: "email" }, "a@"],
  ["enum", { enum: ["read", "write"] }, "admin"],
  ["$ref to $defs", { $defs: { n: { type: "number" } }, type: "array", items: { $ref: "#/$defs/n" } }, [1, "2"]],
];

describe("MCP client shims (src/upstream/client/sdk-shims.ts)", () => {
  it("exports exactly the names of the client's own Workers shim", () => {
    expect(Object.keys(swapped).sort()).toEqual(Object.keys(own).sort());
    expect(swapped.CORS_IS_POSSIBLE).toBe(own.CORS_IS_POSSIBLE);
  });

  it("gives the client the server package's validator, not its own copy", () => {
    expect(swapped.DefaultJsonSchemaValidator).toBe(ServerCopy);
    expect(own.DefaultJsonSchemaValidator).toBe(ClientCopy);
    const client = new Client({ name: "probe", version: "1" });
    const validator = (client as unknown as { _jsonSchemaValidator: unknown })._jsonSchemaValidator;
    expect(validator).toBeInstanceOf(ServerCopy);
    expect(validator).not.toBeInstanceOf(ClientCopy);
  });

  it.each(CASES)("agrees with the client's copy on %s", (_name, schema, value) => {
    const verdict = (Validator: typeof ServerCopy | typeof ClientCopy) => new Validator().getValidator(schema)(value);
    expect(verdict(ServerCopy)).toEqual(verdict(ClientCopy));
  });

  it("passes and fails the cases it should (so the comparison above is not vacuous)", () => {
    const valid = CASES.map(([, schema, value]) => new ServerCopy().getValidator(schema)(value).valid);
    expect(valid).toEqual([true, false, false, true, false, true, false, true, false, false, false]);
  });
});
