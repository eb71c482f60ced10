/**
 * Making agent-supplied text safe to show a person. JSX already escapes HTML; this handles what
 * escaping cannot: invisible or direction-changing characters that disguise text, sheer length,
 * and hosts that only look like a familiar name. Pure.
 */

/** Bidi controls and zero-width characters, shown as visible markers instead of acting. */
const INVISIBLE = /[\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;

/** Replace invisible and direction-changing characters with a visible `[U+XXXX]`. */
export function revealInvisible(text: string): string {
  return text.replace(INVISIBLE, (char) => `[U+${char.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}]`);
}

/** At most `max` characters, with a marker saying how much was cut. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}\n… (${text.length - max} more characters not shown)`;
}

/** Text as a person should see it: invisibles revealed, then clipped. */
export const showText = (text: string, max: number) => clip(revealInvisible(text), max);

/**
 * The largest body (or tool arguments) a one-call approval can carry is 64 KiB; this is more, so
 * a person always sees the whole body they approve.
 */
export const MAX_SHOWN_BODY = 70_000;

/**
 * Pretty-printed JSON when the body is JSON and its pretty form fits, else the text as sent;
 * clipped only past `max` (which an approvable body never reaches).
 */
export function showBody(body: string, max = MAX_SHOWN_BODY): string {
  try {
    const pretty = JSON.stringify(JSON.parse(body), null, 2);
    if (pretty.length <= max) return revealInvisible(pretty);
  } catch {
    // Not JSON: shown as sent.
  }
  return showText(body, max);
}

export interface ShownUrl {
  host: string;
  /** True when the host is internationalised (punycode): it may imitate another name. */
  idn: boolean;
  path: string;
  query: [string, string][];
}

/** The parts of an https URL, host in its ASCII (punycode) form. */
export function showUrl(raw: string): ShownUrl {
  const url = new URL(raw);
  return {
    host: url.hostname,
    idn: url.hostname.split(".").some((label) => label.startsWith("xn--")),
    path: revealInvisible(decodeSafely(url.pathname)),
    query: [...url.searchParams].map(([key, value]) => [showText(key, 200), showText(value, 2000)]),
  };
}

function decodeSafely(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
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
