// The receiving end of a link's lossless tile stream (protocol/src/frame-format.ts): one zstd
// stream, flushed after every update, decoded block by block as updates arrive.
import { Decompress } from 'fzstd';

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
