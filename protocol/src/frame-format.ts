/**
 * The bodies both links carry verbatim (the compositor link and the wire to terminals: a relay
 * forwards them untouched): encoded frames and cursor images.
 *
 * How an encoded frame's payload is laid out:
 *
 * Tiles: a mode byte (0 raw, 1 XOR with the receiver's pixels), then one zstd frame holding the
 * B, G, R bytes of every pixel of every rectangle, rectangle after rectangle, row by row.
 * H.264: one Annex B access unit; the rectangles say which parts of the decoded picture
 * to copy into the receiver's picture (everything else there stays exact).
 */
export const Codec = { Tiles: 1, H264: 2 } as const;
export type CodecId = (typeof Codec)[keyof typeof Codec];

export function isCodec(v: number): v is CodecId {
  return v === Codec.Tiles || v === Codec.H264;
}

/** One encoded picture update, as the compositor sends it and a terminal receives it. */
export interface FrameMsg {
  /** Sequence on this link; the receiver acknowledges it to return a credit. */
  seq: number;
  /** CLOCK_MONOTONIC microseconds: oldest damage in the frame, newest damage, put on the link. */
  firstDamageUs: number;
  captureUs: number;
  sentUs: number;
  width: number;
  height: number;
  /** True when the rectangles cover the whole output (a full picture, e.g. on attach). */
  full: boolean;
  /** An H.264 keyframe: a decoder may start here. */
  keyframe: boolean;
  codec: CodecId;
  rects: Int32Array;
  /** Encoded as this file says for `codec`. */
  payload: Uint8Array;
}

/** Bounds every receiver enforces. */
export const MAX_PICTURE = { width: 7680, height: 4320 } as const;
export const MAX_RECTS = 65535;

// A typed character is ~100 bytes of pixels: the header stays small.
// seq u32, width u16, height u16, nrects u16, flags u8 (1 full, 2 keyframe), codec u8,
// captureUs f64, µs from first damage to capture u32, µs from capture to sending u32,
// then per rectangle x, y, width, height as u16, then the payload.
const FRAME_FIXED = 4 + 2 + 2 + 2 + 1 + 1 + 8 + 4 + 4;

function delta(us: number): number {
  return Math.min(0xffffffff, Math.max(0, Math.round(us)));
}

export function encodeFrameBody(f: FrameMsg): Uint8Array[] {
  const n = f.rects.length / 4;
  const head = new Uint8Array(FRAME_FIXED + n * 8);
  const v = new DataView(head.buffer);
  v.setUint32(0, f.seq >>> 0, true);
  v.setUint16(4, f.width, true);
  v.setUint16(6, f.height, true);
  v.setUint16(8, n, true);
  v.setUint8(10, (f.full ? 1 : 0) | (f.keyframe ? 2 : 0));
  v.setUint8(11, f.codec);
  v.setFloat64(12, f.captureUs, true);
  v.setUint32(20, delta(f.captureUs - f.firstDamageUs), true);
  v.setUint32(24, delta(f.sentUs - f.captureUs), true);
  for (let i = 0; i < f.rects.length; i++) v.setUint16(FRAME_FIXED + i * 2, f.rects[i]!, true);
  return [head, f.payload];
}

/** Decodes and validates a frame body; a string says what is wrong with it. */
export function decodeFrameBody(p: Uint8Array): FrameMsg | string {
  if (p.length < FRAME_FIXED) return 'truncated header';
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const width = v.getUint16(4, true);
  const height = v.getUint16(6, true);
  if (width < 1 || height < 1 || width > MAX_PICTURE.width || height > MAX_PICTURE.height) return `picture ${width}x${height} out of bounds`;
  const nrects = v.getUint16(8, true);
  if (nrects < 1) return 'no rectangles';
  const rectBytes = nrects * 8;
  if (p.length < FRAME_FIXED + rectBytes) return 'truncated rectangles';
  const codec = v.getUint8(11);
  if (!isCodec(codec)) return `unknown codec ${codec}`;
  const rects = new Int32Array(nrects * 4);
  for (let i = 0; i < nrects * 4; i++) rects[i] = v.getUint16(FRAME_FIXED + i * 2, true);
  for (let i = 0; i < nrects; i++) {
    const x = rects[i * 4]!, y = rects[i * 4 + 1]!, w = rects[i * 4 + 2]!, h = rects[i * 4 + 3]!;
    if (!(w > 0 && h > 0 && x + w <= width && y + h <= height)) return 'rectangle outside the output';
  }
  const flags = v.getUint8(10);
  const captureUs = v.getFloat64(12, true);
  return {
    seq: v.getUint32(0, true),
    width,
    height,
    full: (flags & 1) !== 0,
    keyframe: (flags & 2) !== 0,
    codec,
    firstDamageUs: captureUs - v.getUint32(20, true),
    captureUs,
    sentUs: captureUs + v.getUint32(24, true),
    rects,
    payload: p.subarray(FRAME_FIXED + rectBytes),
  };
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
