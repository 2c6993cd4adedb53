// The streaming codec against an independent reference: Debian's ffmpeg decodes what we encode.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { H264Decoder, H264Encoder, TileCodec, chooseEncoder } from '@waydesk/native-codec';

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

  it('spends the rate cap over real time, whatever the frame rate (video at 30 fps on a 60 Hz output)', () => {
    // A cap well under what CRF 23 wants for this moving picture, so the cap sets the rate.
    const capKbps = 300;
    const rate = (fps: number): number => {
      const enc = new H264Encoder({ width: W, height: H, fps: 60, crf: 23, maxKbps: capKbps, intraRefresh: false, preset: 'ultrafast' });
      let bytes = 0;
      const n = 60;
      for (let i = 0; i < n; i++) {
        const { data } = enc.encode(picture(i % 30), null, i === 0, (i * 1000) / fps);
        if (i > 0) bytes += data.length; // the keyframe is allowed its burst
      }
      enc.close();
      return (bytes * 8) / ((n - 1) / fps) / 1000;
    };
    for (const fps of [30, 60]) {
      const kbps = rate(fps);
      expect(kbps, `${fps} fps`).toBeLessThanOrEqual(capKbps * 1.1);
      // Before pictures carried their time, 30 fps video got half the cap.
      expect(kbps, `${fps} fps`).toBeGreaterThanOrEqual(capKbps * 0.75);
    }
    // Pictures 2 frames apart, then 0.5 s apart (pauses, or a slow link holding them back):
    // the pauses must not make frames bigger, or a slow link would get ever bigger frames.
    const enc = new H264Encoder({ width: W, height: H, fps: 60, crf: 23, maxKbps: capKbps, intraRefresh: false, preset: 'ultrafast' });
    let t = 0;
    for (let i = 0; i < 30; i++) enc.encode(picture(i % 30), null, i === 0, (t += 1000 / 30));
    let bytes = 0;
    for (let i = 0; i < 30; i++) bytes += enc.encode(picture(i % 30), null, false, (t += 500)).data.length;
    enc.close();
    const perFrame30fps = (capKbps * 1000) / 30 / 8;
    expect(bytes / 30).toBeLessThanOrEqual(perFrame30fps * 1.2);
  });

  it('encodes a part of the picture (a video window) and puts it back in its place', () => {
    const box = { x: 160, y: 96, width: 240, height: 160 };
    const enc = new H264Encoder({ width: box.width, height: box.height, fps: 30, crf: 23, maxKbps: 0, intraRefresh: false, preset: 'ultrafast' });
    const dec = new H264Decoder();
    const fb = Buffer.alloc(W * H * 4, 0x7f);
    const src = picture(5);
    const inBox = Int32Array.of(170, 100, 200, 150);
    const key = enc.encode(src, null, true, 0, { x: box.x, y: box.y, frameWidth: W });
    dec.decode(key.data, fb, W, H, inBox, box);
    // a delta frame with rectangles in the desktop's coordinates
    const p = enc.encode(src, inBox, false, 33, { x: box.x, y: box.y, frameWidth: W });
    dec.decode(p.data, fb, W, H, inBox, box);
    let se = 0, n = 0, untouched = 0, outside = 0;
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const i = (y * W + x) * 4;
        if (x >= 170 && x < 370 && y >= 100 && y < 250) {
          for (let c = 0; c < 3; c++) se += (fb[i + c]! - src[i + c]!) ** 2;
          n += 3;
        } else {
          outside++;
          if (fb.readUInt32LE(i) === 0x7f7f7f7f) untouched++;
        }
      }
    expect(10 * Math.log10((255 * 255) / (se / n))).toBeGreaterThan(35);
    expect(untouched).toBe(outside);
    // the picture covers its box only: a rectangle beyond it, or a box that does not match, is refused
    expect(() => dec.decode(p.data, fb, W, H, Int32Array.of(100, 100, 20, 20), box)).toThrow(/outside the decoded/);
    expect(() => dec.decode(enc.encode(src, null, true, 66, { x: box.x, y: box.y, frameWidth: W }).data, fb, W, H, null, { ...box, width: 320 })).toThrow(/does not match its/);
    expect(() => enc.encode(src, null, false, 99, { x: W - 100, y: 0, frameWidth: W })).toThrow(/frame smaller/);
    enc.close();
    dec.close();
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

  it('refuses a stream that announces pictures bigger than the screen before decoding it', () => {
    const enc = new H264Encoder({ width: 1920, height: 1080, fps: 60, crf: 23, maxKbps: 0, intraRefresh: false, preset: 'ultrafast' });
    const big = enc.encode(Buffer.alloc(1920 * 1080 * 4, 0x40), null, true).data;
    enc.close();
    const dec = new H264Decoder();
    expect(() => dec.decode(big, Buffer.alloc(W * H * 4), W, H, null)).toThrow(/announces 1920x1088 pictures .* for a 640x360 box/);
    // and the same stream still decodes where it fits
    const fb = Buffer.alloc(1920 * 1080 * 4);
    dec.decode(big, fb, 1920, 1080, null);
    expect(Math.abs(fb[(540 * 1920 + 960) * 4]! - 0x40)).toBeLessThan(4);
    dec.close();
  });

  it('decodes pictures whose width is not a multiple of the decoder alignment (800x600, 1366x768)', () => {
    for (const [w, h] of [[800, 600], [1366, 768]] as const) {
      const src = Buffer.alloc(w * h * 4);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) src.set([(x * 255) / w, (y * 255) / h, 128, 255], (y * w + x) * 4);
      const enc = new H264Encoder({ width: w, height: h, fps: 60, crf: 18, maxKbps: 0, intraRefresh: false, preset: 'ultrafast' });
      const dec = new H264Decoder();
      const fb = Buffer.alloc(w * h * 4);
      dec.decode(enc.encode(src, null, true).data, fb, w, h, null);
      let se = 0;
      for (let i = 0; i < w * h * 4; i += 4) for (let c = 0; c < 3; c++) se += (src[i + c]! - fb[i + c]!) ** 2;
      expect(10 * Math.log10((255 * 255) / (se / (w * h * 3)))).toBeGreaterThan(30);
      enc.close();
      dec.close();
    }
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
  const rgb = (b: Buffer): Buffer => Buffer.from(b.filter((_, i) => i % 4 !== 3));
  /** Paints a 7x14 "glyph" (a pattern keyed by ch) at x, y. */
  const glyph = (pic: Buffer, x0: number, y0: number, ch: number): void => {
    for (let y = 0; y < 14; y++)
      for (let x = 0; x < 7; x++) pic.writeUInt32LE((x * 3 + y * ch) % 5 < 2 ? 0xff101010 : 0xff808890 + ((x + y) & 3), ((y0 + y) * W + x0 + x) * 4);
  };

  it('cuts rectangles down to the pixels that changed, and drops unchanged ones', () => {
    const t = new TileCodec();
    const prev = picture(0);
    const cur = Buffer.from(prev);
    glyph(cur, 150, 103, 3);
    const out = t.shrink(cur, prev, W, H, Int32Array.of(144, 96, 32, 32, 400, 300, 16, 16));
    expect([...out]).toEqual([150, 103, 7, 14]);
    expect(t.shrink(prev, prev, W, H, Int32Array.of(0, 0, 64, 64)).length).toBe(0);
  });

  it('a stream of updates decodes bit-exact, in columns and in rows', () => {
    const enc = new TileCodec();
    const dec = new TileCodec();
    const cur = picture(0);
    const fb = Buffer.alloc(W * H * 4);
    const whole = Int32Array.of(0, 0, W, H); // taller than 64 rows: row by row
    expect(dec.decode(enc.encode(cur, W, H, whole, true), fb, W, H, whole)).toBe(true);
    for (let i = 0; i < 20; i++) {
      glyph(cur, 100 + i * 8, 120, i % 4);
      glyph(cur, 20, 20 + i * 15, i % 3);
      const rects = Int32Array.of(100 + i * 8, 120, 7, 14, 20, 20 + i * 15, 7, 14, 300, 100, 90, 80);
      const data = enc.encode(cur, W, H, rects, false);
      expect(data[0]).toBe(0);
      expect(dec.decode(data, fb, W, H, rects)).toBe(true);
    }
    expect(Buffer.compare(rgb(fb), rgb(cur))).toBe(0);
  });

  it('a glyph typed again costs a back-reference, not its pixels', () => {
    const enc = new TileCodec();
    const cur = picture(0);
    enc.encode(cur, W, H, Int32Array.of(0, 0, W, H), true);
    const sizes: number[] = [];
    for (const [i, ch] of [3, 4, 3, 4].entries()) {
      glyph(cur, 40 + i * 8, 300, ch);
      sizes.push(enc.encode(cur, W, H, Int32Array.of(40 + i * 8, 300, 7, 14), false).length);
    }
    expect(sizes[2]!).toBeLessThan(sizes[0]! / 2);
    expect(sizes[3]!).toBeLessThan(sizes[1]! / 2);
  });

  it('a receiver that joins mid-stream or loses data refuses until the stream restarts', () => {
    const enc = new TileCodec();
    const late = new TileCodec();
    const cur = picture(1);
    const fb = Buffer.alloc(W * H * 4);
    const r = Int32Array.of(10, 10, 40, 20);
    enc.encode(cur, W, H, r, true);
    const cont = enc.encode(cur, W, H, r, false);
    expect(late.decode(cont, fb, W, H, r)).toBe(false);
    const restart = enc.encode(cur, W, H, r, true);
    expect(restart[0]).toBe(1);
    expect(late.decode(restart, fb, W, H, r)).toBe(true);
    // corrupt the next update: refused, and so is everything after it until a restart
    const next = Buffer.from(enc.encode(cur, W, H, r, false));
    next[next.length - 1]! ^= 0x55;
    next[3]! ^= 0xff;
    expect(late.decode(next, fb, W, H, r)).toBe(false);
    expect(late.decode(enc.encode(cur, W, H, r, false), fb, W, H, r)).toBe(false);
    expect(late.decode(enc.encode(cur, W, H, r, true), fb, W, H, r)).toBe(true);
  });

  it('the browser decoder (fzstd) reads the same stream, tiny restarts included', async () => {
    const { TileStream } = await import('../../client-firmware/web/src/tile-stream.js');
    const enc = new TileCodec();
    const browser = new TileStream();
    const cur = picture(2);
    const expectBgr = (x: number, y: number, w: number, h: number): Buffer => {
      const out: number[] = [];
      const columns = h <= 64;
      for (let a = 0; a < (columns ? w : h); a++)
        for (let b = 0; b < (columns ? h : w); b++) {
          const i = columns ? ((y + b) * W + x + a) * 4 : ((y + a) * W + x + b) * 4;
          out.push(cur[i]!, cur[i + 1]!, cur[i + 2]!);
        }
      return Buffer.from(out);
    };
    // a one-pixel restart compresses to a few bytes: still decodable at once
    const tiny = enc.encode(cur, W, H, Int32Array.of(5, 5, 1, 1), true);
    expect(Buffer.compare(Buffer.from(browser.next(tiny, 3)), expectBgr(5, 5, 1, 1))).toBe(0);
    for (let i = 0; i < 10; i++) {
      glyph(cur, 200 + i * 8, 200, i % 3);
      const data = enc.encode(cur, W, H, Int32Array.of(200 + i * 8, 200, 7, 14), false);
      expect(Buffer.compare(Buffer.from(browser.next(data, 7 * 14 * 3)), expectBgr(200 + i * 8, 200, 7, 14))).toBe(0);
    }
    const tall = enc.encode(cur, W, H, Int32Array.of(0, 0, 100, 100), false);
    expect(Buffer.compare(Buffer.from(browser.next(tall, 100 * 100 * 3)), expectBgr(0, 0, 100, 100))).toBe(0);
    expect(() => new TileStream().next(tall, 100 * 100 * 3)).toThrow(/began before this terminal joined/);
  });

  it('refuses corrupt data and rectangles outside the picture', () => {
    const t = new TileCodec();
    const fb = Buffer.alloc(W * H * 4);
    const one = Int32Array.of(0, 0, 32, 32);
    const good = t.encode(picture(1), W, H, one, true);
    expect(new TileCodec().decode(good, fb, W, H, Int32Array.of(0, 0, 16, 16))).toBe(false); // size mismatch
    expect(new TileCodec().decode(good.subarray(0, good.length - 3), fb, W, H, one)).toBe(false);
    expect(new TileCodec().decode(Buffer.from([7, 1, 2]), fb, W, H, one)).toBe(false);
    expect(new TileCodec().decode(good, fb, W, H, Int32Array.of(W - 8, 0, 32, 32))).toBe(false);
    expect(new TileCodec().decode(good, fb, W, H, new Int32Array(0))).toBe(false);
    // bytes after the last whole block would be taken as the start of the next update
    expect(new TileCodec().decode(Buffer.concat([good, Buffer.from([0x21, 0x00])]), fb, W, H, one)).toBe(false);
    expect(new TileCodec().decode(good, fb, W, H, one)).toBe(true);
    expect(() => t.encode(fb, W, H, Int32Array.of(-1, 0, 4, 4), false)).toThrow(/outside/);
  });

  it('refuses rectangles that together cover more than the picture, in every decoder', async () => {
    // 600 copies of the whole picture: each inside it, together 600 pictures' worth of pixels
    const many = new Int32Array(600 * 4);
    for (let i = 0; i < 600; i++) many.set([0, 0, W, H], i * 4);
    const fb = Buffer.alloc(W * H * 4);
    expect(new TileCodec().decode(Buffer.from([1, 0x28, 0xb5, 0x2f, 0xfd]), fb, W, H, many)).toBe(false);
    expect(() => new H264Decoder().decode(Buffer.alloc(16), fb, W, H, many)).toThrow(/more than the picture/);
    // the shared frame decoder (the server, the headless terminal and the browser page all use it)
    const { decodeFrameBody, encodeFrameBody, Codec } = await import('@waydesk/protocol/frame-format');
    const body = Buffer.concat(encodeFrameBody({ seq: 1, width: W, height: H, full: false, keyframe: false, codec: Codec.Tiles, rects: many, payload: Buffer.from([1]) }));
    expect(decodeFrameBody(body)).toMatch(/rectangles cover \d+ pixels, more than the \d+x\d+ picture/);
  });

  it('the browser decoder refuses a stream that announces a huge window, or yields more than its rectangles hold', async () => {
    const { TileStream } = await import('../../client-firmware/web/src/tile-stream.js');
    // a zstd frame header naming a 2 GB window (exponent 21): refused before fzstd allocates it
    const huge = Buffer.from([1, 0x28, 0xb5, 0x2f, 0xfd, 0x00, 21 << 3, 0, 0, 0]);
    expect(() => new TileStream().next(huge, 300)).toThrow(/announces a window larger/);
    // a real update of 32x32 pixels, told to hold 16x16: stopped while decoding
    const enc = new TileCodec();
    const data = enc.encode(picture(3), W, H, Int32Array.of(0, 0, 32, 32), true);
    expect(() => new TileStream().next(data, 16 * 16 * 3)).toThrow(/more pixels than the rectangles hold/);
  });
});
