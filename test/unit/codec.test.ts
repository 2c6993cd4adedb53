// The streaming codec against an independent reference: Debian's ffmpeg decodes what we encode.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { H264Decoder, H264Encoder, TileCodec, chooseEncoder } from '@waydesk/native/codec';

const W = 640;
const H = 360;

/** A desktop-like picture that moves: gradients, a sliding window, text-like stripes. */
function picture(t: number): Buffer {
  const b = Buffer.alloc(W * H * 4);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 4;
      const inWin = x > 40 + t * 8 && x < 300 + t * 8 && y > 60 && y < 280;
      const text = inWin && y % 14 < 9 && ((x * 7 + y * 3 + (y >> 4) * 11) % 9 < 4);
      b[i] = inWin ? (text ? 20 : 235) : (x + t * 4) & 0xff;
      b[i + 1] = inWin ? (text ? 20 : 235) : (y * 2) & 0xff;
      b[i + 2] = inWin ? (text ? 30 : 240) : ((x + y) >> 1) & 0xff;
      b[i + 3] = 255;
    }
  }
  return b;
}

/** PSNR over the Y-ish luminance of two BGRX pictures. */
function psnr(a: Uint8Array, b: Uint8Array): number {
  let se = 0;
  let n = 0;
  for (let i = 0; i < W * H * 4; i += 4) {
    for (let c = 0; c < 3; c++) {
      const d = a[i + c]! - b[i + c]!;
      se += d * d;
      n++;
    }
  }
  return se === 0 ? 99 : 10 * Math.log10((255 * 255) / (se / n));
}

describe('H.264', () => {
  it('encodes a stream Debian ffmpeg decodes at ≥ 35 dB, and so does our decoder', () => {
    const enc = new H264Encoder({ width: W, height: H, fps: 30, crf: 23, maxKbps: 0, intraRefresh: false, preset: 'ultrafast' });
    expect(enc.name).toBe('libx264');
    const dec = new H264Decoder();
    const ours = Buffer.alloc(W * H * 4);
    const frames = 30;
    const sources: Buffer[] = [];
    const packets: Buffer[] = [];
    for (let t = 0; t < frames; t++) {
      const src = picture(t);
      sources.push(src);
      const { data, keyframe } = enc.encode(src, null, t === 0);
      expect(keyframe).toBe(t === 0); // one packet per frame, keyframe only when asked
      packets.push(data);
      dec.decode(data, ours, W, H, null);
      expect(psnr(ours, src)).toBeGreaterThanOrEqual(35);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-h264-'));
    const file = path.join(dir, 'stream.h264');
    fs.writeFileSync(file, Buffer.concat(packets));
    const raw = execFileSync('ffmpeg', ['-v', 'error', '-f', 'h264', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'bgra', '-'], { maxBuffer: 1 << 28 });
    fs.rmSync(dir, { recursive: true });
    expect(raw.length).toBe(frames * W * H * 4);
    for (let t = 0; t < frames; t++) {
      expect(psnr(raw.subarray(t * W * H * 4, (t + 1) * W * H * 4), sources[t]!)).toBeGreaterThanOrEqual(35);
    }
    enc.close();
    dec.close();
  });

  it('makes a keyframe on request and keeps P-frames of a still desktop tiny', () => {
    const enc = new H264Encoder({ width: W, height: H, fps: 60, crf: 23, maxKbps: 0, intraRefresh: false, preset: 'ultrafast' });
    const still = picture(0);
    const first = enc.encode(still, null, true);
    const p = enc.encode(still, Int32Array.from([10, 10, 20, 20]), false);
    const again = enc.encode(still, null, true);
    expect(first.keyframe && again.keyframe && !p.keyframe).toBe(true);
    expect(p.data.length).toBeLessThan(first.data.length / 20);
    enc.close();
  });

  it('decodes only the rectangles it is told to, leaving lossless pixels alone', () => {
    const enc = new H264Encoder({ width: W, height: H, fps: 60, crf: 23, maxKbps: 0, intraRefresh: false, preset: 'ultrafast' });
    const dec = new H264Decoder();
    const fb = Buffer.alloc(W * H * 4, 0x7f);
    dec.decode(enc.encode(picture(3), null, true).data, fb, W, H, Int32Array.from([100, 100, 50, 40]));
    expect(fb.readUInt32LE(0)).toBe(0x7f7f7f7f);
    expect(fb.readUInt32LE((99 * W + 99) * 4)).toBe(0x7f7f7f7f);
    expect(fb.readUInt32LE((120 * W + 120) * 4)).not.toBe(0x7f7f7f7f);
    expect(() => dec.decode(Buffer.from([0, 0, 0, 1, 0x65, 1, 2, 3]), fb, W, H, null)).toThrow(/decode/);
    enc.close();
    dec.close();
  });

  it('falls back to x264 when no VAAPI device works, and says why', () => {
    const none = chooseEncoder({ width: W, height: H, fps: 60, crf: 23, maxKbps: 0, intraRefresh: false, preset: 'ultrafast' }, []);
    expect(none.encoder.name).toBe('libx264');
    expect(none.reason).toMatch(/no DRM render node/);
    none.encoder.close();
    const broken = chooseEncoder({ width: W, height: H, fps: 60, crf: 23, maxKbps: 0, intraRefresh: false, preset: 'ultrafast' }, ['/nonexistent/renderD128']);
    expect(broken.encoder.name).toBe('libx264');
    expect(broken.reason).toMatch(/VAAPI failed \(\/nonexistent\/renderD128: .+\), so x264/);
    broken.encoder.close();
  });
});

describe('lossless tiles', () => {
  it('round-trip bit-exact (B, G, R), raw or as XOR against what the receiver has', () => {
    const t = new TileCodec();
    const prev = picture(0);
    const cur = Buffer.from(prev);
    // "type a character": change a 7x14 cell inside a 200x20 text row, and the cursor elsewhere
    for (let y = 103; y < 117; y++) for (let x = 150; x < 157; x++) cur.writeUInt32LE(0xff101010, (y * W + x) * 4);
    for (let y = 200; y < 214; y++) for (let x = 10; x < 17; x++) cur.writeUInt32LE(0xffe0e0e0, (y * W + x) * 4);
    const rects = Int32Array.of(100, 100, 200, 20, 8, 198, 16, 16);
    const xor = t.encode(cur, prev, W, H, rects);
    const raw = t.encode(cur, null, W, H, rects);
    expect(xor[0]).toBe(1);
    expect(raw[0]).toBe(0);
    expect(xor.length).toBeLessThan(raw.length);
    expect(xor.length).toBeLessThan(600);
    const rgb = (b: Buffer): Buffer => Buffer.from(b.filter((_, i) => i % 4 !== 3));
    const fb1 = Buffer.from(prev);
    expect(t.decode(xor, fb1, W, H, rects)).toBe(true);
    expect(Buffer.compare(rgb(fb1), rgb(cur))).toBe(0);
    const fb2 = Buffer.alloc(W * H * 4);
    prev.copy(fb2);
    expect(t.decode(raw, fb2, W, H, rects)).toBe(true);
    expect(Buffer.compare(rgb(fb2), rgb(cur))).toBe(0);
  });

  it('refuses corrupt data and rectangles outside the picture', () => {
    const t = new TileCodec();
    const fb = Buffer.alloc(W * H * 4);
    const one = Int32Array.of(0, 0, 32, 32);
    const good = t.encode(picture(1), null, W, H, one);
    expect(t.decode(good, fb, W, H, Int32Array.of(0, 0, 16, 16))).toBe(false); // size mismatch
    expect(t.decode(good.subarray(0, good.length - 3), fb, W, H, one)).toBe(false);
    expect(t.decode(Buffer.from([7, 1, 2]), fb, W, H, one)).toBe(false);
    expect(t.decode(good, fb, W, H, Int32Array.of(W - 8, 0, 32, 32))).toBe(false);
    expect(t.decode(good, fb, W, H, new Int32Array(0))).toBe(false);
    expect(() => t.encode(fb, null, W, H, Int32Array.of(-1, 0, 4, 4))).toThrow(/outside/);
  });
});
