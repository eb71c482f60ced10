/** Builds the ProviderRequest a classifier sees, the way the canonicaliser would hand it over. */
import type { ProviderRequest } from "../../../src/providers/types";

export function request(method: string, url: string, body = "", headers: Record<string, string> = {}): ProviderRequest {
  return { method, url: new URL(url), body, headers };
}

/** JSON body helper. */
export const json = (value: unknown): string => JSON.stringify(value);
