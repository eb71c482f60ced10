/**
 * safeReturnTo: only same-origin paths survive; everything else goes home. parseApprovalReturn:
 * exactly an approval link path, or return_to_invalid.
 */
import { describe, expect, it } from "vitest";
import { parseApprovalReturn, safeReturnTo } from "../../../src/lib/return-to";

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

describe("parseApprovalReturn", () => {
  const id = "req_AbCdEfGhIjKlMnOpQrSt-_";
  const token = "0123456789abcdefghijklmnopqrstuvwxyzABCD-_0";
  const path = `/approve/${id}?t=${token}`;

  it("accepts exactly an approval link path and names its request and token", () => {
    expect(parseApprovalReturn(path)).toEqual({ ok: true, value: { requestId: id, token, path } });
  });

  it.each([
    [undefined],
    [42],
    [`https://countersign.test${path}`],
    [`//evil.test${path}`],
    [`/approve/${id}/?t=${token}`],
    [`/approve/${id}?t=${token}&x=1`],
    [`/approve/${id}?x=1&t=${token}`],
    [`/approve/${id}?t=${token}#`],
    [`/approve/${id}?t=${token.slice(1)}`],
    [`/approve/${id}x?t=${token}`],
    [`/approve/${id.replace("A", "\u0391")}?t=${token}`],
    [`/approve/${id}?t=${token.replace("a", "%61")}`],
    [`/APPROVE/${id}?t=${token}`],
    [` ${path}`],
  ])("refuses %j", (raw) => {
    expect(parseApprovalReturn(raw)).toEqual({ ok: false, error: "return_to_invalid" });
  });
});
