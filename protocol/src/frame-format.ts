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
