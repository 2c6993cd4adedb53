// npm run pxe:build [-- --out DIR]: builds the netboot image (pxe/build.ts) into DIR (default pxe/out).
import path from 'node:path';
import { buildImage } from './build.js';

const args = process.argv.slice(2).filter((a) => a !== '--');
const at = args.indexOf('--out');
const out = path.resolve(at >= 0 ? (args[at + 1] ?? 'pxe/out') : 'pxe/out');
try {
  buildImage(out);
} catch (err) {
  process.stderr.write(`pxe: ${(err as Error).message}\n`);
  process.exit(1);
}
