// The text of the greeter (drawn by the server) and of a terminal's own status screens:
// Terminus console fonts (PSF2, Debian's console-setup-linux). A bitmap font needs no
// rasteriser, draws the same pixels everywhere, and its one-bit glyphs keep the greeter's
// picture a handful of flat runs.
import fs from 'node:fs';
import zlib from 'node:zlib';

export const FONT_DIR = '/usr/share/consolefonts';
/** The cell heights Debian ships Terminus in, and the width of each. */
const SIZES: ReadonlyArray<[number, number]> = [
  [16, 8],
  [20, 10],
  [24, 12],
  [28, 14],
  [32, 16],
];

export class FontError extends Error {
  override name = 'FontError';
}

export interface BitmapFont {
  width: number;
  height: number;
  /** One bit a pixel, rows padded to whole bytes, most significant bit leftmost. */
  glyph(cp: number): Uint8Array;
  has(cp: number): boolean;
}

/** Parses a PSF font, version 1 or 2 (https://www.win.tue.nl/~aeb/linux/kbd/font-formats-1.html), with its Unicode table. */
export function parsePsf(data: Uint8Array, what: string): BitmapFont {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length >= 4 && data[0] === 0x36 && data[1] === 0x04) return parsePsf1(data, v, what);
  if (data.length < 32 || v.getUint32(0, true) !== 0x864ab572) throw new FontError(`${what} is not a PSF font`);
  const headerSize = v.getUint32(8, true);
  const flags = v.getUint32(12, true);
  const count = v.getUint32(16, true);
  const charSize = v.getUint32(20, true);
  const height = v.getUint32(24, true);
  const width = v.getUint32(28, true);
  const rowBytes = Math.ceil(width / 8);
  if (charSize !== rowBytes * height || headerSize + count * charSize > data.length || count === 0) throw new FontError(`${what}: glyph table does not fit the file`);
  const glyphs = data.subarray(headerSize, headerSize + count * charSize);
  const map = new Map<number, number>();
  if (flags & 1) {
    // per glyph: UTF-8 code points, then 0xFE-introduced sequences (ignored here), ending in 0xFF
    const dec = new TextDecoder();
    let p = headerSize + count * charSize;
    for (let g = 0; g < count && p < data.length; g++) {
      const start = p;
      while (p < data.length && data[p] !== 0xff && data[p] !== 0xfe) p++;
      for (const ch of dec.decode(data.subarray(start, p))) if (!map.has(ch.codePointAt(0)!)) map.set(ch.codePointAt(0)!, g);
      while (p < data.length && data[p] !== 0xff) p++;
      p++;
    }
  } else {
    for (let g = 0; g < Math.min(count, 256); g++) map.set(g, g);
  }
  return font(width, height, glyphs, charSize, map);
}

/** PSF1: 8 pixels wide, 256 or 512 glyphs, a table of 16-bit code points per glyph. */
function parsePsf1(data: Uint8Array, v: DataView, what: string): BitmapFont {
  const mode = data[2]!;
  const height = data[3]!;
  const count = mode & 1 ? 512 : 256;
  if (height === 0 || 4 + count * height > data.length) throw new FontError(`${what}: glyph table does not fit the file`);
  const glyphs = data.subarray(4, 4 + count * height);
  const map = new Map<number, number>();
  if (mode & 2) {
    let p = 4 + count * height;
    for (let g = 0; g < count && p + 1 < data.length; g++) {
      let seq = false;
      for (; p + 1 < data.length; p += 2) {
        const u = v.getUint16(p, true);
        if (u === 0xffff) break;
        if (u === 0xfffe) seq = true;
        else if (!seq && !map.has(u)) map.set(u, g);
      }
      p += 2;
    }
  } else {
    for (let g = 0; g < 256; g++) map.set(g, g);
  }
  return font(8, height, glyphs, height, map);
}

function font(width: number, height: number, glyphs: Uint8Array, charSize: number, map: Map<number, number>): BitmapFont {
  const fallback = map.get(0xfffd) ?? map.get(0x3f) ?? 0;
  return {
    width,
    height,
    has: (cp) => map.has(cp),
    glyph: (cp) => {
      const g = map.get(cp) ?? fallback;
      return glyphs.subarray(g * charSize, (g + 1) * charSize);
    },
  };
}

const cache = new Map<string, BitmapFont>();

/**
 * The Terminus font of the largest cell not above `height` px (Bold for titles). Fails with
 * what to install when the fonts are missing.
 */
export function terminus(height: number, bold = false, dir = FONT_DIR): BitmapFont {
  let pick = SIZES[0]!;
  for (const s of SIZES) if (s[0] <= height) pick = s;
  const [h, w] = pick;
  // Debian names the 16-row fonts without the width
  const name = `Uni2-Terminus${bold ? 'Bold' : ''}${h === 16 ? '16' : `${h}x${w}`}.psf.gz`;
  const file = `${dir}/${name}`;
  const hit = cache.get(file);
  if (hit) return hit;
  let data: Buffer;
  try {
    data = zlib.gunzipSync(fs.readFileSync(file));
  } catch (err) {
    throw new FontError(`cannot read the font ${file} (${(err as Error).message}): install Debian's console-setup-linux`);
  }
  const f = parsePsf(data, file);
  cache.set(file, f);
  return f;
}
