// The per-frame choice between lossless tiles and video, and the video encoder's lifetime.
import { afterEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { H264Decoder, TileCodec } from '@waydesk/native-codec';
import { Codec } from '@waydesk/protocol/frame-format';
import { DEFAULT_ENCODER, RELEASE_VIDEO_AFTER_MS, StreamEncoder } from '../../compositor/src/stream-encoder.js';

const W = 640;
const H = 360;
const whole = Int32Array.of(0, 0, W, H);

/** Gradients that move with t: every pixel changes from one picture to the next. */
function picture(t: number): { width: number; height: number; pixels: Buffer } {
  const pixels = Buffer.alloc(W * H * 4);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 4;
      pixels[i] = (x + t * 40) & 0xff;
      pixels[i + 1] = (y * 2 + t * 30) & 0xff;
      pixels[i + 2] = ((x + y) / 2 + t * 70) & 0xff;
      pixels[i + 3] = 0xff;
    }
  return { width: W, height: H, pixels };
}

describe('StreamEncoder', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('gives the video encoder back after a quiet spell, and the next video starts with a keyframe', () => {
    vi.useFakeTimers();
    const enc = new StreamEncoder(W, H, DEFAULT_ENCODER, pino({ level: 'silent' }));
    const first = enc.encode(picture(1), whole, 0)!;
    expect(first.codec).toBe(Codec.H264);
    expect(enc.videoOpen).toBe(true);
    // Video keeps coming: the encoder stays, and its frames are not keyframes.
    vi.advanceTimersByTime(RELEASE_VIDEO_AFTER_MS - 1000);
    const more = enc.encode(picture(2), whole, RELEASE_VIDEO_AFTER_MS - 1000)!;
    expect(more.codec === Codec.H264 && !more.keyframe).toBe(true);
    vi.advanceTimersByTime(RELEASE_VIDEO_AFTER_MS - 1000);
    expect(enc.videoOpen).toBe(true);
    // Quiet for the whole spell: released.
    vi.advanceTimersByTime(1000);
    expect(enc.videoOpen).toBe(false);
    expect(enc.encoderName).toBe('libx264');
    // A receiver that kept the old stream decodes the new one from its keyframe.
    const dec = new H264Decoder();
    const fb = Buffer.alloc(W * H * 4);
    dec.decode(Buffer.from(first.payload), fb, W, H, null);
    dec.decode(Buffer.from(more.payload), fb, W, H, null);
    const again = enc.encode(picture(3), whole, 3 * RELEASE_VIDEO_AFTER_MS)!;
    expect(again.codec === Codec.H264 && again.keyframe).toBe(true);
    dec.decode(Buffer.from(again.payload), fb, W, H, null);
    const want = picture(3).pixels;
    let se = 0;
    for (let i = 0; i < fb.length; i += 4) for (let c = 0; c < 3; c++) se += (fb[i + c]! - want[i + c]!) ** 2;
    expect(10 * Math.log10((255 * 255) / (se / ((fb.length / 4) * 3)))).toBeGreaterThan(25);
    dec.close();
    enc.close();
  });

  it('sends exact updates when the video encoder cannot be opened, and the picture stays right', () => {
    // x264 here takes at most 8192 pixels a side: a wider desktop makes opening it fail for real.
    const w = 8200, h = 32;
    const log: string[] = [];
    const enc = new StreamEncoder(w, h, DEFAULT_ENCODER, pino({ level: 'error' }, { write: (l: string) => log.push(l) }));
    const pixels = Buffer.alloc(w * h * 4);
    for (let i = 0; i < pixels.length; i += 4) pixels.writeUInt32LE((0xff000000 | (i * 40503)) >>> 0, i);
    const e = enc.encode({ width: w, height: h, pixels }, Int32Array.of(0, 0, w, h), 0)!;
    expect(e.codec).toBe(Codec.Tiles);
    expect(log.join('')).toMatch(/video encoder failed; sending exact updates instead/);
    const tiles = new TileCodec();
    const fb = Buffer.alloc(w * h * 4);
    expect(tiles.decode(Buffer.from(e.payload), fb, w, h, e.rects)).toBe(true);
    for (let i = 0; i < fb.length; i += 4) if ((fb.readUInt32LE(i) & 0xffffff) !== (pixels.readUInt32LE(i) & 0xffffff)) throw new Error(`pixel ${i / 4} differs`);
    enc.close();
  });

  it('encodes only where video is, follows it when it moves, without a keyframe every few pixels', () => {
    const enc = new StreamEncoder(W, H, DEFAULT_ENCODER, pino({ level: 'silent' }));
    const pic = picture(0);
    let t = 0;
    let keyframes = 0;
    const boxes: Array<{ x: number; y: number; width: number; height: number }> = [];
    const frame = (x: number, y: number): void => {
      // a 100x100 animation: more than 8,000 pixels a frame, so video once it keeps changing
      for (let row = y; row < y + 100; row++) pic.pixels.fill(t & 0xff, (row * W + x) * 4, (row * W + x + 100) * 4);
      const e = enc.encode(pic, Int32Array.of(x, y, 100, 100), (t += 33));
      if (!e || e.codec !== Codec.H264) return;
      const v = e.video!;
      boxes.push(v);
      if (e.keyframe) keyframes++;
      // every rectangle lies inside the picture's box: the terminal refuses anything else
      for (let i = 0; i < e.rects.length; i += 4) {
        expect(e.rects[i]! >= v.x && e.rects[i + 1]! >= v.y && e.rects[i]! + e.rects[i + 2]! <= v.x + v.width && e.rects[i + 1]! + e.rects[i + 3]! <= v.y + v.height).toBe(true);
      }
    };
    for (let i = 0; i < 90; i++) frame(200, 100); // 3 s in place
    const still = boxes.at(-1)!;
    expect(still.width * still.height).toBeLessThanOrEqual(144 * 144); // the square in whole macroblocks
    expect(keyframes).toBeLessThanOrEqual(2);
    keyframes = 0;
    for (let i = 0; i < 60; i++) frame(200 + i * 4, 100); // dragged right, 4 px a frame, for 2 s
    expect(keyframes).toBeLessThanOrEqual(6);
    enc.close();
  });
});
