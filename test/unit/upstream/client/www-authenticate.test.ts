/** parseWwwAuthenticate: Bearer challenge parameters, quoted strings, escapes, and junk. */
import { describe, expect, it } from "vitest";
import { parseWwwAuthenticate } from "../../../../src/upstream/client/www-authenticate";

const RM = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

describe("parseWwwAuthenticate", () => {
  it.each([
    [null, { bearer: false }],
    ["", { bearer: false }],
    [`Bearer resource_metadata="${RM}"`, { bearer: true, resourceMetadata: RM }],
    [
      `Bearer realm="mcp", error="invalid_token", error_description="The access token expired", resource_metadata="${RM}", scope="files:read files:write"`,
      { bearer: true, resourceMetadata: RM, scope: "files:read files:write", error: "invalid_token" },
    ],
    [`bearer resource_metadata=${RM}`, { bearer: true, resourceMetadata: RM }],
    [`BEARER Resource_Metadata="${RM}"`, { bearer: true, resourceMetadata: RM }],
    [`Bearer resource_metadata = "${RM}" , scope = "a"`, { bearer: true, resourceMetadata: RM, scope: "a" }],
    [`Bearer\tscope="a"`, { bearer: true, scope: "a" }],
    ['Bearer scope="a",,, error="insufficient_scope"', { bearer: true, scope: "a", error: "insufficient_scope" }],
    ["Bearer", { bearer: true }],
    ["Bearer, Basic", { bearer: true }],
    ["Bearer abc123==", { bearer: true }],
    ['Bearer resource_metadata=""', { bearer: true }],
    ['Basic realm="x", Bearer scope="a b"', { bearer: true, scope: "a b" }],
    ['Basic dXNlcjpwYXNz==, Bearer error="invalid_token"', { bearer: true, error: "invalid_token" }],
    [
      'DPoP algs="ES256", Bearer error="insufficient_scope", scope="files:read"',
      { bearer: true, error: "insufficient_scope", scope: "files:read" },
    ],
    ['Basic realm="x"', { bearer: false }],
    ["Basic dXNlcjpwYXNz==", { bearer: false }],
    ['Negotiate, Digest realm="r", nonce="n"', { bearer: false }],
    // A parameter name inside another parameter's quoted value is not a parameter.
    [`Basic realm="x resource_metadata=https://evil.example/"`, { bearer: false }],
    ['Bearer realm="a, resource_metadata=\\"https://evil.example/\\"", scope="s"', { bearer: true, scope: "s" }],
    ['Bearer scope="a \\"b\\" c\\\\"', { bearer: true, scope: 'a "b" c\\' }],
    // First occurrence wins; the first Bearer challenge ends at the next scheme.
    [
      `Bearer resource_metadata="${RM}", resource_metadata="https://evil.example/x"`,
      { bearer: true, resourceMetadata: RM },
    ],
    ['Bearer error="invalid_token", Basic realm="x", error="not-ours"', { bearer: true, error: "invalid_token" }],
    ['Bearer scope="first", Bearer scope="second"', { bearer: true, scope: "first" }],
    ['Bearer realm="a", DPoP resource_metadata="https://evil.example/"', { bearer: true }],
    ['Bearer error="invalid_token", Basic scope="not-ours"', { bearer: true, error: "invalid_token" }],
    // Junk.
    [`Bearer resource_metadata="${RM}`, { bearer: true }],
    ['=,,=="Bearer"', { bearer: false }],
    ['resource_metadata="https://evil.example/" Bearer', { bearer: true }],
    ["\u0000\u0001Bearer scope=a", { bearer: true, scope: "a" }],
    ["()<>@ Bearer scope=b", { bearer: true, scope: "b" }],
    [`Bearer scope="${"a".repeat(9000)}"`, { bearer: false }],
  ])("parses %j", (header, expected) => {
    expect(parseWwwAuthenticate(header)).toEqual(expected);
  });

  it("never throws on random printable junk", () => {
    const alphabet = 'Bearer ="\\,\t;resource_metadata scope error';
    for (let round = 0; round < 500; round++) {
      let header = "";
      for (let i = 0; i < 40; i++) header += alphabet[Math.floor(Math.random() * alphabet.length)];
      const parsed = parseWwwAuthenticate(header);
      expect(typeof parsed.bearer).toBe("boolean");
    }
  });
});
