/** safeReturnTo: only same-origin paths survive; everything else goes home. */
import { describe, expect, it } from "vitest";
import { safeReturnTo } from "../../../src/lib/return-to";

const origin = "https://countersign.test";

describe("safeReturnTo", () => {
  it.each([
    ["/authorize/resume?state=abc", "/authorize/resume?state=abc"],
    ["/approve/r1?t=x#frag", "/approve/r1?t=x"],
    ["/a/../b", "/b"],
  ])("keeps %s as %s", (raw, expected) => {
    expect(safeReturnTo(raw, origin)).toBe(expected);
  });

  it.each([
    [null],
    [""],
    ["https://evil.test/"],
    ["//evil.test"],
    ["/\\evil.test"],
    ["\\/evil.test"],
    ["javascript:alert(1)"],
    ["/\u0000x"],
    ["/\r\nSet-Cookie: a=b"],
    ["relative/path"],
    [`/${"a".repeat(5000)}`],
  ])("sends %j home", (raw) => {
    expect(safeReturnTo(raw, origin)).toBe("/");
  });
});
