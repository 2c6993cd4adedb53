// What a terminal shows when it has nothing live from the server: its own status screens
// ("looking for the server", "certificate does not match", "no keyboard"), and the band it puts
// over the last picture when the server has been away long enough that the picture must not be
// taken for live. Drawn here, with the font the server's greeter uses, so they need no server.
import { terminus, type BitmapFont } from '@waydesk/protocol/bitmap-font';

const BACKGROUND = 0x202428;
const TITLE = 0xeeeeee;
const DETAIL = 0xa8b0b8;
const WARN = 0xffc24a;
const BAND = 0x30343a;

export interface StatusText {
  title: string;
  detail?: string;
  /** Something the user or an admin must fix (drawn in amber), not a passing state. */
  problem?: boolean;
}

interface Fonts {
  body: BitmapFont;
  title: BitmapFont;
  scale: number;
}

function fonts(height: number): Fonts {
  // the greeter's proportions: text about a 40th of the screen's height, doubled from 4K up
  const target = Math.max(16, height / 40);
  const scale = target > 44 ? Math.floor(target / 24) : 1;
  return { body: terminus(target / scale), title: terminus((target * 1.34) / scale, true), scale };
}

function fill(px: Buffer, width: number, x: number, y: number, w: number, h: number, rgb: number): void {
  const height = px.length / (width * 4);
  const x0 = Math.max(0, x), x1 = Math.min(width, x + w), y0 = Math.max(0, y), y1 = Math.min(height, y + h);
  if (x0 >= x1) return;
  const row = Buffer.alloc((x1 - x0) * 4);
  for (let i = 0; i < row.length; i += 4) row.writeUInt32LE((rgb | 0xff000000) >>> 0, i);
  for (let yy = y0; yy < y1; yy++) row.copy(px, (yy * width + x0) * 4);
}

function text(px: Buffer, width: number, x: number, y: number, s: string, font: BitmapFont, scale: number, rgb: number): void {
  const rowBytes = Math.ceil(font.width / 8);
  let pen = x;
  for (const c of s) {
    const g = font.glyph(c.codePointAt(0)!);
    for (let gy = 0; gy < font.height; gy++)
      for (let gx = 0; gx < font.width; gx++)
        if (g[gy * rowBytes + (gx >> 3)]! & (0x80 >> (gx & 7))) fill(px, width, pen + gx * scale, y + gy * scale, scale, scale, rgb);
    pen += font.width * scale;
  }
}

/** Cuts s to what fits in `columns` cells, with an ellipsis. */
function fit(s: string, columns: number): string {
  const cps = [...s];
  return cps.length <= columns ? s : `${cps.slice(0, Math.max(0, columns - 1)).join('')}…`;
}

function centred(px: Buffer, width: number, y: number, s: string, font: BitmapFont, scale: number, rgb: number): void {
  const line = fit(s, Math.floor((width * 0.9) / (font.width * scale)));
  text(px, width, Math.floor((width - [...line].length * font.width * scale) / 2), y, line, font, scale, rgb);
}

/** A whole status screen (BGRX, width*height*4). */
export function drawStatusScreen(width: number, height: number, s: StatusText): Buffer {
  const px = Buffer.alloc(width * height * 4);
  fill(px, width, 0, 0, width, height, BACKGROUND);
  const f = fonts(height);
  const titleH = f.title.height * f.scale, lineH = f.body.height * f.scale;
  const y = Math.floor((height - titleH - lineH * 2) / 2);
  centred(px, width, y, s.title, f.title, f.scale, s.problem ? WARN : TITLE);
  if (s.detail) centred(px, width, y + titleH + lineH, s.detail, f.body, f.scale, DETAIL);
  return px;
}

/**
 * Marks a picture as not live: the picture dimmed to half, a band across its top saying why.
 * Returns the marked copy; the picture itself stays as it was, to be shown again when the
 * server comes back.
 */
export function markStale(picture: Buffer, width: number, height: number, s: StatusText): Buffer {
  const px = Buffer.from(picture);
  for (let i = 0; i < px.length; i += 4) {
    px[i] = px[i]! >> 1;
    px[i + 1] = px[i + 1]! >> 1;
    px[i + 2] = px[i + 2]! >> 1;
  }
  const f = fonts(height);
  const lineH = f.body.height * f.scale;
  const bandH = lineH * (s.detail ? 3 : 2);
  fill(px, width, 0, 0, width, bandH, BAND);
  centred(px, width, Math.floor(lineH / 2), s.title, f.body, f.scale, s.problem ? WARN : TITLE);
  if (s.detail) centred(px, width, Math.floor(lineH * 1.5), s.detail, f.body, f.scale, DETAIL);
  return px;
}
