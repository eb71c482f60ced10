/**
 * A fake OpenID Connect provider at https://idp.test, answered at the fetch boundary inside
 * workerd. It serves discovery and a token endpoint that returns RS256-signed ID tokens for codes
 * the test issued, and records every request it saw so tests can assert what was (not) sent.
 */
import { routeFetch } from "./fetch-router";

export const IDP_ISSUER = "https://idp.test";
const encoder = new TextEncoder();
const b64url = (bytes: Uint8Array | string) =>
  btoa(typeof bytes === "string" ? bytes : String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");

export interface IdTokenClaims {
  sub: string;
  email?: string;
  nonce: string;
  iss?: string;
  aud?: string;
}

export interface SeenRequest {
  url: string;
  method: string;
  body: string;
}

export class FakeIdp {
  readonly seen: SeenRequest[] = [];
  readonly #codes = new Map<string, IdTokenClaims>();
  #keys!: CryptoKeyPair;
  /** Extra fields merged into the discovery document (to test hostile metadata). */
  discoveryOverrides: Record<string, unknown> = {};

  static async create(): Promise<FakeIdp> {
    const idp = new FakeIdp();
    idp.#keys = (await crypto.subtle.generateKey(
      { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
      true,
      ["sign", "verify"],
    )) as CryptoKeyPair;
    return idp;
  }

  /** Route fetches for idp.test here (see fetch-router.ts). */
  install(): void {
    routeFetch(IDP_ISSUER, (request, body) => this.#handle(request, body));
  }

  /** A one-time authorization code that redeems to an ID token with these claims. */
  issueCode(claims: IdTokenClaims): string {
    const code = `idp-code-${crypto.randomUUID()}`;
    this.#codes.set(code, claims);
    return code;
  }

  async #handle(request: Request, body: string): Promise<Response> {
    this.seen.push({ url: request.url, method: request.method, body });
    const path = new URL(request.url).pathname;
    if (path === "/.well-known/openid-configuration") {
      return Response.json({
        issuer: IDP_ISSUER,
        authorization_endpoint: `${IDP_ISSUER}/authorize`,
        token_endpoint: `${IDP_ISSUER}/token`,
        jwks_uri: `${IDP_ISSUER}/jwks`,
        response_types_supported: ["code"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256"],
        code_challenge_methods_supported: ["S256"],
        authorization_response_iss_parameter_supported: true,
        ...this.discoveryOverrides,
      });
    }
    if (path === "/token" && request.method === "POST") {
      const form = new URLSearchParams(body);
      const claims = this.#codes.get(form.get("code") ?? "");
      this.#codes.delete(form.get("code") ?? "");
      if (!claims || !form.get("code_verifier")) return Response.json({ error: "invalid_grant" }, { status: 400 });
      const now = Math.floor(Date.now() / 1000);
      const idToken = await this.#sign({
        iss: claims.iss ?? IDP_ISSUER,
        aud: claims.aud ?? form.get("client_id"),
        sub: claims.sub,
        nonce: claims.nonce,
        iat: now,
        exp: now + 300,
        ...(claims.email ? { email: claims.email, email_verified: true } : {}),
      });
      return Response.json({
        access_token: "idp-access-token",
        token_type: "Bearer",
        expires_in: 300,
        id_token: idToken,
      });
    }
    return new Response("not found", { status: 404 });
  }

  async #sign(payload: Record<string, unknown>): Promise<string> {
    const input = `${b64url(JSON.stringify({ alg: "RS256", typ: "JWT", kid: "k1" }))}.${b64url(JSON.stringify(payload))}`;
    const signature = await crypto.subtle.sign("RSASSA-PKCS1-v1_5", this.#keys.privateKey, encoder.encode(input));
    return `${input}.${b64url(new Uint8Array(signature))}`;
  }
}
