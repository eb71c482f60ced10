/**
 * The upstream tools one MCP request registers, without a round trip to the person's object for
 * a tool this isolate listed moments ago. A single upstream `tools/call` needs its tool's
 * definition before the SDK dispatches it, and the call itself is a second round trip
 * (`callUpstreamTool`); with this cache a repeated call makes only that one.
 *
 * What a cached definition can and cannot do, for at most `LISTING_TTL_MS`:
 * - it never allows anything: the object decides every call from its own current state (server,
 *   tool, accepted reads, grants and rules) and answers `not_found` for a server or tool that is
 *   gone, which also drops the entry here;
 * - a `tools/list` always asks the object, and refreshes the entries of the tools it returns;
 * - only a tool the object returned is kept (an unknown name asks every time), keyed by the
 *   verified user id, so no person ever sees another's definitions; at most `LISTING_MAX_ENTRIES`
 *   entries and `LISTING_MAX_CHARS` characters of definitions per isolate (a schema may be 32 KiB),
 *   the oldest dropped first. Entries are frozen: a request cannot change what the next one
 *   registers.
 */
import type { ListedTool, UpstreamToolGroup } from "./upstream";

export const LISTING_TTL_MS = 30_000;
export const LISTING_MAX_ENTRIES = 1_000;
export const LISTING_MAX_CHARS = 2_000_000;

/** Which upstream tools a request registers (from the guard: `upstreamToolsNeeded`). */
export type ToolsNeeded = "all" | "none" | { only: string };

/** The object's side of the listing: `UserSession.upstreamTools`. */
export interface UpstreamListing {
  upstreamTools(only?: string): Promise<UpstreamToolGroup[]> | UpstreamToolGroup[];
}

interface Entry {
  group: UpstreamToolGroup;
  until: number;
  chars: number;
}

const entries = new Map<string, Entry>();
let chars = 0;

function drop(key: string): void {
  const entry = entries.get(key);
  if (!entry) return;
  entries.delete(key);
  chars -= entry.chars;
}

const keyOf = (userId: string, tool: string) => `${userId}\n${tool}`;

function remember(userId: string, group: UpstreamToolGroup, now: number): void {
  for (const tool of group.tools) {
    const key = keyOf(userId, tool.name);
    drop(key); // re-inserted last: the Map's order is the eviction order
    const size =
      group.title.length + tool.name.length + tool.title.length + tool.description.length + tool.inputSchemaJson.length;
    if (size > LISTING_MAX_CHARS) continue;
    // Frozen at run time; typed as the mutable shape the registration takes (it only reads).
    const one = Object.freeze({ ...group, tools: Object.freeze([Object.freeze({ ...tool })]) as ListedTool[] });
    entries.set(key, { group: one, until: now + LISTING_TTL_MS, chars: size });
    chars += size;
  }
  while (entries.size > LISTING_MAX_ENTRIES || chars > LISTING_MAX_CHARS) {
    drop(entries.keys().next().value as string);
  }
}

/** The groups to register for this request: from the object, or for one recently listed tool from here. */
export async function upstreamToolsFor(
  listing: UpstreamListing,
  userId: string,
  needed: ToolsNeeded,
  now: number,
): Promise<UpstreamToolGroup[]> {
  if (needed === "none") return [];
  if (needed !== "all") {
    const hit = entries.get(keyOf(userId, needed.only));
    if (hit && hit.until > now) return [hit.group];
  }
  const groups = await listing.upstreamTools(needed === "all" ? undefined : needed.only);
  for (const group of groups) remember(userId, group, now);
  return groups;
}

/** The object answered that this tool (or its server) is gone: ask it again next time. */
export function forgetUpstreamTool(userId: string, tool: string): void {
  drop(keyOf(userId, tool));
}

/** For tests: empty the cache. */
export function clearUpstreamListing(): void {
  entries.clear();
  chars = 0;
}

/** For tests: how many definitions and characters the cache holds. */
export function upstreamListingSize(): { entries: number; chars: number } {
  return { entries: entries.size, chars };
}
