/** What the approval page does to agent text before a person sees it. */
import { describe, expect, it } from "vitest";
import {
  clip,
  registrableDomain,
  revealInvisible,
  showBody,
  showDuration,
  showUrl,
} from "../../../src/approvals/display";

describe("display", () => {
  it("reveals bidi and zero-width characters", () => {
    expect(revealInvisible("pay\u202Eevil\u200B")).toBe("pay[U+202E]evil[U+200B]");
  });

  it.each([
    ["an Arabic letter mark", "Move \u061C10 20 EUR", "Move [U+061C]10 20 EUR"],
    ["a soft hyphen", "pay\u00ADpal", "pay[U+00AD]pal"],
    ["tag characters", "ok\u{E0041}\u{E007F}", "ok[U+E0041][U+E007F]"],
    ["a variation selector", "a\uFE0Fb", "a[U+FE0F]b"],
    ["a Hangul filler", "a\u3164b", "a[U+3164]b"],
    ["a combining grapheme joiner", "a\u034Fb", "a[U+034F]b"],
    ["a left-to-right mark", "a\u200Eb", "a[U+200E]b"],
    ["an isolate", "a\u2067b\u2069", "a[U+2067]b[U+2069]"],
    ["a C1 control", "a\u0085b", "a[U+0085]b"],
    ["a lone surrogate", "a\uD800b", "a[U+D800]b"],
    ["newlines and tabs, which stay", "a\n\tb", "a\n\tb"],
  ])("reveals %s by property", (_label, text, shown) => {
    expect(revealInvisible(text)).toBe(shown);
  });

  it("clips long text with a marker", () => {
    expect(clip("abcdef", 3)).toBe("abc\n… (3 more characters not shown)");
    expect(clip("abc", 3)).toBe("abc");
  });

  it.each([
    ['{"amount":1,"amount":1000000}'],
    ['{"id":9007199254740993}'],
    ['{"n":1e400}'],
    ['{"a":[1]}'],
    ["plain"],
    ["x".repeat(65_536)],
  ])("shows the body %s exactly as it will be sent", (body) => {
    expect(showBody(body)).toBe(body);
  });

  it("shows the path as sent with its decoded form beside it when they differ", () => {
    const shown = showUrl("https://api.github.com/repos/caf%C3%A9/x%E2%80%8By");
    expect(shown.path).toBe("/repos/caf%C3%A9/x%E2%80%8By");
    expect(shown.decoded).toBe("/repos/café/x[U+200B]y");
    expect(showUrl("https://api.github.com/repos/a").decoded).toBeNull();
  });

  it.each([
    ["myorg-myaccount-with-a-long-name.eu-central-1.snowflakecomputing.com", "snowflakecomputing.com", true],
    ["api.github.com", "github.com", false],
    ["a-very-long-subdomain-name-for-testing.example.co.uk", "example.co.uk", true],
  ])("introduces the host %s by its registrable domain %s (long: %s)", (host, domain, long) => {
    expect(registrableDomain(host)).toBe(domain);
    const shown = showUrl(`https://${host}/x`);
    expect(shown.domain).toBe(domain);
    expect(shown.long).toBe(long);
  });

  it("shows hosts in punycode and flags them", () => {
    const shown = showUrl("https://аpi.github.com/x?q=%3Cb%3E");
    expect(shown.host.startsWith("xn--")).toBe(true);
    expect(shown.idn).toBe(true);
    expect(shown.query).toEqual([["q", "<b>"]]);
    expect(showUrl("https://api.github.com/").idn).toBe(false);
  });

  it.each([
    [45, "45 s"],
    [300, "5 min"],
    [310, "5 min 10 s"],
    [3600, "1 h"],
  ])("shows %i seconds as %s", (seconds, text) => {
    expect(showDuration(seconds)).toBe(text);
  });
});
