/**
 * The app icon's PNGs: well-formed 8-bit palette PNGs (every chunk's CRC, the image data
 * inflates to exactly one filter byte and one palette index per pixel), at the size the
 * manifest names, full-bleed (every edge pixel is the background, so a launcher may mask them).
 */
import { describe, expect, it } from "vitest";
import { ICON_192_PNG, ICON_512_PNG } from "../../../src/web/icons";

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
const BACKGROUND = [0x1f, 0x3a, 0x5f];
const FOREGROUND = [
  [0xff, 0xff, 0xff],
  [0x8f, 0xb3, 0xde],
];

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = (CRC_TABLE[(c ^ byte) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

interface Chunk {
  type: string;
  data: Uint8Array;
  crcMatches: boolean;
}

function chunksOf(png: Uint8Array): Chunk[] {
  expect([...png.subarray(0, 8)]).toEqual(SIGNATURE);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: Chunk[] = [];
  for (let at = 8; at < png.length; ) {
    const length = view.getUint32(at);
    const typed = png.subarray(at + 4, at + 8 + length);
    chunks.push({
      type: String.fromCharCode(...typed.subarray(0, 4)),
      data: typed.subarray(4),
      crcMatches: crc32(typed) === view.getUint32(at + 8 + length),
    });
    at += 12 + length;
  }
  return chunks;
}

async function inflate(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

describe("app icon PNGs", () => {
  for (const [size, png] of [
    [192, ICON_192_PNG],
    [512, ICON_512_PNG],
  ] as const) {
    it(`is a ${size}x${size} palette PNG with valid chunks, full-bleed on the background colour`, async () => {
      const chunks = chunksOf(png);
      expect(chunks.map((chunk) => chunk.type)).toEqual(["IHDR", "PLTE", "IDAT", "IEND"]);
      expect(chunks.every((chunk) => chunk.crcMatches)).toBe(true);
      const [header, palette, data] = chunks.map((chunk) => chunk.data) as [Uint8Array, Uint8Array, Uint8Array];
      const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
      expect([view.getUint32(0), view.getUint32(4)]).toEqual([size, size]);
      // Bit depth 8, colour type 3 (palette), deflate, adaptive filtering, not interlaced.
      expect([...header.subarray(8)]).toEqual([8, 3, 0, 0, 0]);
      const colours = palette.length / 3;
      const colour = (index: number) => [...palette.subarray(index * 3, index * 3 + 3)];
      for (const expected of [BACKGROUND, ...FOREGROUND]) {
        expect(Array.from({ length: colours }, (_, index) => colour(index))).toContainEqual(expected);
      }

      const rows = await inflate(data);
      expect(rows.length).toBe(size * (size + 1));
      const pixel = (x: number, y: number) => rows[y * (size + 1) + 1 + x] ?? -1;
      // Filter type 0 on every row, so each byte after it is the pixel's palette index.
      const filters = new Set(Array.from({ length: size }, (_, y) => rows[y * (size + 1)]));
      expect([...filters]).toEqual([0]);
      let highest = 0;
      for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) highest = Math.max(highest, pixel(x, y));
      expect(highest).toBeLessThan(colours);
      const edges = new Set<string>();
      for (let i = 0; i < size; i++) {
        for (const [x, y] of [
          [i, 0],
          [i, size - 1],
          [0, i],
          [size - 1, i],
        ] as const) {
          edges.add(colour(pixel(x, y)).join(","));
        }
      }
      expect([...edges]).toEqual([BACKGROUND.join(",")]);
    });
  }
});
