/**
 * prepareCall's header rules: a provider's own credential header is the provider's alone however
 * the agent spells it (case, `_` for `-`, as CGI/WSGI servers and some proxies read names), and
 * two spellings of one header are refused as ambiguous. Each refusal carries its stable reason.
 */
import { describe, expect, it } from "vitest";
import { prepareCall } from "../../../src/calls/prepare";
import { parseCustomProviders } from "../../../src/providers/custom";
import { createRegistry } from "../../../src/providers/registry";

const ACME = "https://api.acme.example";
const custom = parseCustomProviders(
  JSON.stringify([{ id: "acme", name: "Acme", base_url: `${ACME}/api`, api_key_header: "X-Acme-Token" }]),
  { allowLoopback: false },
);
if (!custom.ok) throw new Error(custom.error.message);
const registry = createRegistry(custom.value);

const get = (headers: Record<string, string>) =>
  prepareCall({ method: "GET", url: `${ACME}/api/items`, headers }, registry);

describe("a provider's credential header", () => {
  it.each([["X-Acme-Token"], ["x-acme-token"], ["X-ACME-TOKEN"], ["x_acme_token"], ["X_Acme_Token"], ["x-acme_token"]])(
    "refuses %s from the agent with header_forbidden",
    async (name) => {
      const prepared = await get({ [name]: "attacker" });
      expect(prepared).toEqual({
        ok: false,
        error: { code: "invalid_request", reason: "header_forbidden", header: name.toLowerCase() },
      });
    },
  );

  it("lets another header through, as sent", async () => {
    const prepared = await get({ "X-Request-Id": "r1" });
    expect(prepared.ok).toBe(true);
    if (prepared.ok) expect(prepared.value.canonical.headers).toEqual([{ name: "x-request-id", value: "r1" }]);
  });
});

describe("two spellings of one header", () => {
  it.each([
    [{ "X-Trace": "a", "x-trace": "b" }],
    [{ "x-trace": "a", x_trace: "b" }],
    [{ X_TRACE: "a", "x-Trace": "b" }],
  ])("refuses %o with header_invalid", async (headers) => {
    expect(await get(headers)).toEqual({ ok: false, error: { code: "invalid_request", reason: "header_invalid" } });
  });
});
