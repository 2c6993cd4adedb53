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

export function packTiles(tiles: Uint8Array[]): Buffer {
  let n = 0;
  for (const t of tiles) n += 4 + t.length;
  const out = Buffer.allocUnsafe(n);
  let o = 0;
  for (const t of tiles) {
    out.writeUInt32LE(t.length, o);
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

export function encodeFrameBody(f: FrameMsg): Buffer[] {
  const fixed = Buffer.allocUnsafe(FRAME_FIXED);
  fixed.writeUInt32LE(f.seq >>> 0, 0);
  fixed.writeUInt16LE(f.width, 4);
  fixed.writeUInt16LE(f.height, 6);
  fixed.writeUInt32LE(f.rects.length / 4, 8);
  fixed.writeUInt8((f.full ? 1 : 0) | (f.keyframe ? 2 : 0), 12);
  fixed.writeUInt8(f.codec, 13);
  fixed.writeUInt16LE(0, 14);
  fixed.writeDoubleLE(f.firstDamageUs, 16);
  fixed.writeDoubleLE(f.captureUs, 24);
  fixed.writeDoubleLE(f.sentUs, 32);
  const rects = Buffer.from(f.rects.buffer, f.rects.byteOffset, f.rects.byteLength);
  return [fixed, rects, Buffer.from(f.payload.buffer, f.payload.byteOffset, f.payload.byteLength)];
}

/** Decodes and validates a frame body; a string says what is wrong with it. */
export function decodeFrameBody(p: Buffer): FrameMsg | string {
  if (p.length < FRAME_FIXED) return 'truncated header';
  const width = p.readUInt16LE(4);
  const height = p.readUInt16LE(6);
  if (width < 1 || height < 1 || width > MAX_PICTURE.width || height > MAX_PICTURE.height) return `picture ${width}x${height} out of bounds`;
  const nrects = p.readUInt32LE(8);
  if (nrects < 1 || nrects > MAX_RECTS) return `${nrects} rectangles (1..${MAX_RECTS})`;
  const rectBytes = nrects * 16;
  if (p.length < FRAME_FIXED + rectBytes) return 'truncated rectangles';
  const codec = p.readUInt8(13);
  if (!isCodec(codec)) return `unknown codec ${codec}`;
  // Copy the rectangles so they are aligned for Int32Array.
  const rects = new Int32Array(nrects * 4);
  Buffer.from(rects.buffer).set(p.subarray(FRAME_FIXED, FRAME_FIXED + rectBytes));
  for (let i = 0; i < nrects; i++) {
    const x = rects[i * 4]!, y = rects[i * 4 + 1]!, w = rects[i * 4 + 2]!, h = rects[i * 4 + 3]!;
    if (!(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= width && y + h <= height)) return 'rectangle outside the output';
  }
  const flags = p.readUInt8(12);
  return {
    seq: p.readUInt32LE(0),
    width,
    height,
    full: (flags & 1) !== 0,
    keyframe: (flags & 2) !== 0,
    codec,
    firstDamageUs: p.readDoubleLE(16),
    captureUs: p.readDoubleLE(24),
    sentUs: p.readDoubleLE(32),
    rects,
    payload: p.subarray(FRAME_FIXED + rectBytes),
  };
}
