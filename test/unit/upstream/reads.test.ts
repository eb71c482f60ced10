/** The reads choice: which tools may be asked about, and the checks a form's names pass whole or not at all. */
import { describe, expect, it } from "vitest";
import { MAX_TOOLS } from "../../../src/upstream/client/mcp-client";
import { checkReadChoice, parseReadNames, readClaims } from "../../../src/upstream/reads";

const TOOLS = [
  { name: "read_notes", annotations: { readOnlyHint: true } },
  { name: "write_note", annotations: { readOnlyHint: false } },
  { name: "plain" },
  { name: "peek", annotations: { readOnlyHint: true, destructiveHint: false } },
];

describe("readClaims", () => {
  it("keeps only the tools whose readOnlyHint is true, in the server's order", () => {
    expect(readClaims(TOOLS).map((tool) => tool.name)).toEqual(["read_notes", "peek"]);
  });
});

describe("parseReadNames", () => {
  it("returns the names sorted, and an empty choice as none", () => {
    expect(parseReadNames(["peek", "read_notes"])).toEqual({ ok: true, value: ["peek", "read_notes"] });
    expect(parseReadNames([])).toEqual({ ok: true, value: [] });
  });

  it.each([
    ["an HTML name", ["<b>x</b>"], "tool_name_invalid"],
    ["a name over 64 characters", ["x".repeat(65)], "tool_name_invalid"],
    ["a dot name", [".."], "tool_name_invalid"],
    ["a non-string (a file field)", [new File(["x"], "x.txt")], "tool_name_invalid"],
    ["a name twice", ["peek", "peek"], "tool_duplicated"],
    ["more names than a server may offer", Array.from({ length: MAX_TOOLS + 1 }, (_, i) => `t${i}`), "too_many_tools"],
  ])("refuses %s", (_label, values, code) => {
    expect(parseReadNames(values)).toEqual({ ok: false, error: code });
  });
});

describe("checkReadChoice", () => {
  it("takes a choice of tools that claim to read", () => {
    expect(checkReadChoice(["read_notes", "peek"], TOOLS)).toEqual({ ok: true, value: ["peek", "read_notes"] });
  });

  it.each([
    ["a tool that says it writes", ["write_note"]],
    ["a tool that says nothing", ["plain"]],
    ["a tool not on the server", ["gone"]],
    ["one good and one bad", ["peek", "write_note"]],
  ])("refuses %s whole with tool_not_offered", (_label, names) => {
    expect(checkReadChoice(names, TOOLS)).toEqual({ ok: false, error: "tool_not_offered" });
  });
});
