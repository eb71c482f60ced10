/**
 * Host classification for outbound URLs: is a hostname a public Internet host, this machine, a
 * private network, or a cloud metadata service? Pure: it looks only at the name, never at DNS,
 * so a public name that resolves to a private address is not caught here (the fetch layer and
 * the exact-host provider allow-list are the other walls). Unparseable input is never "public".
 */

export type HostClass = "public" | "loopback" | "private" | "metadata";

const METADATA_NAMES = new Set(["metadata.google.internal", "metadata.goog", "metadata", "instance-data"]);
/** Suffixes that only resolve inside private networks (RFC 6761, RFC 6762, RFC 8375, cloud DNS). */
const PRIVATE_SUFFIXES = [".internal", ".local", ".lan", ".intranet", ".corp", ".home.arpa", ".localdomain"];

/** Classify a hostname as WHATWG URL serialises it (IPv6 in brackets) or bare. */
export function classifyHost(hostname: string): HostClass {
  const host = normaliseHost(hostname);
  if (host === null) return "private";
  if (host.startsWith("[")) return classifyIpv6(host.slice(1, -1));
  const ipv4 = parseIpv4(host);
  if (ipv4) return classifyIpv4(ipv4);
  if (host === "localhost" || host.endsWith(".localhost")) return "loopback";
  if (METADATA_NAMES.has(host)) return "metadata";
  // A single-label name resolves through search domains: an intranet name, never a public API.
  if (!host.includes(".") || PRIVATE_SUFFIXES.some((suffix) => host.endsWith(suffix))) return "private";
  return "public";
}

/** Whether a hostname is anything but a public Internet host. */
export const isLoopbackOrPrivateHost = (hostname: string): boolean => classifyHost(hostname) !== "public";

/** The WHATWG form (decimal/hex/octal IPv4 → dotted, IPv6 compressed, lower case), no trailing dot. */
function normaliseHost(raw: string): string | null {
  let input = raw.trim();
  if (input.includes(":") && !input.startsWith("[")) input = `[${input}]`;
  let host: string;
  try {
    const url = new URL(`http://${input}/`);
    if (url.username || url.password || url.port || url.pathname !== "/" || url.search || url.hash) return null;
    host = url.hostname;
  } catch {
    return null;
  }
  if (host.endsWith(".")) host = host.slice(0, -1);
  return host === "" ? null : host;
}

function parseIpv4(host: string): number[] | null {
  const parts = host.split(".");
  if (parts.length !== 4 || !parts.every((part) => /^\d{1,3}$/.test(part))) return null;
  const octets = parts.map(Number);
  return octets.every((octet) => octet <= 255) ? octets : null;
}

function classifyIpv4([a = 0, b = 0, c = 0, d = 0]: number[]): HostClass {
  if ((a === 169 && b === 254 && c === 169 && d === 254) || (a === 100 && b === 100 && c === 100 && d === 200)) {
    return "metadata"; // AWS/GCP/Azure, Alibaba
  }
  if (a === 127 || a === 0) return "loopback"; // 0.0.0.0 reaches this machine on most stacks
  if (
    a === 10 ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 169 && b === 254) ||
    (a === 100 && b >= 64 && b <= 127) || // carrier-grade NAT (RFC 6598)
    (a === 192 && b === 0 && c === 0) || // IETF protocol assignments
    (a === 198 && (b === 18 || b === 19)) || // benchmarking (RFC 2544)
    a >= 224 // multicast, reserved, broadcast
  ) {
    return "private";
  }
  return "public";
}

/** Eight 16-bit groups of a WHATWG-serialised IPv6 address (no embedded dotted IPv4 remains). */
function parseIpv6(address: string): number[] | null {
  const halves = address.split("::");
  if (halves.length > 2) return null;
  const groups = (part: string | undefined) => (part ? part.split(":").map((group) => Number.parseInt(group, 16)) : []);
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  return all.length === 8 && all.every((group) => Number.isInteger(group) && group >= 0 && group <= 0xffff)
    ? all
    : null;
}

const embeddedIpv4 = (high: number, low: number): number[] => [high >> 8, high & 0xff, low >> 8, low & 0xff];

function classifyIpv6(address: string): HostClass {
  const g = parseIpv6(address);
  if (!g) return "private";
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const zeroPrefix = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  if (zeroPrefix && g5 === 0 && g6 === 0 && g7 <= 1) return "loopback"; // :: and ::1
  // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) carry an IPv4 target.
  if (zeroPrefix && (g5 === 0xffff || g5 === 0)) return classifyIpv4(embeddedIpv4(g6, g7));
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    return classifyIpv4(embeddedIpv4(g6, g7));
  }
  if (g0 === 0x2002) return classifyIpv4(embeddedIpv4(g1, g2)) === "public" ? "public" : "private"; // 6to4
  if (g0 === 0xfd00 && g1 === 0x0ec2 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0 && g6 === 0 && g7 === 0x254) {
    return "metadata"; // AWS IMDS over IPv6
  }
  if ((g0 & 0xfe00) === 0xfc00) return "private"; // unique local fc00::/7
  if ((g0 & 0xffc0) === 0xfe80 || (g0 & 0xffc0) === 0xfec0) return "private"; // link-local, site-local
  if ((g0 & 0xff00) === 0xff00) return "private"; // multicast
  if (g0 === 0x2001 && g1 === 0x0db8) return "private"; // documentation
  return "public";
}
