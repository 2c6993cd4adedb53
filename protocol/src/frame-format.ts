/**
 * How an encoded frame's payload is laid out, on the compositor link and on the wire to
 * terminals alike (a relay forwards it untouched).
 *
 * Tiles: for each rectangle, u32 LE length then that rectangle's tile (mode byte: 0 raw,
 * 1 XOR with the receiver's pixels; then one zstd frame of its BGRX pixels).
 * H.264: one Annex B access unit; the rectangles say which parts of the decoded picture
 * to copy into the receiver's picture (everything else there stays exact).
 */
export const Codec = { Tiles: 1, H264: 2 } as const;
export type CodecId = (typeof Codec)[keyof typeof Codec];

export function isCodec(v: number): v is CodecId {
  return v === Codec.Tiles || v === Codec.H264;
}

export function packTiles(tiles: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const t of tiles) n += 4 + t.length;
  const out = new Uint8Array(n);
  const view = new DataView(out.buffer);
  let o = 0;
  for (const t of tiles) {
    view.setUint32(o, t.length, true);
    out.set(t, o + 4);
    o += 4 + t.length;
  }
  return out;
}

/** Splits a tiles payload into exactly `count` parts, or returns a reason it cannot. */
export function unpackTiles(payload: Uint8Array, count: number): Uint8Array[] | string {
  const parts: Uint8Array[] = [];
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  let o = 0;
  for (let i = 0; i < count; i++) {
    if (o + 4 > payload.length) return `tile ${i} of ${count}: truncated length`;
    const len = view.getUint32(o, true);
    if (len < 2 || o + 4 + len > payload.length) return `tile ${i} of ${count}: length ${len} runs past the payload`;
    parts.push(payload.subarray(o + 4, o + 4 + len));
    o += 4 + len;
  }
  if (o !== payload.length) return `${payload.length - o} bytes after the last tile`;
  return parts;
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
export const MAX_RECTS = 65536;

// seq u32, width u16, height u16, nrects u32, flags u8 (1 full, 2 keyframe), codec u8, pad 2,
// firstDamageUs f64, captureUs f64, sentUs f64, rects (4 x i32 each), payload.
const FRAME_FIXED = 4 + 2 + 2 + 4 + 4 + 8 + 8 + 8;

export function encodeFrameBody(f: FrameMsg): Uint8Array[] {
  const fixed = new Uint8Array(FRAME_FIXED);
  const v = new DataView(fixed.buffer);
  v.setUint32(0, f.seq >>> 0, true);
  v.setUint16(4, f.width, true);
  v.setUint16(6, f.height, true);
  v.setUint32(8, f.rects.length / 4, true);
  v.setUint8(12, (f.full ? 1 : 0) | (f.keyframe ? 2 : 0));
  v.setUint8(13, f.codec);
  v.setFloat64(16, f.firstDamageUs, true);
  v.setFloat64(24, f.captureUs, true);
  v.setFloat64(32, f.sentUs, true);
  const rects = new Uint8Array(f.rects.buffer, f.rects.byteOffset, f.rects.byteLength);
  return [fixed, rects, f.payload];
}

/** Decodes and validates a frame body; a string says what is wrong with it. */
export function decodeFrameBody(p: Uint8Array): FrameMsg | string {
  if (p.length < FRAME_FIXED) return 'truncated header';
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const width = v.getUint16(4, true);
  const height = v.getUint16(6, true);
  if (width < 1 || height < 1 || width > MAX_PICTURE.width || height > MAX_PICTURE.height) return `picture ${width}x${height} out of bounds`;
  const nrects = v.getUint32(8, true);
  if (nrects < 1 || nrects > MAX_RECTS) return `${nrects} rectangles (1..${MAX_RECTS})`;
  const rectBytes = nrects * 16;
  if (p.length < FRAME_FIXED + rectBytes) return 'truncated rectangles';
  const codec = v.getUint8(13);
  if (!isCodec(codec)) return `unknown codec ${codec}`;
  // Copy the rectangles so they are aligned for Int32Array (little-endian hosts only, like the rest).
  const rects = new Int32Array(nrects * 4);
  new Uint8Array(rects.buffer).set(p.subarray(FRAME_FIXED, FRAME_FIXED + rectBytes));
  for (let i = 0; i < nrects; i++) {
    const x = rects[i * 4]!, y = rects[i * 4 + 1]!, w = rects[i * 4 + 2]!, h = rects[i * 4 + 3]!;
    if (!(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= width && y + h <= height)) return 'rectangle outside the output';
  }
  const flags = v.getUint8(12);
  return {
    seq: v.getUint32(0, true),
    width,
    height,
    full: (flags & 1) !== 0,
    keyframe: (flags & 2) !== 0,
    codec,
    firstDamageUs: v.getFloat64(16, true),
    captureUs: v.getFloat64(24, true),
    sentUs: v.getFloat64(32, true),
    rects,
    payload: p.subarray(FRAME_FIXED + rectBytes),
  };
}
