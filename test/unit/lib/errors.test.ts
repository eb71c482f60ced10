/** The one vocabulary of error codes: stable words, each listed once per step. */
import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../../src/lib/errors";

describe("ERROR_CODES", () => {
  it.each(Object.entries(ERROR_CODES))("lists the %s codes in snake_case, each once", (_step, codes) => {
    expect(codes.length).toBeGreaterThan(0);
    for (const code of codes) expect(code).toMatch(/^[a-z]+(?:_[a-z]+)*$/);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it("gives a word that several steps share one spelling (no near-duplicates by case or separator)", () => {
    const all = Object.values(ERROR_CODES).flat();
    const folded = new Map<string, Set<string>>();
    for (const code of all) {
      const key = code.replaceAll("_", "");
      folded.set(key, (folded.get(key) ?? new Set()).add(code));
    }
    for (const spellings of folded.values()) expect([...spellings]).toHaveLength(1);
  });
});
