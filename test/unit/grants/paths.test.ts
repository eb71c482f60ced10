/** Canonical paths: decoded once, one spelling, and every spelling servers could disagree on refused. */
import { describe, expect, it } from "vitest";
import { canonicalPath } from "../../../src/grants/paths";

describe("canonicalPath", () => {
  it.each([
    ["/", "/"],
    ["/v2/items", "/v2/items"],
    ["/api/0/organizations/", "/api/0/organizations/"],
    ["/v%32/it%65ms", "/v2/items"],
    ["/caf%c3%a9", "/caf%C3%A9"],
    [
      "/calendars/en.usa%23holiday%40group.v.calendar.google.com/events",
      "/calendars/en.usa%23holiday@group.v.calendar.google.com/events",
    ],
    ["/a%20b", "/a%20b"],
    ["/100%25", "/100%25"],
    ["/projects/x:batchGet", "/projects/x:batchGet"],
  ])("spells %s as %s", (input, expected) => {
    expect(canonicalPath(input)).toEqual({ ok: true, path: expected });
  });

  it.each([
    ["an encoded slash", "/api/reports%2f..%2f..%2fitems"],
    ["an upper-case encoded slash", "/api/reports/..%2Fitems"],
    ["an encoded backslash", "/api/reports/..%5citems"],
    ["an encoded dot", "/api/reports/%2e%2e"],
    ["a partly encoded dot", "/api/reports/.%2e/items"],
    ["a backslash", "/api/reports/..\\items"],
    ["a path parameter", "/api/reports/..;/items"],
    ["a path parameter on a segment", "/api/reports;jsessionid=1/x"],
    ["an encoded semicolon", "/api/reports/..%3b/items"],
    ["an empty segment", "/api//reports"],
    ["a leading empty segment", "//api/reports"],
    ["two trailing slashes", "/api/reports//"],
    ["a double encoding", "/api/reports/..%252f..%252fitems"],
    ["a malformed escape", "/api/reports/%zz"],
    ["a truncated escape", "/api/reports/%4"],
    ["an escape that is not UTF-8", "/api/reports/%ff"],
    ["an encoded NUL", "/api/reports/x%00.json"],
    ["an encoded newline", "/api/reports/x%0a"],
    ["a fullwidth solidus", "/api/reports/..%EF%BC%8Fitems"],
    ["a fullwidth full stop pair", "/api/reports/%EF%BC%8E%EF%BC%8E/items"],
    ["a one-dot leader", "/api/reports/%E2%80%A4%E2%80%A4/items"],
    ["a relative path", "api/reports"],
  ])("refuses %s (%s) as ambiguous_path", (_label, input) => {
    const verdict = canonicalPath(input);
    expect(verdict.ok).toBe(false);
    expect(!verdict.ok && verdict.code).toBe("ambiguous_path");
  });

  it("is idempotent: a canonical path is its own canonical form", () => {
    for (const input of ["/v%32/it%65ms", "/caf%c3%a9", "/a%20b", "/100%25", "/x/%7Bid%7D"]) {
      const once = canonicalPath(input);
      if (!once.ok) throw new Error(input);
      expect(canonicalPath(once.path)).toEqual(once);
      expect(new URL(once.path, "https://a.example").pathname).toBe(once.path);
    }
  });
});
