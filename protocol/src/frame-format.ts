/**
 * The bodies both links carry verbatim (the compositor link and the wire to terminals: a relay
 * forwards them untouched): encoded frames and cursor images.
 *
 * How an encoded frame's payload is laid out:
 *
 * Tiles: a byte (1: a new zstd stream starts here, 0: the link's stream continues), then the
 * stream's bytes for this update (flushed at its end), which decompress to the B, G, R bytes of
 * every pixel of every rectangle, rectangle after rectangle: column by column for a rectangle
 * at most 64 rows high, row by row otherwise. One stream per link: decode in order.
 * H.264: one Annex B access unit whose picture covers the frame's `video` box of the output
 * (the whole output for full-screen motion, a window's video for a small animation); the
 * rectangles, in output coordinates and inside that box, say which parts to copy into the
 * receiver's picture (everything else there stays exact).
 */
import { MAX_OUTPUT } from './limits.js';

export const Codec = { Tiles: 1, H264: 2 } as const;
export type CodecId = (typeof Codec)[keyof typeof Codec];

export function isCodec(v: number): v is CodecId {
  return v === Codec.Tiles || v === Codec.H264;
}

/**
 * Where one update's time went (µs on the CLOCK_MONOTONIC of the compositor's host). Sent only
 * to a receiver that asked for it: it is a measuring aid, and costs 28 bytes a frame.
 */
export interface FrameTrace {
  /** The compositor read the oldest input event not yet seen in a frame from its link (0: none). */
  inputUs: number;
  /** That event had been written to the focused client's socket (0: no input). */
  deliveredUs: number;
  /** The first client commit that went into this frame. */
  commitUs: number;
  /** Composing of the newest picture in this frame began. */
  composeUs: number;
  /** The newest damage was captured into the compositor's copy of the picture. */
  captureUs: number;
  /** Encoded and written to the compositor's link. */
  sentUs: number;
}

/** Where an H.264 picture sits in the output: x, y even, width and height even and at least 16. */
export interface VideoBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One encoded picture update, as the compositor sends it and a terminal receives it. */
export interface FrameMsg {
  /** Sequence on this link, modulo 2^16; the receiver acknowledges it to return a credit. */
  seq: number;
  width: number;
  height: number;
  /** True when the rectangles cover the whole output (a full picture, e.g. on attach). */
  full: boolean;
  /** An H.264 keyframe: a decoder may start here. */
  keyframe: boolean;
  codec: CodecId;
  rects: Int32Array;
  /** H.264 only (and always there): the part of the output its picture covers. */
  video?: VideoBox;
  trace?: FrameTrace;
  /** Encoded as this file says for `codec`. */
  payload: Uint8Array;
}

/**
 * The tile stream's zstd window (2^20 = 1 MiB): what the sender compresses with, and the most a
 * receiver allocates for it. A stream that announces a bigger window is refused before anything
 * is allocated for it.
 */
export const TILE_WINDOW_LOG = 20;

/** Bounds every receiver enforces (and MAX_OUTPUT). */
export const MAX_RECTS = 65535;
export const SEQ_MODULO = 0x10000;

// A typed character is a few dozen bytes of pixels: the header is a handful of bytes.
// flags u8 (1 full, 2 keyframe, 4 trace; codec in the high nibble), seq u16, then LEB128
// varints: width, height, number of rectangles, and x, y, width, height of each; for H.264
// the video box (x, y, width, height); then the trace if flagged (captureUs f64, then input, delivered, commit, compose as µs before the
// capture and sent as µs after it, each i32; -1 for "no input"); then the payload.
const TRACE_BYTES = 8 + 5 * 4;

class Writer {
  bytes: number[] = [];
  u8(v: number): void {
    this.bytes.push(v & 0xff);
  }
  varint(v: number): void {
    let x = v >>> 0;
    while (x >= 0x80) {
      this.bytes.push((x & 0x7f) | 0x80);
      x >>>= 7;
    }
    this.bytes.push(x);
  }
}

class Reader {
  pos = 0;
  constructor(readonly p: Uint8Array) {}
  u8(): number | null {
    return this.pos < this.p.length ? this.p[this.pos++]! : null;
  }
  /** Up to 28 bits: every field here is far smaller. */
  varint(): number | null {
    let v = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      const b = this.u8();
      if (b === null) return null;
      v |= (b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    return null;
  }
}

function delta(us: number): number {
  return Math.min(0x7fffffff, Math.max(-1, Math.round(us)));
}

export function encodeFrameBody(f: FrameMsg): Uint8Array[] {
  const w = new Writer();
  w.u8((f.full ? 1 : 0) | (f.keyframe ? 2 : 0) | (f.trace ? 4 : 0) | (f.codec << 4));
  w.u8(f.seq);
  w.u8(f.seq >>> 8);
  w.varint(f.width);
  w.varint(f.height);
  w.varint(f.rects.length / 4);
  for (let i = 0; i < f.rects.length; i++) w.varint(f.rects[i]!);
  if (f.codec === Codec.H264) {
    const v = f.video;
    if (!v) throw new Error('an H.264 frame needs its video box');
    w.varint(v.x);
    w.varint(v.y);
    w.varint(v.width);
    w.varint(v.height);
  }
  const head = new Uint8Array(w.bytes.length + (f.trace ? TRACE_BYTES : 0));
  head.set(w.bytes);
  const t = f.trace;
  if (t) {
    const v = new DataView(head.buffer, w.bytes.length);
    v.setFloat64(0, t.captureUs, true);
    v.setInt32(8, t.inputUs ? delta(t.captureUs - t.inputUs) : -1, true);
    v.setInt32(12, t.deliveredUs ? delta(t.captureUs - t.deliveredUs) : -1, true);
    v.setInt32(16, delta(t.captureUs - t.commitUs), true);
    v.setInt32(20, delta(t.captureUs - t.composeUs), true);
    v.setInt32(24, delta(t.sentUs - t.captureUs), true);
  }
  return [head, f.payload];
}

/** Decodes and validates a frame body; a string says what is wrong with it. */
export function decodeFrameBody(p: Uint8Array): FrameMsg | string {
  const r = new Reader(p);
  const flags = r.u8();
  const lo = r.u8();
  const hi = r.u8();
  const width = r.varint();
  const height = r.varint();
  const nrects = r.varint();
  if (flags === null || hi === null || lo === null || width === null || height === null || nrects === null) return 'truncated header';
  if (width < 1 || height < 1 || width > MAX_OUTPUT.width || height > MAX_OUTPUT.height) return `picture ${width}x${height} out of bounds`;
  const codec = flags >> 4;
  if (!isCodec(codec)) return `unknown codec ${codec}`;
  if (flags & 8) return 'unknown flags';
  if (nrects < 1) return 'no rectangles';
  if (nrects > MAX_RECTS || nrects * 4 > p.length) return 'truncated rectangles';
  const rects = new Int32Array(nrects * 4);
  for (let i = 0; i < nrects * 4; i++) {
    const v = r.varint();
    if (v === null) return 'truncated rectangles';
    rects[i] = v;
  }
  // Rectangles never overlap, so together they cover at most the picture: more is a frame made
  // to make a decoder allocate or work for many pictures' worth of pixels.
  let area = 0;
  for (let i = 0; i < nrects; i++) {
    const x = rects[i * 4]!, y = rects[i * 4 + 1]!, w = rects[i * 4 + 2]!, h = rects[i * 4 + 3]!;
    if (!(w > 0 && h > 0 && x + w <= width && y + h <= height)) return 'rectangle outside the output';
    area += w * h;
  }
  if (area > width * height) return `rectangles cover ${area} pixels, more than the ${width}x${height} picture`;
  let video: VideoBox | undefined;
  if (codec === Codec.H264) {
    const vx = r.varint(), vy = r.varint(), vw = r.varint(), vh = r.varint();
    if (vx === null || vy === null || vw === null || vh === null) return 'truncated video box';
    if (vx % 2 || vy % 2 || vw % 2 || vh % 2 || vw < 16 || vh < 16 || vx + vw > width + 1 || vy + vh > height + 1) {
      return `video box ${vw}x${vh} at ${vx},${vy} does not fit the ${width}x${height} output`;
    }
    for (let i = 0; i < nrects; i++) {
      const x = rects[i * 4]!, y = rects[i * 4 + 1]!;
      if (x < vx || y < vy || x + rects[i * 4 + 2]! > vx + vw || y + rects[i * 4 + 3]! > vy + vh) return 'rectangle outside the video box';
    }
    video = { x: vx, y: vy, width: vw, height: vh };
  }
  let trace: FrameTrace | undefined;
  if (flags & 4) {
    if (p.length < r.pos + TRACE_BYTES) return 'truncated trace';
    const v = new DataView(p.buffer, p.byteOffset + r.pos, TRACE_BYTES);
    const captureUs = v.getFloat64(0, true);
    const before = (off: number): number => (v.getInt32(off, true) < 0 ? 0 : captureUs - v.getInt32(off, true));
    trace = {
      captureUs,
      inputUs: before(8),
      deliveredUs: before(12),
      commitUs: before(16),
      composeUs: before(20),
      sentUs: captureUs + Math.max(0, v.getInt32(24, true)),
    };
    r.pos += TRACE_BYTES;
  }
  const f: FrameMsg = {
    seq: lo | (hi << 8),
    width,
    height,
    full: (flags & 1) !== 0,
    keyframe: (flags & 2) !== 0,
    codec,
    rects,
    payload: p.subarray(r.pos),
  };
  if (video) f.video = video;
  if (trace) f.trace = trace;
  return f;
}

/** The client's cursor: the terminal draws the pointer itself, with no round trip. */
export interface CursorMsg {
  /** 0: no client cursor (the terminal's default arrow), 1: this image, 2: hidden. */
  mode: 0 | 1 | 2;
  width: number;
  height: number;
  hotspotX: number;
  hotspotY: number;
  /** Premultiplied ARGB8888 (BGRA bytes), width*height*4, or null. */
  pixels: Uint8Array | null;
}

// mode u32, width u16, height u16, hotspot x i16, hotspot y i16, then the pixels.
export function encodeCursorBody(c: CursorMsg): Uint8Array[] {
  const fixed = new Uint8Array(12);
  const v = new DataView(fixed.buffer);
  v.setUint32(0, c.mode, true);
  v.setUint16(4, c.width, true);
  v.setUint16(6, c.height, true);
  v.setInt16(8, c.hotspotX, true);
  v.setInt16(10, c.hotspotY, true);
  return c.pixels ? [fixed, c.pixels] : [fixed];
}

/** Decodes and validates a cursor body; a string says what is wrong with it. */
export function decodeCursorBody(p: Uint8Array): CursorMsg | string {
  if (p.length < 12) return 'truncated header';
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const mode = v.getUint32(0, true);
  const width = v.getUint16(4, true);
  const height = v.getUint16(6, true);
  if (mode > 2) return `unknown mode ${mode}`;
  if (width > 256 || height > 256 || p.length !== 12 + width * height * 4) return 'image size mismatch';
  return {
    mode: mode as 0 | 1 | 2,
    width,
    height,
    hotspotX: v.getInt16(8, true),
    hotspotY: v.getInt16(10, true),
    pixels: width * height ? p.subarray(12) : null,
  };
}
