/** What the approval page does to agent text before a person sees it. */
import { describe, expect, it } from "vitest";
import { clip, revealInvisible, showBody, showDuration, showUrl } from "../../src/approvals/display";

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
