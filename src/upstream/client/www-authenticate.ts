/**
 * Reads the Bearer challenge of a `WWW-Authenticate` header (RFC 9110 §11.6.1, RFC 6750 §3,
 * RFC 9728 §5.1): `resource_metadata`, `scope` and `error`. Pure; a small scanner rather than a
 * regular expression, so a parameter name inside another parameter's quoted value
 * (`realm="x resource_metadata=evil"`) is never mistaken for a parameter.
 *
 * Invariants: never throws; junk is skipped, not guessed at; values are returned as text only
 * (a `resource_metadata` URL is vetted by `parseEndpoint` when discovery uses it); only the
 * first Bearer challenge counts, and within it the first occurrence of each parameter.
 */

export interface BearerChallenge {
  /** Whether the header holds a Bearer challenge at all. */
  bearer: boolean;
  resourceMetadata?: string;
  scope?: string;
  error?: string;
}

const MAX_HEADER_LENGTH = 8192;
const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const isSpace = (char: string | undefined) => char === " " || char === "\t";

/** Parse the Bearer challenge parameters out of a `WWW-Authenticate` value. */
export function parseWwwAuthenticate(header: string | null): BearerChallenge {
  if (!header || header.length > MAX_HEADER_LENGTH) return { bearer: false };
  let i = 0;
  const skipSpace = () => {
    while (isSpace(header[i])) i++;
  };
  const readToken = () => {
    const start = i;
    while (i < header.length && TCHAR.test(header[i] ?? "")) i++;
    return header.slice(start, i);
  };
  /** A quoted-string with backslash escapes, or a bare value up to space or comma; null if unterminated. */
  const readValue = (): string | null => {
    if (header[i] !== '"') {
      const start = i;
      while (i < header.length && !isSpace(header[i]) && header[i] !== ",") i++;
      return header.slice(start, i);
    }
    let value = "";
    for (i++; i < header.length; i++) {
      const char = header[i];
      if (char === "\\") {
        i++;
        value += header[i] ?? "";
      } else if (char === '"') {
        i++;
        return value;
      } else {
        value += char;
      }
    }
    return null;
  };

  let scheme: string | null = null;
  let params: Map<string, string> | null = null;
  while (i < header.length) {
    skipSpace();
    if (header[i] === ",") {
      i++;
      continue;
    }
    if (header[i] === '"') {
      readValue(); // a stray quoted string: its content is never read as tokens
      continue;
    }
    const name = readToken();
    if (name === "") {
      i++; // a character no rule allows here: skip it
      continue;
    }
    skipSpace();
    if (header[i] === "=" && scheme !== null) {
      i++;
      skipSpace();
      const value = readValue();
      const key = name.toLowerCase();
      if (value !== null && scheme === "bearer" && params && !params.has(key)) params.set(key, value);
      continue;
    }
    if (header[i] === "=") {
      // A parameter before any scheme: skip its value.
      i++;
      skipSpace();
      readValue();
      continue;
    }
    // A token not followed by "=" starts a new challenge.
    if (params) break; // the Bearer challenge is complete
    scheme = name.toLowerCase();
    if (scheme === "bearer") params = new Map();
  }
  if (!params) return { bearer: false };
  const challenge: BearerChallenge = { bearer: true };
  const resourceMetadata = params.get("resource_metadata");
  const scope = params.get("scope");
  const error = params.get("error");
  // An empty value says nothing: treat it as absent.
  if (resourceMetadata) challenge.resourceMetadata = resourceMetadata;
  if (scope) challenge.scope = scope;
  if (error) challenge.error = error;
  return challenge;
}
