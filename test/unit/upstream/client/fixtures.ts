/**
 * Shared fakes for the upstream client tests: hostile URLs with the code each must produce,
 * traps that record any request reaching a hostile host, a well-formed authorization server,
 * and JSON responses.
 */
import { vi } from "vitest";
import type { AuthorizationServer } from "../../../../src/upstream/client/discovery";
import type { EndpointErrorCode } from "../../../../src/upstream/client/endpoint";
import { routeFetch, seen, seenAt } from "../../../helpers/fetch-router";

export const SERVER_URL = "https://mcp.example.com/mcp";
export const SERVER_ORIGIN = "https://mcp.example.com";
export const ISSUER = "https://auth.example.com";
export const EVIL_ORIGIN = "https://evil.example";

/** Every URL an upstream must not get past the gate, with the code it earns (loopback not allowed). */
export const HOSTILE_ENDPOINTS: [string, EndpointErrorCode][] = [
  ["javascript:alert(1)", "scheme_not_allowed"],
  ["file:///etc/passwd", "scheme_not_allowed"],
  ["data:text/html,<script>alert(1)</script>", "unsafe_characters"],
  ["data:text/plain,hello", "scheme_not_allowed"],
  ["ftp://files.example.com/x", "scheme_not_allowed"],
  ["ws://mcp.example.com/x", "scheme_not_allowed"],
  ["blob:https://evil.example/uuid", "scheme_not_allowed"],
  ["http://mcp.example.com/token", "scheme_not_allowed"],
  ["http://127.0.0.1/token", "scheme_not_allowed"],
  ["http://localhost:8787/token", "scheme_not_allowed"],
  ["https://127.0.0.1/token", "address_not_allowed"],
  ["https://localhost/token", "address_not_allowed"],
  ["https://0.0.0.0/token", "address_not_allowed"],
  ["https://2130706433/token", "address_not_allowed"],
  ["https://0x7f.1/token", "address_not_allowed"],
  ["https://%31%32%37.0.0.1/token", "address_not_allowed"],
  ["https://169.254.169.254/latest/meta-data/", "address_not_allowed"],
  ["https://[::1]/token", "address_not_allowed"],
  ["https://[::ffff:127.0.0.1]/token", "address_not_allowed"],
  ["https://[fd00:ec2::254]/token", "address_not_allowed"],
  ["https://10.0.0.1/token", "address_not_allowed"],
  ["https://192.168.1.1/token", "address_not_allowed"],
  ["https://metadata.google.internal/computeMetadata/v1/", "address_not_allowed"],
  ["https://intranet/token", "address_not_allowed"],
  ["https://a.example/$(touch /tmp/x)", "unsafe_characters"],
  ["https://a.example/$(id)", "unsafe_characters"],
  ["https://a.example/;rm -rf", "unsafe_characters"],
  ["https://a.example/x;id", "unsafe_characters"],
  ["https://a.example/`id`", "unsafe_characters"],
  ["https://a.example/$\u007bIFS}", "unsafe_characters"],
  ["https://a.example/a|sh", "unsafe_characters"],
  ["https://a.example/a&&id", "unsafe_characters"],
  ["https://a.example/\nX-Injected: 1", "unsafe_characters"],
  ["https://a.example/\r\nSet-Cookie: a=b", "unsafe_characters"],
  ["https://a.example/\tx", "unsafe_characters"],
  ["https://a.example/\u0000", "unsafe_characters"],
  ["https://a.example/\u001b[31m", "unsafe_characters"],
  ["https://a.example/ x", "unsafe_characters"],
  [" https://a.example/", "unsafe_characters"],
  ['https://a.example/"onmouseover="alert(1)', "unsafe_characters"],
  ["https://a.example/'x'", "unsafe_characters"],
  ["https://a.example/<script>", "unsafe_characters"],
  ["https://a.example\\@evil.example/", "unsafe_characters"],
  ["https://a.example/\u202etxt.exe", "unsafe_characters"],
  ["https://a.example/\u200bx", "unsafe_characters"],
  ["https://user:pass@a.example/token", "userinfo_present"],
  ["https://a.example@evil.example/token", "userinfo_present"],
  ["https://@a.example/token", "userinfo_present"],
  ["https://a.example/token#frag", "fragment_present"],
  ["https://a.example/token#", "fragment_present"],
  ["https://", "invalid_url"],
  ["not-a-url", "invalid_url"],
  ["", "invalid_url"],
  [`https://a.example/${"a".repeat(2049)}`, "invalid_url"],
];

/** The origin a hostile URL would reach if it were fetched ("null" for opaque schemes). */
export function originOf(raw: string): string {
  try {
    return new URL(raw).origin;
  } catch {
    return "null";
  }
}

const HOSTILE_ORIGINS = new Set([...HOSTILE_ENDPOINTS.map(([raw]) => originOf(raw)), EVIL_ORIGIN]);

/** Route every hostile origin (and EVIL_ORIGIN) to a recorder that answers 200. */
export function trapHostile(): void {
  for (const origin of HOSTILE_ORIGINS) routeFetch(origin, () => json({ trapped: true }));
}

/** Recorded requests that reached a hostile origin. */
export const trappedRequests = () => seen.filter((request) => HOSTILE_ORIGINS.has(originOf(request.url)));

/** Every URL the fetch spy was called with (routed or not), in order. */
export function fetchedUrls(): string[] {
  if (!vi.isMockFunction(globalThis.fetch)) return [];
  return vi
    .mocked(globalThis.fetch)
    .mock.calls.map(([input]) => (input instanceof Request ? input.url : String(input)));
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

export const redirectTo = (status = 302, location = `${EVIL_ORIGIN}/steal`) =>
  new Response(null, { status, headers: { location } });

/** A valid RFC 8414 document for ISSUER. */
export function asDocument(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    issuer: ISSUER,
    authorization_endpoint: `${ISSUER}/authorize`,
    token_endpoint: `${ISSUER}/token`,
    registration_endpoint: `${ISSUER}/register`,
    revocation_endpoint: `${ISSUER}/revoke`,
    response_types_supported: ["code"],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: ["none", "client_secret_basic"],
    ...overrides,
  };
}

/** The vetted form discovery returns for `asDocument()`. */
export const AUTHORIZATION_SERVER: AuthorizationServer = {
  issuer: ISSUER,
  authorizationEndpoint: `${ISSUER}/authorize`,
  tokenEndpoint: `${ISSUER}/token`,
  registrationEndpoint: `${ISSUER}/register`,
  revocationEndpoint: `${ISSUER}/revoke`,
  codeChallengeMethodsSupported: ["S256"],
  tokenEndpointAuthMethodsSupported: ["none", "client_secret_basic"],
  clientIdMetadataDocumentSupported: false,
  authorizationResponseIssParameterSupported: false,
  metadataUrl: `${ISSUER}/.well-known/oauth-authorization-server`,
};

/** A promise that never settles: a server that never answers. */
export const never = () => new Promise<Response>(() => {});

/** Answer the given paths of an origin with documents; everything else 404. */
export function serve(origin: string, documents: Record<string, () => Response>) {
  routeFetch(origin, (request) => {
    const url = new URL(request.url);
    const answer = documents[url.pathname + url.search];
    return answer ? answer() : new Response("not found", { status: 404 });
  });
}
export const paths = (origin: string) => seenAt(origin).map((request) => new URL(request.url).pathname);

/** A decompression bomb's decoded size: 10 MiB, about 10 KB gzipped. */
export const BOMB_BYTES = 10 * 1024 * 1024;

/** `prefix`, `padding` bytes of "0", then `suffix`, gzipped (streamed: the padding is never held whole). */
export async function gzipped(prefix: string, padding: number, suffix: string): Promise<Uint8Array> {
  const encoder = new TextEncoder();
  const zeros = new Uint8Array(64 * 1024).fill(0x30);
  let left = padding;
  let started = false;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (!started) {
        started = true;
        controller.enqueue(encoder.encode(prefix));
      } else if (left > 0) {
        const size = Math.min(left, zeros.byteLength);
        controller.enqueue(zeros.slice(0, size));
        left -= size;
      } else {
        controller.enqueue(encoder.encode(suffix));
        controller.close();
      }
    },
  });
  return new Uint8Array(await new Response(source.pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
}

/**
 * A gzip answer as a runtime that decompresses hands it on: the wire bytes piped through a
 * DecompressionStream, `Content-Encoding: gzip` and the compressed length still declared.
 * `decoded()` counts the decompressed bytes produced so far (what a reader pulled).
 */
export function inflating(wire: Uint8Array, contentType = "application/json") {
  let decoded = 0;
  const body = new Blob([wire])
    .stream()
    .pipeThrough(new DecompressionStream("gzip"))
    .pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          decoded += chunk.byteLength;
          controller.enqueue(chunk);
        },
      }),
    );
  const response = new Response(body, {
    headers: { "content-type": contentType, "content-encoding": "gzip", "content-length": String(wire.byteLength) },
  });
  return { response, decoded: () => decoded };
}
