/**
 * Sealed cookies: AES-GCM encrypted with a key derived from COOKIE_SECRET for the cookie's own
 * purpose, with the cookie name as associated data. Always `__Host-` prefixed, Secure, HttpOnly,
 * SameSite=Lax, Path=/: readable only by this origin's server, never by scripts or subdomains.
 */
import { deriveKey, open, seal } from "./crypto";

export interface SealedCookieOptions {
  name: `__Host-${string}`;
  secret: string;
  maxAgeSeconds: number;
}

/** Read one cookie's raw value from a request. */
export function readCookie(request: Request, name: string): string | undefined {
  const header = request.headers.get("Cookie");
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const index = part.indexOf("=");
    if (index < 0) continue;
    if (part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}

/** A Set-Cookie value that deletes `name`. */
export function clearCookie(name: string): string {
  return `${name}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax`;
}

/** Seal `value` (which must carry its own `exp`) into a Set-Cookie header value. */
export async function sealCookie(options: SealedCookieOptions, value: { exp: number }): Promise<string> {
  const key = await deriveKey(options.secret, `cookie:${options.name}`);
  const sealed = await seal(key, value, options.name);
  return `${options.name}=${sealed}; Max-Age=${options.maxAgeSeconds}; Path=/; Secure; HttpOnly; SameSite=Lax`;
}

/** Open a sealed cookie; null when absent, tampered or past its `exp` (seconds) at `now` (ms). */
export async function openCookie(
  request: Request,
  options: Pick<SealedCookieOptions, "name" | "secret">,
  now: number,
): Promise<Record<string, unknown> | null> {
  const raw = readCookie(request, options.name);
  if (!raw) return null;
  const key = await deriveKey(options.secret, `cookie:${options.name}`);
  const value = await open(key, raw, options.name);
  if (!value || typeof value !== "object") return null;
  const record = value as Record<string, unknown>;
  if (typeof record.exp !== "number" || record.exp * 1000 <= now) return null;
  return record;
}
