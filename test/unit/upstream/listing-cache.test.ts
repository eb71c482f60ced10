/**
 * The Worker's short-lived cache of upstream tool definitions (src/upstream/listing-cache.ts),
 * against a listing that counts how often the object is asked: a single tool call within
 * `LISTING_TTL_MS` of a listing asks nothing, anything else (a tools/list, a retry, an unknown
 * name) asks; entries are per person, frozen, bounded per person, in count and in size, replaced
 * by each tools/list and dropped on request.
 */
import { beforeEach, describe, expect, it } from "vitest";
import {
  clearUpstreamListing,
  forgetUpstreamTool,
  LISTING_MAX_CHARS,
  LISTING_MAX_ENTRIES,
  LISTING_MAX_PER_PERSON,
  LISTING_TTL_MS,
  upstreamListingSize,
  upstreamToolsFor,
} from "../../../src/upstream/listing-cache";
import type { ListedTool, UpstreamToolGroup } from "../../../src/upstream/upstream";

const T = 1_800_000_000_000;

const listed = (name: string, schemaChars = 20): ListedTool => ({
  name,
  title: name,
  description: `Tool ${name}`,
  inputSchemaJson: JSON.stringify({ type: "object", description: "x".repeat(schemaChars) }),
  access: "read",
  destructive: false,
});

/** A person's object with the given groups; `asked` records every `upstreamTools` call. */
function objectWith(groups: UpstreamToolGroup[]) {
  const asked: (string | undefined)[] = [];
  return {
    asked,
    listing: {
      upstreamTools(only?: string) {
        asked.push(only);
        if (only === undefined) return groups;
        return groups
          .map((group) => ({ ...group, tools: group.tools.filter((tool) => tool.name === only) }))
          .filter((group) => group.tools.length > 0);
      },
    },
  };
}

const notes = (): UpstreamToolGroup => ({
  server: "notes",
  title: "Notes",
  tools: [listed("notes__read"), listed("notes__write")],
});

beforeEach(() => clearUpstreamListing());

describe("upstreamToolsFor", () => {
  it("asks nothing for a request that names no upstream tool", async () => {
    const { asked, listing } = objectWith([notes()]);
    expect(await upstreamToolsFor(listing, "u1", "none", T)).toEqual([]);
    expect(asked).toEqual([]);
  });

  it("asks once for a tool called again within the TTL, and again once it has passed", async () => {
    const { asked, listing } = objectWith([notes()]);
    const first = await upstreamToolsFor(listing, "u1", { only: "notes__read", retry: false }, T);
    expect(first).toEqual([{ server: "notes", title: "Notes", tools: [listed("notes__read")] }]);
    expect(
      await upstreamToolsFor(listing, "u1", { only: "notes__read", retry: false }, T + LISTING_TTL_MS - 1),
    ).toEqual(first);
    expect(asked).toEqual(["notes__read"]);
    await upstreamToolsFor(listing, "u1", { only: "notes__read", retry: false }, T + LISTING_TTL_MS);
    expect(asked).toEqual(["notes__read", "notes__read"]);
  });

  it("asks every time for a name the object does not list, and keeps nothing for it", async () => {
    const { asked, listing } = objectWith([notes()]);
    for (let i = 0; i < 3; i++)
      expect(await upstreamToolsFor(listing, "u1", { only: "notes__nope", retry: false }, T + i)).toEqual([]);
    expect(asked).toEqual(["notes__nope", "notes__nope", "notes__nope"]);
    expect(upstreamListingSize().entries).toBe(0);
  });

  it("keeps one person's definitions from every other person", async () => {
    const a = objectWith([notes()]);
    const b = objectWith([]);
    await upstreamToolsFor(a.listing, "person-a", { only: "notes__read", retry: false }, T);
    expect(await upstreamToolsFor(b.listing, "person-b", { only: "notes__read", retry: false }, T + 1)).toEqual([]);
    expect(b.asked).toEqual(["notes__read"]);
  });

  it("always asks for tools/list, and a listed tool's next call asks nothing", async () => {
    const { asked, listing } = objectWith([notes()]);
    expect(await upstreamToolsFor(listing, "u1", "all", T)).toEqual([notes()]);
    expect(await upstreamToolsFor(listing, "u1", "all", T + 1)).toEqual([notes()]);
    expect(await upstreamToolsFor(listing, "u1", { only: "notes__write", retry: false }, T + 2)).toEqual([
      { server: "notes", title: "Notes", tools: [listed("notes__write")] },
    ]);
    expect(asked).toEqual([undefined, undefined]);
  });

  it("asks again for a tool once it is forgotten (the object said it is gone)", async () => {
    const { asked, listing } = objectWith([notes()]);
    await upstreamToolsFor(listing, "u1", { only: "notes__read", retry: false }, T);
    forgetUpstreamTool("u1", "notes__read");
    await upstreamToolsFor(listing, "u1", { only: "notes__read", retry: false }, T + 1);
    expect(asked).toEqual(["notes__read", "notes__read"]);
  });

  it("hands out frozen definitions, so no request can change what the next one registers", async () => {
    const { listing } = objectWith([notes()]);
    await upstreamToolsFor(listing, "u1", { only: "notes__read", retry: false }, T);
    const [group] = await upstreamToolsFor(listing, "u1", { only: "notes__read", retry: false }, T + 1);
    expect(() => {
      (group as { title: string }).title = "Changed";
    }).toThrow(TypeError);
    expect(() => {
      (group?.tools[0] as { access: string }).access = "write";
    }).toThrow(TypeError);
    expect(() => group?.tools.push(listed("notes__extra"))).toThrow(TypeError);
    const [again] = await upstreamToolsFor(listing, "u1", { only: "notes__read", retry: false }, T + 2);
    expect(again).toEqual({ server: "notes", title: "Notes", tools: [listed("notes__read")] });
  });

  it("holds at most LISTING_MAX_PER_PERSON definitions a person, so one person cannot push out the rest", async () => {
    const mine = objectWith([notes()]);
    await upstreamToolsFor(mine.listing, "other", { only: "notes__read", retry: false }, T);
    const tools = Array.from({ length: LISTING_MAX_PER_PERSON + 50 }, (_, i) => listed(`big__t${i}`));
    const { asked, listing } = objectWith([{ server: "big", title: "Big", tools }]);
    await upstreamToolsFor(listing, "u1", "all", T + 1);
    expect(upstreamListingSize("u1").entries).toBe(LISTING_MAX_PER_PERSON);
    await upstreamToolsFor(listing, "u1", { only: "big__t0", retry: false }, T + 2);
    await upstreamToolsFor(listing, "u1", { only: `big__t${LISTING_MAX_PER_PERSON}`, retry: false }, T + 3);
    expect(asked).toEqual([undefined, `big__t${LISTING_MAX_PER_PERSON}`]);
    await upstreamToolsFor(mine.listing, "other", { only: "notes__read", retry: false }, T + 4);
    expect(mine.asked).toEqual(["notes__read"]);
  });

  it("holds at most LISTING_MAX_ENTRIES definitions in all, dropping the oldest first", async () => {
    const people = Math.ceil(LISTING_MAX_ENTRIES / LISTING_MAX_PER_PERSON) + 1;
    const tools = Array.from({ length: LISTING_MAX_PER_PERSON }, (_, i) => listed(`big__t${i}`));
    const { asked, listing } = objectWith([{ server: "big", title: "Big", tools }]);
    for (let p = 0; p < people; p++) await upstreamToolsFor(listing, `u${p}`, "all", T + p);
    expect(upstreamListingSize().entries).toBe(LISTING_MAX_ENTRIES);
    expect(upstreamListingSize("u0").entries).toBe(0);
    expect(upstreamListingSize(`u${people - 1}`).entries).toBe(LISTING_MAX_PER_PERSON);
    await upstreamToolsFor(listing, `u${people - 1}`, { only: "big__t0", retry: false }, T + people);
    await upstreamToolsFor(listing, "u0", { only: "big__t0", retry: false }, T + people);
    expect(asked.slice(people)).toEqual(["big__t0"]);
  });

  it("replaces a person's definitions with each tools/list: a tool no longer listed asks again", async () => {
    const group = notes();
    const { asked, listing } = objectWith([group]);
    await upstreamToolsFor(listing, "u1", "all", T);
    group.tools = [listed("notes__read")];
    await upstreamToolsFor(listing, "u1", "all", T + 1);
    expect(upstreamListingSize("u1").entries).toBe(1);
    expect(await upstreamToolsFor(listing, "u1", { only: "notes__write", retry: false }, T + 2)).toEqual([]);
    expect(asked).toEqual([undefined, undefined, "notes__write"]);
  });

  it("always asks for a retried call (it carries a request state), and keeps what it got", async () => {
    const { asked, listing } = objectWith([notes()]);
    await upstreamToolsFor(listing, "u1", { only: "notes__read", retry: false }, T);
    await upstreamToolsFor(listing, "u1", { only: "notes__read", retry: true }, T + 1);
    await upstreamToolsFor(listing, "u1", { only: "notes__read", retry: true }, T + 2);
    expect(asked).toEqual(["notes__read", "notes__read", "notes__read"]);
    await upstreamToolsFor(listing, "u1", { only: "notes__read", retry: false }, T + 3);
    expect(asked).toHaveLength(3);
  });

  it("holds at most LISTING_MAX_CHARS characters of definitions, and never one larger than that", async () => {
    const schemaChars = 32 * 1024;
    const count = Math.ceil(LISTING_MAX_CHARS / schemaChars) + 3;
    const tools = Array.from({ length: count }, (_, i) => listed(`wide__t${i}`, schemaChars));
    const { listing } = objectWith([{ server: "wide", title: "Wide", tools }]);
    await upstreamToolsFor(listing, "u1", "all", T);
    const size = upstreamListingSize();
    expect(size.chars).toBeLessThanOrEqual(LISTING_MAX_CHARS);
    expect(size.entries).toBeLessThan(count);
    expect(size.entries).toBeGreaterThan(0);

    clearUpstreamListing();
    const huge = objectWith([{ server: "huge", title: "Huge", tools: [listed("huge__t", LISTING_MAX_CHARS)] }]);
    expect(await upstreamToolsFor(huge.listing, "u1", { only: "huge__t", retry: false }, T)).toHaveLength(1);
    expect(upstreamListingSize()).toEqual({ entries: 0, chars: 0 });
  });
});
