import fs from 'node:fs';
import { encodePng } from './png.js';
import type { Terminal } from './terminal.js';

/**
 * Keeps the terminal's picture in memory, with the pointer drawn locally the way a screen
 * would show it, and writes it as PNG on request (tests, debugging, a look at a remote lab).
 */
export class HeadlessPresenter {
  readonly #t: Terminal;
  pointer = { x: 0, y: 0 };

  constructor(terminal: Terminal) {
    this.#t = terminal;
  }

  /** The picture with the cursor blended in (premultiplied ARGB over BGRX). */
  compose(): { width: number; height: number; pixels: Buffer } {
    const p = this.#t.painter;
    const out = Buffer.from(p.framebuffer);
    const c = this.#t.cursor;
    if (c && c.mode === 1 && c.pixels) {
      const x0 = Math.round(this.pointer.x) - c.hotspotX;
      const y0 = Math.round(this.pointer.y) - c.hotspotY;
      for (let y = 0; y < c.height; y++) {
        const dy = y0 + y;
        if (dy < 0 || dy >= p.height) continue;
        for (let x = 0; x < c.width; x++) {
          const dx = x0 + x;
          if (dx < 0 || dx >= p.width) continue;
          const s = (y * c.width + x) * 4;
          const a = c.pixels[s + 3]!;
          if (a === 0) continue;
          const d = (dy * p.width + dx) * 4;
          for (let k = 0; k < 3; k++) out[d + k] = c.pixels[s + k]! + ((out[d + k]! * (255 - a)) >> 8);
        }
      }
    }
    return { width: p.width, height: p.height, pixels: out };
  }

  writePng(file: string): void {
    const { width, height, pixels } = this.compose();
    if (width === 0) return;
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, encodePng(pixels, width, height));
    fs.renameSync(tmp, file);
  }
}
