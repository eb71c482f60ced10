/**
 * The one vocabulary of error codes: stable snake_case words, each listed once per step. The
 * checks run over the list itself, and over hand-made bad lists, so each is shown to fail.
 */
import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../../src/lib/errors";

const CODE = /^[a-z][a-z0-9_]*$/;

/** What is wrong with one step's list: codes not in snake_case, and codes listed twice. */
function problems(codes: readonly string[]): string[] {
  const found = codes.filter((code) => !CODE.test(code)).map((code) => `not snake_case: ${code}`);
  const seen = new Set<string>();
  for (const code of codes) {
    if (seen.has(code)) found.push(`listed twice: ${code}`);
    seen.add(code);
  }
  return found;
}

describe("ERROR_CODES", () => {
  it.each(Object.entries(ERROR_CODES))("lists the %s codes in snake_case, each once", (_step, codes) => {
    expect(codes.length).toBeGreaterThan(0);
    expect(problems(codes)).toEqual([]);
  });

  it.each([
    [["timeout", "unreachable", "timeout"], ["listed twice: timeout"]],
    [["Timeout"], ["not snake_case: Timeout"]],
    [["too-large"], ["not snake_case: too-large"]],
    [["_hidden"], ["not snake_case: _hidden"]],
    [["2fa_required"], ["not snake_case: 2fa_required"]],
    [["not found"], ["not snake_case: not found"]],
    [[""], ["not snake_case: "]],
  ])("finds what is wrong with %j", (codes, expected) => {
    expect(problems(codes)).toEqual(expected);
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

  it('says "provider" for a provider call on the wire ("upstream" names MCP servers only)', () => {
    expect(ERROR_CODES.outbound).toEqual(["provider_timeout", "provider_unreachable"]);
  });
});
