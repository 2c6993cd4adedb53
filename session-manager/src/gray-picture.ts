// Pictures the daemon draws itself (the greeter), in shades of gray, and their encoding as the
// lossless tile stream every terminal decodes (protocol/src/frame-format.ts). Gray pixels have
// three equal bytes, so a flat run is one run of one byte: a zstd RLE block (RFC 8878 3.1.1.2)
// carries it in 4 bytes, and the rest goes in raw blocks. That is a valid zstd stream made
// without a compressor: the daemon links no codec and keeps no picture between updates.
import { TILE_WINDOW_LOG } from '@waydesk/protocol/frame-format';
import type { BitmapFont } from '@waydesk/protocol/bitmap-font';

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One rectangle of the screen, one byte (the gray level) per pixel; drawing is clipped to it. */
export class GrayCanvas {
  readonly px: Uint8Array;
  constructor(readonly rect: Rect) {
    this.px = new Uint8Array(rect.width * rect.height);
  }

  fill(r: Rect, gray: number): void {
    const { x: cx, y: cy, width: cw, height: ch } = this.rect;
    const x0 = Math.max(r.x, cx), x1 = Math.min(r.x + r.width, cx + cw);
    const y0 = Math.max(r.y, cy), y1 = Math.min(r.y + r.height, cy + ch);
    if (x0 >= x1) return;
    for (let y = y0; y < y1; y++) this.px.fill(gray, (y - cy) * cw + (x0 - cx), (y - cy) * cw + (x1 - cx));
  }

  /** A frame of `t` pixels inside r. */
  outline(r: Rect, t: number, gray: number): void {
    this.fill({ x: r.x, y: r.y, width: r.width, height: t }, gray);
    this.fill({ x: r.x, y: r.y + r.height - t, width: r.width, height: t }, gray);
    this.fill({ x: r.x, y: r.y, width: t, height: r.height }, gray);
    this.fill({ x: r.x + r.width - t, y: r.y, width: t, height: r.height }, gray);
  }

  /** Draws text with its cell's top left at x, y, each font pixel `scale` screen pixels; returns the width drawn. */
  text(x: number, y: number, s: string, font: BitmapFont, scale: number, gray: number): number {
    const { x: cx, y: cy, width: cw, height: ch } = this.rect;
    const gw = font.width * scale;
    if (y >= cy + ch || y + font.height * scale <= cy) return [...s].length * gw;
    const rowBytes = Math.ceil(font.width / 8);
    let pen = x;
    for (const c of s) {
      if (pen + gw > cx && pen < cx + cw) {
        const g = font.glyph(c.codePointAt(0)!);
        for (let gy = 0; gy < font.height; gy++) {
          for (let gx = 0; gx < font.width; gx++) {
            if (!(g[gy * rowBytes + (gx >> 3)]! & (0x80 >> (gx & 7)))) continue;
            if (scale === 1) {
              const px = pen + gx, py = y + gy;
              if (px >= cx && px < cx + cw && py >= cy && py < cy + ch) this.px[(py - cy) * cw + (px - cx)] = gray;
            } else {
              this.fill({ x: pen + gx * scale, y: y + gy * scale, width: scale, height: scale }, gray);
            }
          }
        }
      }
      pen += gw;
    }
    return pen - x;
  }
}

/** Rectangles at most this high are laid out column by column (frame-format.ts). */
const COLUMN_MAX_H = 64;
const BLOCK_MAX = 128 * 1024;
/** A run shorter than this costs less as raw bytes than as its own block plus a new raw block. */
const RLE_MIN_BYTES = 8;
/** fzstd parses a stream's header only once 18 bytes are there (as native/codec pads it). */
const MIN_START = 18;

class BlockWriter {
  readonly chunks: Uint8Array[] = [];
  length = 0;
  #raw = new Uint8Array(BLOCK_MAX);
  #rawLen = 0;

  push(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }

  #header(size: number, type: 0 | 1): Uint8Array {
    const h = (size << 3) | (type << 1); // never the last block: the stream goes on
    return Uint8Array.of(h & 0xff, (h >>> 8) & 0xff, (h >>> 16) & 0xff);
  }

  raw(gray: number, pixels: number): void {
    for (let i = 0; i < pixels * 3; i++) {
      this.#raw[this.#rawLen++] = gray;
      if (this.#rawLen === BLOCK_MAX) this.flushRaw();
    }
  }

  run(gray: number, pixels: number): void {
    let bytes = pixels * 3;
    if (bytes < RLE_MIN_BYTES) return this.raw(gray, pixels);
    this.flushRaw();
    while (bytes > 0) {
      const n = Math.min(bytes, BLOCK_MAX);
      this.push(this.#header(n, 1));
      this.push(Uint8Array.of(gray));
      bytes -= n;
    }
  }

  flushRaw(): void {
    if (!this.#rawLen) return;
    this.push(this.#header(this.#rawLen, 0));
    this.push(this.#raw.slice(0, this.#rawLen));
    this.#rawLen = 0;
  }
}

/**
 * The tile payload for these canvases (one rectangle each, in order). `start`: the first update
 * of a stream (after a welcome); every later one continues it. Neither direction of the stream
 * refers to earlier updates, so any later update decodes after any earlier one.
 */
export function encodeGrayTiles(canvases: GrayCanvas[], start: boolean): Uint8Array {
  const w = new BlockWriter();
  w.push(Uint8Array.of(start ? 1 : 0));
  // magic, frame header: no checksum, no content size, window 2^TILE_WINDOW_LOG
  if (start) w.push(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x00, (TILE_WINDOW_LOG - 10) << 3));
  let gray = -1;
  let n = 0;
  const pixel = (v: number): void => {
    if (v === gray) {
      n++;
      return;
    }
    if (n) w.run(gray, n);
    gray = v;
    n = 1;
  };
  for (const c of canvases) {
    const { width, height } = c.rect;
    const px = c.px;
    if (height <= COLUMN_MAX_H) {
      for (let x = 0; x < width; x++) for (let y = 0; y < height; y++) pixel(px[y * width + x]!);
    } else {
      // whole runs at a time: most of a row is one gray
      for (let i = 0; i < px.length; ) {
        const v = px[i]!;
        let j = i + 1;
        while (j < px.length && px[j] === v) j++;
        if (v === gray) n += j - i;
        else {
          if (n) w.run(gray, n);
          gray = v;
          n = j - i;
        }
        i = j;
      }
    }
  }
  if (n) w.run(gray, n);
  w.flushRaw();
  // empty raw blocks carry nothing and let fzstd see the header
  while (start && w.length - 1 < MIN_START) w.push(new Uint8Array(3));
  const out = new Uint8Array(w.length);
  let o = 0;
  for (const ch of w.chunks) {
    out.set(ch, o);
    o += ch.length;
  }
  return out;
}
