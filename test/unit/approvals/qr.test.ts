/**
 * The QR hand-off's code (approvals/qr.tsx) decodes, with jsQR (a test-only decoder), back to
 * exactly the link it was made from, at the longest link we issue. The e2e test decodes the SVG
 * as Chromium draws it (test/e2e/approval-handoff.test.mjs).
 */
import jsQR from "jsqr";
import { generate } from "lean-qr/nano";
import { describe, expect, it } from "vitest";
import { qrPath } from "../../../src/approvals/qr";

/** Pixels of `link`'s code as `generate` lays it out, quiet zone included, `scale` pixels a module. */
function pixels(link: string, scale = 4) {
  const code = generate(link);
  const modules = code.size + 8;
  const side = modules * scale;
  const data = new Uint8ClampedArray(side * side * 4);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const on = code.get(Math.floor(x / scale) - 4, Math.floor(y / scale) - 4);
      data.fill(on ? 0 : 255, (y * side + x) * 4, (y * side + x) * 4 + 3);
      data[(y * side + x) * 4 + 3] = 255;
    }
  }
  return { data, side };
}

describe("qrPath", () => {
  const links = [
    "http://127.0.0.1:8787/approve/req_AAAAAAAAAAAAAAAAAAAAAA?t=Zm9vYmFyYmF6cXV4LWZvb2Jhcl9iYXpxdXgtMDEyMzQ1Njc4OQ",
    `https://${"a".repeat(40)}.example.com/approve/req_${"b".repeat(22)}?t=${"c".repeat(43)}`,
  ];

  it.each(links)("draws a code that decodes to exactly %s", (link) => {
    const { data, side } = pixels(link);
    expect(jsQR(data, side, side)?.data).toBe(link);
  });

  it("draws one path over a square of modules, with nothing but path commands in it", () => {
    const { d, size } = qrPath(links[0] as string);
    expect(size).toBeGreaterThanOrEqual(21);
    expect(d).toMatch(/^[MLZ0-9 ]+$/);
  });
});
