/**
 * A loopback dev provider (the demo) on another port: after `npm run dev -- --port 9000`, the
 * demo's old `http://localhost:8787/demo-api/...` URLs are refused with `wrong_port` naming the
 * origin that works, not the misleading `address_not_allowed`; other loopback URLs still get
 * `address_not_allowed`. Nothing is prepared (no call, no fingerprint) in either case.
 */
import { describe, expect, it } from "vitest";
import { prepareCall } from "../../../src/calls/prepare";
import { demoProvider } from "../../../src/demo/demo-provider";
import { createRegistry } from "../../../src/providers/registry";

const registry = createRegistry([demoProvider({ publicHost: "localhost", publicOrigin: "http://localhost:9000" })]);
const get = (url: string) => prepareCall({ method: "GET", url }, registry);

describe("the demo provider after the port moved", () => {
  it("prepares a call on PUBLIC_URL's port", async () => {
    const prepared = await get("http://localhost:9000/demo-api/notes");
    expect(prepared.ok).toBe(true);
    if (prepared.ok) expect(prepared.value.provider.id).toBe("demo");
  });

  it.each([["http://localhost:8787/demo-api/notes"], ["http://127.0.0.1:8787/demo-api/notes/1"]])(
    "refuses %s with wrong_port and the origin to use",
    async (url) => {
      expect(await get(url)).toEqual({ ok: false, error: { code: "wrong_port", expected: "http://localhost:9000" } });
    },
  );

  it("still refuses another loopback path as address_not_allowed", async () => {
    expect(await get("http://localhost:8787/admin")).toEqual({
      ok: false,
      error: { code: "address_not_allowed", host: "localhost" },
    });
  });

  it("gives a registry without all() the plain address_not_allowed", async () => {
    const prepared = await prepareCall(
      { method: "GET", url: "http://localhost:8787/demo-api/notes" },
      { forUrl: (url) => registry.forUrl(url) },
    );
    expect(prepared).toEqual({ ok: false, error: { code: "address_not_allowed", host: "localhost" } });
  });
});
