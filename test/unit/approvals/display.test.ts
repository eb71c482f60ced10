/** What the approval page does to agent text before a person sees it. */
import { describe, expect, it } from "vitest";
import { clip, revealInvisible, showBody, showDuration, showUrl } from "../../../src/approvals/display";

describe("display", () => {
  it("reveals bidi and zero-width characters", () => {
    expect(revealInvisible("pay\u202Eevil\u200B")).toBe("pay[U+202E]evil[U+200B]");
  });

  it("clips long text with a marker", () => {
    expect(clip("abcdef", 3)).toBe("abc\n… (3 more characters not shown)");
    expect(clip("abc", 3)).toBe("abc");
  });

  it("pretty-prints JSON bodies and leaves other text", () => {
    expect(showBody('{"a":[1]}')).toBe('{\n  "a": [\n    1\n  ]\n}');
    expect(showBody("plain")).toBe("plain");
  });

  it("shows the whole of the largest approvable body: pretty when that fits, else as sent", () => {
    const wide = JSON.stringify({ items: Array.from({ length: 9000 }, (_, i) => i % 10) });
    expect(wide.length).toBeLessThanOrEqual(65_536);
    const shownWide = showBody(wide);
    expect(shownWide).not.toContain("more characters not shown");
    expect(JSON.parse(shownWide)).toEqual(JSON.parse(wide));
    // Deep nesting makes the pretty form far longer than the body: the body is shown as sent.
    const nest = (depth: number): unknown => (depth === 0 ? 1 : [nest(depth - 1)]);
    const deep = JSON.stringify(Array.from({ length: 1500 }, () => nest(20)));
    expect(deep.length).toBeLessThanOrEqual(65_536);
    expect(JSON.stringify(JSON.parse(deep), null, 2).length).toBeGreaterThan(70_000);
    expect(showBody(deep)).toBe(deep);
    const text = "x".repeat(65_536);
    expect(showBody(text)).toBe(text);
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
