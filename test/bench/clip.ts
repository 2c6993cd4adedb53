import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/compositor.js';

/**
 * The full-motion clip: 20 s of a 1080p30 mandelbrot zoom in which every pixel changes every frame
 * (longer than any measuring window, so mpv's frame counter never wraps with --loop),
 * made once with ffmpeg's lavfi and kept in .bench/ (computed at 480x270 and scaled up, which
 * keeps every pixel changing but takes seconds instead of minutes to make).
 */
export function motionClip(): string {
  const dir = path.join(ROOT, '.bench');
  const file = path.join(dir, 'mandelbrot-1080p30-20s.mkv');
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('ffmpeg', [
    '-v', 'error', '-y', '-f', 'lavfi',
    '-i', 'mandelbrot=size=480x270:rate=30:end_scale=0.001:outer=normalized_iteration_count,scale=1920:1080:flags=bicubic',
    '-t', '20', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '16', '-pix_fmt', 'yuv420p', `${file}.tmp.mkv`,
  ]);
  fs.renameSync(`${file}.tmp.mkv`, file);
  return file;
}

/** The same zoom at 320x180, for a small animated area on an otherwise still screen. */
export function smallClip(): string {
  const big = motionClip();
  const file = path.join(path.dirname(big), 'mandelbrot-320x180p30-20s.mkv');
  if (fs.existsSync(file)) return file;
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', big, '-vf', 'scale=320:180', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '16', `${file}.tmp.mkv`]);
  fs.renameSync(`${file}.tmp.mkv`, file);
  return file;
}
