// The per-frame choice between lossless tiles and video, and the video encoder's lifetime.
import { afterEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { H264Decoder } from '@waydesk/native/codec';
import { Codec } from '@waydesk/protocol/frame-format';
import { DEFAULT_ENCODER, RELEASE_VIDEO_AFTER_MS, StreamEncoder } from '../../compositor/src/stream-encoder.js';

const W = 640;
const H = 360;
const whole = Int32Array.of(0, 0, W, H);

function picture(t: number): { width: number; height: number; pixels: Buffer } {
  const pixels = Buffer.alloc(W * H * 4);
  for (let i = 0; i < pixels.length; i += 4) pixels.writeUInt32LE((((((i / 4) * 2654435761 + t * 977) >>> 8) | 0xff000000) >>> 0), i);
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
    expect(enc.encoderName).toBe('libx264');
    // Video keeps coming: the encoder stays, and its frames are not keyframes.
    vi.advanceTimersByTime(RELEASE_VIDEO_AFTER_MS - 1000);
    const more = enc.encode(picture(2), whole, RELEASE_VIDEO_AFTER_MS - 1000)!;
    expect(more.codec === Codec.H264 && !more.keyframe).toBe(true);
    vi.advanceTimersByTime(RELEASE_VIDEO_AFTER_MS - 1000);
    expect(enc.encoderName).toBe('libx264');
    // Quiet for the whole spell: released.
    vi.advanceTimersByTime(1000);
    expect(enc.encoderName).toBe('none');
    // A receiver that kept the old stream decodes the new one from its keyframe.
    const again = enc.encode(picture(3), whole, 3 * RELEASE_VIDEO_AFTER_MS)!;
    expect(again.codec === Codec.H264 && again.keyframe).toBe(true);
    const dec = new H264Decoder();
    const fb = Buffer.alloc(W * H * 4);
    expect(() => dec.decode(Buffer.from(again.payload), fb, W, H, null)).not.toThrow();
    dec.close();
    enc.close();
  });
});
