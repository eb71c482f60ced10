/**
 * Turning what the agent asked for into one call we could make: the URL parsed once with WHATWG
 * URL (that parsed form is what is matched, fingerprinted and later fetched), the provider that
 * owns exactly that host and path, the SSRF wall (loopback, private and metadata addresses are
 * refused unless this is an explicitly enabled loopback dev provider), headers the agent may not
 * set, and the read/write classification. Pure apart from hashing; no fetch happens here.
 */
import { canonicalizeCall, fingerprintCall, foldHeaderName } from "../grants/canonical";
import type { CanonicalCall, ClassifiedCall } from "../grants/types";
import type { Coded, ErrorCode } from "../lib/errors";
import { err, ok, type Result } from "../lib/result";
import { providerRequestOf } from "../providers/classify";
import { classifyHost } from "../providers/ssrf";
import type { ProviderDefinition } from "../providers/types";

export interface CallInput {
  url: string;
  method: string;
  headers?: Record<string, string> | undefined;
  body?: string | undefined;
}

export interface ProviderLookup {
  forUrl(url: URL): ProviderDefinition | undefined;
  /** Every provider; only used to name a loopback dev provider's wrong port. */
  all?(): readonly ProviderDefinition[];
}

/** The loopback dev provider whose path this loopback URL names on another origin (the demo's old port). */
const devProviderElsewhere = (url: URL, registry: ProviderLookup) =>
  registry
    .all?.()
    .find(
      (provider) =>
        provider.allowLoopback &&
        provider.origin !== undefined &&
        provider.pathPrefixes.some((prefix) => url.pathname.startsWith(prefix)),
    );

/** A `prepare` code; an `invalid_request` says which `call` rule refused it. */
export type PrepareError =
  | Coded<"prepare", "invalid_request", { reason: ErrorCode<"call">; header?: string }>
  | Coded<"prepare", "address_not_allowed", { host: string }>
  | Coded<"prepare", "wrong_port", { expected: string }>
  | Coded<"prepare", "unknown_provider", { host: string }>
  | Coded<"prepare", "path_not_allowed", { message: string }>;

export interface PreparedCall {
  provider: ProviderDefinition;
  canonical: CanonicalCall;
  classified: ClassifiedCall;
  /** What the classifier recognised, for the audit log and the assistant. */
  operation: string;
}

export type CallUrlError = Extract<PrepareError, { code: "invalid_request" } | { code: "address_not_allowed" }>;

/**
 * A call's URL as it is matched and later fetched: WHATWG-parsed, http(s), never a private or
 * metadata host. Loopback passes here: only `prepareCall`, which knows the provider, can say
 * whether a dev provider allows it. `sendCall` runs this again just before its fetch.
 */
export function parseCallUrl(raw: string): Result<URL, CallUrlError> {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return err({ code: "invalid_request", reason: "url_invalid" });
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    return err({ code: "invalid_request", reason: "scheme_not_https" });
  const hostClass = classifyHost(url.hostname);
  if (hostClass === "private" || hostClass === "metadata")
    return err({ code: "address_not_allowed", host: url.hostname });
  return ok(url);
}

/**
 * The first of a call's headers that would stand in for `provider`'s credential headers, however
 * spelled (`X_Api_Key` is `x-api-key` to a lenient server), or undefined. Checked here for the
 * assistant's answer and again by the person's object, which sends the call.
 */
export function credentialHeaderOf(
  provider: ProviderDefinition,
  headers: CanonicalCall["headers"],
): string | undefined {
  const credentialHeaders = new Set(provider.reservedHeaders.map(foldHeaderName));
  return headers.find((header) => credentialHeaders.has(foldHeaderName(header.name)))?.name;
}

/** Prepare one call, or say precisely why it cannot be made. */
export async function prepareCall(
  input: CallInput,
  registry: ProviderLookup,
): Promise<Result<PreparedCall, PrepareError>> {
  const parsedUrl = parseCallUrl(input.url);
  if (!parsedUrl.ok) return parsedUrl;
  const url = parsedUrl.value;
  const provider = registry.forUrl(url);
  const devOrigin = provider?.allowLoopback && provider.origin === url.origin ? provider.origin : undefined;
  if (classifyHost(url.hostname) === "loopback" && !devOrigin) {
    // A loopback dev provider's own host on another port or scheme (the demo's 8787 URLs after
    // the port moved): still refused, but named for what it is, with the origin that works.
    const elsewhere = devProviderElsewhere(url, registry);
    if (elsewhere?.origin) return err({ code: "wrong_port", expected: elsewhere.origin });
    return err({ code: "address_not_allowed", host: url.hostname });
  }
  const canonical = canonicalizeCall(
    { method: input.method, url: input.url, body: input.body, headers: input.headers },
    devOrigin ? { devOrigin } : {},
  );
  if (!canonical.ok) return err({ code: "invalid_request", reason: canonical.error.code });
  if (!provider) return err({ code: "unknown_provider", host: url.hostname });
  const reserved = credentialHeaderOf(provider, canonical.value.headers);
  if (reserved) return err({ code: "invalid_request", reason: "header_forbidden", header: reserved });
  const classification = provider.classify(providerRequestOf(canonical.value));
  if (!classification.ok) return err({ code: "path_not_allowed", message: classification.message });
  const fingerprint = await fingerprintCall(canonical.value);
  return ok({
    provider,
    canonical: canonical.value,
    operation: classification.operation,
    classified: { provider: provider.id, access: classification.access, call: canonical.value, fingerprint },
  });
}
