// The receiving end of a link's lossless tile stream (protocol/src/frame-format.ts): one zstd
// stream, flushed after every update, decoded block by block as updates arrive.
import { Decompress } from 'fzstd';
import { TILE_WINDOW_LOG } from '@waydesk/protocol/frame-format';

/**
 * The window a zstd frame header announces (RFC 8878 3.1.1.1), read before fzstd allocates it:
 * fzstd takes any size a header names, up to 2 GB.
 */
function announcedWindow(z: Uint8Array): number {
  if (z.length < 6 || z[0] !== 0x28 || z[1] !== 0xb5 || z[2] !== 0x2f || z[3] !== 0xfd) return Infinity;
  const fhd = z[4]!;
  if (fhd & 0x20) {
    // single segment: the window is the content size, in 1, 2, 4 or 8 bytes after the dictionary id
    const fcsBytes = [1, 2, 4, 8][fhd >> 6]!;
    const at = 5 + [0, 1, 2, 4][fhd & 3]!;
    if (z.length < at + fcsBytes) return Infinity;
    let v = 0;
    for (let i = fcsBytes - 1; i >= 0; i--) v = v * 256 + z[at + i]!;
    return fcsBytes === 2 ? v + 256 : v;
  }
  const wd = z[5]!;
  const base = 2 ** (10 + (wd >> 3));
  return base + (base / 8) * (wd & 7);
}

/** Rectangles at most this high travel column by column (see frame-format.ts). */
export const COLUMN_MAX_H = 64;

export class TileStream {
  #z: Decompress | null = null;
  #out: Uint8Array[] = [];
  /** Bytes this update may still produce: a stream that would exceed it is stopped as it goes. */
  #room = 0;

  /** The B, G, R bytes of one update. Throws when the stream is corrupt or started before we joined. */
  next(payload: Uint8Array, expected: number): Uint8Array {
    const mode = payload[0];
    if (mode === 1) {
      this.#z = null;
      if (announcedWindow(payload.subarray(1)) > 2 ** TILE_WINDOW_LOG) throw new Error('tiles: the stream announces a window larger than the protocol allows');
      this.#z = new Decompress((chunk) => {
        if (!chunk.length) return;
        this.#room -= chunk.length;
        if (this.#room < 0) throw new Error('more pixels than the rectangles hold');
        this.#out.push(chunk.slice());
      });
    } else if (mode !== 0) {
      throw new Error(`tiles: unknown mode ${mode}`);
    }
    const z = this.#z;
    if (!z) throw new Error('tiles: this update continues a stream that began before this terminal joined');
    this.#out = [];
    this.#room = expected;
    try {
      // A copy: fzstd keeps a view of what follows the last whole block, and a view would keep
      // the whole WebSocket message alive.
      z.push(payload.slice(1));
      // Every update ends on a block boundary, where fzstd 0.1.1 still queues an empty view
      // (it clears its queue only when bytes are pending): drop it, or the queue grows a view
      // per update for as long as the stream lasts.
      const internals = z as unknown as { c: Uint8Array[]; l: number };
      if (internals.l === 0) internals.c = [];
    } catch (err) {
      this.#z = null;
      throw new Error(`tiles: corrupt stream (${(err as Error).message})`);
    }
    let n = 0;
    for (const c of this.#out) n += c.length;
    if (n !== expected) {
      this.#z = null;
      throw new Error(`tiles: ${n} bytes for ${expected}`);
    }
    if (this.#out.length === 1) return this.#out[0]!;
    const data = new Uint8Array(n);
    let o = 0;
    for (const c of this.#out) {
      data.set(c, o);
      o += c.length;
    }
    return data;
  }
}
