/**
 * Making agent-supplied text safe to show a person. JSX already escapes HTML; this handles what
 * escaping cannot: hidden or direction-changing characters that disguise text (lib/visible-text),
 * sheer length, and hosts that only look like a familiar name. What is shown is what is sent:
 * a body is the exact text (never parsed and re-serialised, which would collapse duplicate keys
 * and change 2^53+ or 1e400 numbers), a path the encoded form with its decoding beside it.
 * Pure.
 */
import { decodedPath } from "../grants/paths";
import { revealHidden } from "../lib/visible-text";

/** Replace hidden and direction-changing characters with a visible `[U+XXXX]`. */
export const revealInvisible = (text: string): string => revealHidden(text);

/** At most `max` characters, with a marker saying how much was cut. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}\n… (${text.length - max} more characters not shown)`;
}

/** Text as a person should see it: invisibles revealed, then clipped. */
export const showText = (text: string, max: number) => clip(revealInvisible(text), max);

/** How an upstream MCP server is named to a person: its title and the host it is reached at. */
export const serverLabel = (server: { title: string; url: string }) =>
  `${server.title} (MCP server at ${new URL(server.url).host})`;

/**
 * The largest body (or tool arguments) a one-call approval can carry is 64 KiB; this is more, so
 * a person always sees the whole body they approve.
 */
export const MAX_SHOWN_BODY = 70_000;

/** The body exactly as it will be sent, hidden characters revealed; clipped only past `max`. */
export function showBody(body: string, max = MAX_SHOWN_BODY): string {
  return showText(body, max);
}

/** Hosts longer than this are introduced by their registrable domain before the full name. */
export const HOST_LINE_MAX = 32;

export interface ShownUrl {
  host: string;
  /** The registrable domain (`snowflakecomputing.com`), for a host too long to read at a glance. */
  domain: string;
  /** Whether the host is longer than one line and so needs `domain` first. */
  long: boolean;
  /** True when the host is internationalised (punycode): it may imitate another name. */
  idn: boolean;
  /** The path as sent (percent-encoded). */
  path: string;
  /** The path decoded, when that differs from the path as sent. */
  decoded: string | null;
  query: [string, string][];
}

/**
 * The registrable domain of a host: its last two labels, or three under a two-letter country
 * code with a short second level (`example.co.uk`). A heuristic without the public suffix list,
 * used only to put the part a person recognises first; the full host is always shown too.
 */
export function registrableDomain(host: string): string {
  if (/^[0-9.]+$/.test(host) || host.startsWith("[")) return host;
  const labels = host.split(".");
  const tld = labels.at(-1) ?? "";
  const second = labels.at(-2) ?? "";
  const keep = tld.length === 2 && second.length <= 3 && labels.length > 2 ? 3 : 2;
  return labels.slice(-keep).join(".");
}

/** The parts of an https URL, host in its ASCII (punycode) form. */
export function showUrl(raw: string): ShownUrl {
  const url = new URL(raw);
  const decoded = decodedPath(url.pathname);
  return {
    host: url.hostname,
    domain: registrableDomain(url.hostname),
    long: url.hostname.length > HOST_LINE_MAX,
    idn: url.hostname.split(".").some((label) => label.startsWith("xn--")),
    path: revealInvisible(url.pathname),
    decoded: decoded === url.pathname ? null : revealInvisible(decoded),
    query: [...url.searchParams].map(([key, value]) => [showText(key, 200), showText(value, 2000)]),
  };
}

/** "4 min 10 s" style remaining time. */
export function showDuration(seconds: number): string {
  if (seconds >= 3600 && seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds >= 60) {
    const minutes = Math.floor(seconds / 60);
    const rest = seconds % 60;
    return rest ? `${minutes} min ${rest} s` : `${minutes} min`;
  }
  return `${seconds} s`;
}
