// Codec benchmarks on real content: the 1080p full-motion clip decoded by Debian's ffmpeg.
import { execFileSync } from 'node:child_process';
import { H264Decoder, H264Encoder, TileCodec } from '@waydesk/native-codec';
import { motionClip } from './clip.js';
import type { Report } from './report.js';

const W = 1920;
const H = 1080;

/** PSNR over R, G and B of two BGRX pictures of the same size. */
function psnr(a: Buffer, b: Buffer): number {
  let se = 0;
  for (let i = 0; i < a.length; i += 4) for (let c = 0; c < 3; c++) se += (a[i + c]! - b[i + c]!) ** 2;
  return se === 0 ? 99 : 10 * Math.log10((255 * 255) / (se / ((a.length / 4) * 3)));
}

export async function benchCodec(r: Report): Promise<void> {
  r.note('codec (1920x1080, one thread each, in-process libavcodec/libx264, libyuv, zstd)');
  const n = 60;
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', motionClip(), '-frames:v', String(n), '-f', 'rawvideo', '-pix_fmt', 'bgra', '-'], {
    maxBuffer: W * H * 4 * n + 1024,
  });
  const frames = Array.from({ length: n }, (_, i) => raw.subarray(i * W * H * 4, (i + 1) * W * H * 4));
  for (const preset of ['ultrafast', 'superfast'] as const) {
    const enc = new H264Encoder({ width: W, height: H, fps: 30, crf: 23, maxKbps: 0, intraRefresh: false, preset });
    const dec = new H264Decoder();
    const fb = Buffer.alloc(W * H * 4);
    let encUs = 0;
    let decUs = 0;
    let bytes = 0;
    let psnrSum = 0;
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const { data } = enc.encode(frames[i]!, null, i === 0);
      const t1 = performance.now();
      dec.decode(data, fb, W, H, null);
      const t2 = performance.now();
      if (i > 0) {
        encUs += (t1 - t0) * 1000;
        decUs += (t2 - t1) * 1000;
        bytes += data.length;
        psnrSum += psnr(fb, frames[i]!);
      }
    }
    r.add(`h264_${preset}_motion`, 'encode_ms_per_frame', encUs / 1000 / (n - 1), 'ms');
    r.add(`h264_${preset}_motion`, 'decode_ms_per_frame', decUs / 1000 / (n - 1), 'ms');
    r.add(`h264_${preset}_motion`, 'kbit_per_s_at_30fps', (bytes * 8 * 30) / 1000 / (n - 1), 'kbit/s');
    r.add(`h264_${preset}_motion`, 'psnr_rgb_db', psnrSum / (n - 1), 'dB');
    // a still desktop with a small change: what a P-frame costs when little moves
    const still = frames[0]!;
    enc.encode(still, null, true);
    const t0 = performance.now();
    const p = enc.encode(still, Int32Array.of(100, 100, 64, 16), false);
    r.add(`h264_${preset}_still`, 'encode_ms_per_frame', performance.now() - t0, 'ms');
    r.add(`h264_${preset}_still`, 'p_frame_bytes', p.data.length, 'B');
    enc.close();
    dec.close();
  }
  // A character typed on the clip's busy background: cut down to its cell, then streamed.
  const tiles = new TileCodec();
  const prev = Buffer.from(frames[0]!);
  const cur = Buffer.from(prev);
  for (let y = 500; y < 514; y++) for (let x = 707; x < 714; x++) cur.writeUInt32LE(0xffe0e0e0 + ((x * y) & 7), (y * W + x) * 4);
  tiles.encode(prev, W, H, Int32Array.of(0, 0, W, H), true);
  const row = Int32Array.of(700, 496, 32, 32);
  const first = tiles.encode(cur, W, H, tiles.shrink(cur, prev, W, H, row), false).length;
  const reps = 2000;
  let again = 0;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) again = tiles.encode(cur, W, H, tiles.shrink(cur, prev, W, H, row), false).length;
  r.add('tile_typed_char', 'encode_us', ((performance.now() - t0) * 1000) / reps, 'us');
  r.add('tile_typed_char', 'bytes_first_time', first, 'B');
  r.add('tile_typed_char', 'bytes_again', again, 'B');
}
