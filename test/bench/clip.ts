import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/compositor.js';

/**
 * The full-motion clip: a 1080p30 mandelbrot zoom in which every pixel changes every frame,
 * made once with ffmpeg's lavfi and kept in .bench/ (computed at 480x270 and scaled up, which
 * keeps every pixel changing but takes seconds instead of minutes to make).
 */
export function motionClip(): string {
  const dir = path.join(ROOT, '.bench');
  const file = path.join(dir, 'mandelbrot-1080p30.mkv');
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('ffmpeg', [
    '-v', 'error', '-y', '-f', 'lavfi',
    '-i', 'mandelbrot=size=480x270:rate=30:end_scale=0.001:outer=normalized_iteration_count,scale=1920:1080:flags=bicubic',
    '-t', '8', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '16', '-pix_fmt', 'yuv420p', `${file}.tmp.mkv`,
  ]);
  fs.renameSync(`${file}.tmp.mkv`, file);
  return file;
}
