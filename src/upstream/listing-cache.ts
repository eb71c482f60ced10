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
 * - a `tools/list` always asks the object and replaces the person's entries with what it lists;
 *   a retried call (one carrying a request state, whose elicitation is built from the
 *   definition's read or write) always asks too;
 * - only a tool the object returned is kept (an unknown name asks every time), keyed by the
 *   verified user id, so no person ever sees another's definitions. Bounds per isolate:
 *   `LISTING_MAX_PER_PERSON` tools a person, `LISTING_MAX_ENTRIES` in all, and about
 *   `LISTING_MAX_CHARS` characters of definitions (a schema may be 32 KiB), the oldest dropped
 *   first. Entries are frozen: a request cannot change what the next one registers.
 */
import type { ListedTool, UpstreamToolGroup } from "./upstream";

export const LISTING_TTL_MS = 30_000;
export const LISTING_MAX_PER_PERSON = 200;
export const LISTING_MAX_ENTRIES = 1_000;
export const LISTING_MAX_CHARS = 2_000_000;

/** Which upstream tools a request registers (the guard's `upstreamToolsNeeded` says, from the body). */
export type ToolsNeeded = "all" | "none" | { only: string; retry: boolean };

/** The object's side of the listing: `UserSession.upstreamTools`. */
export interface UpstreamListing {
  upstreamTools(only?: string): Promise<UpstreamToolGroup[]> | UpstreamToolGroup[];
}

interface Entry {
  userId: string;
  group: UpstreamToolGroup;
  until: number;
  chars: number;
}

/** Every entry, oldest first (a Map keeps insertion order); and each person's keys. */
const entries = new Map<string, Entry>();
const byPerson = new Map<string, Set<string>>();
let chars = 0;

const keyOf = (userId: string, tool: string) => `${userId}\n${tool}`;

function drop(key: string): void {
  const entry = entries.get(key);
  if (!entry) return;
  entries.delete(key);
  chars -= entry.chars;
  const keys = byPerson.get(entry.userId);
  keys?.delete(key);
  if (keys?.size === 0) byPerson.delete(entry.userId);
}

function dropPerson(userId: string): void {
  for (const key of [...(byPerson.get(userId) ?? [])]) drop(key);
}

function remember(userId: string, group: UpstreamToolGroup, tool: ListedTool, now: number): void {
  const key = keyOf(userId, tool.name);
  drop(key); // re-inserted last: the Map's order is the eviction order
  const size =
    key.length +
    group.server.length +
    group.title.length +
    tool.name.length +
    tool.title.length +
    tool.description.length +
    tool.inputSchemaJson.length;
  const keys = byPerson.get(userId) ?? new Set<string>();
  if (size > LISTING_MAX_CHARS || keys.size >= LISTING_MAX_PER_PERSON) return;
  // Frozen at run time; typed as the mutable shape the registration takes (it only reads).
  const one = Object.freeze({ ...group, tools: Object.freeze([Object.freeze({ ...tool })]) as ListedTool[] });
  entries.set(key, { userId, group: one, until: now + LISTING_TTL_MS, chars: size });
  keys.add(key);
  byPerson.set(userId, keys);
  chars += size;
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
  if (needed !== "all" && !needed.retry) {
    const hit = entries.get(keyOf(userId, needed.only));
    if (hit && hit.until > now) return [hit.group];
  }
  const groups = await listing.upstreamTools(needed === "all" ? undefined : needed.only);
  if (needed === "all") dropPerson(userId);
  for (const group of groups) for (const tool of group.tools) remember(userId, group, tool, now);
  return groups;
}

/** The object answered that this tool (or its server) is gone: ask it again next time. */
export function forgetUpstreamTool(userId: string, tool: string): void {
  drop(keyOf(userId, tool));
}

/** For tests: empty the cache. */
export function clearUpstreamListing(): void {
  entries.clear();
  byPerson.clear();
  chars = 0;
}

/** For tests: how many definitions and characters the cache holds, in all or for one person. */
export function upstreamListingSize(userId?: string): { entries: number; chars: number } {
  if (userId === undefined) return { entries: entries.size, chars };
  let held = 0;
  for (const key of byPerson.get(userId) ?? []) held += entries.get(key)?.chars ?? 0;
  return { entries: byPerson.get(userId)?.size ?? 0, chars: held };
}
