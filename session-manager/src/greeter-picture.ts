// What the greeter looks like at a given display size: where everything sits, and how it is
// drawn into any rectangle of the screen (the greeter draws only what changed, never keeps a
// picture).
import { terminus, type BitmapFont } from '@waydesk/protocol/bitmap-font';
import { GrayCanvas, type Rect } from './gray-picture.js';

/** What the greeter shows; a change of one part redraws only that part's rectangle. */
export interface GreeterView {
  /** The server's name. */
  title: string;
  clock: string;
  /** What the fields are for: "Log in", or "Your password has expired: choose a new one". */
  prompt: string;
  fields: ReadonlyArray<{ label: string; text: string; secret: boolean }>;
  focus: number;
  /** "login incorrect", "your desktop ended", …; empty: none. */
  message: string;
  hint: string;
}

const GRAY = { background: 0x26, panel: 0x33, border: 0x4a, field: 0x1c, fieldLine: 0x5c, focus: 0xd8, text: 0xee, dim: 0x9a, message: 0xff, caret: 0xc0 };
const PANEL_COLUMNS = 48;
/** The greeter holds two fields: user and password, or the new password twice. */
export const GREETER_FIELDS = 2;

export interface GreeterLayout {
  width: number;
  height: number;
  body: BitmapFont;
  title: BitmapFont;
  /** Screen pixels per font pixel (2 on a 4K display). */
  scale: number;
  panel: Rect;
  titleAt: Rect;
  promptAt: Rect;
  labels: Rect[];
  fields: Rect[];
  messageAt: Rect;
  clockAt: Rect;
  hintAt: Rect;
}

export function greeterLayout(width: number, height: number): GreeterLayout {
  // text about a 40th of the screen's height: 24 px rows at 1080p, doubled from 4K up
  const target = Math.max(16, height / 40);
  const scale = target > 44 ? Math.floor(target / 24) : 1;
  const body = terminus(target / scale);
  const title = terminus((target * 1.34) / scale, true);
  const line = body.height * scale;
  const col = body.width * scale;
  const titleLine = title.height * scale;
  const pad = col * 2;
  const panelW = Math.min(width - 2 * col, PANEL_COLUMNS * col);
  const fieldH = Math.round(line * 1.6);
  const panelH = pad + titleLine + line + line + GREETER_FIELDS * (line + fieldH + Math.round(line * 0.6)) + line + line + pad;
  const panel = { x: Math.floor((width - panelW) / 2), y: Math.max(0, Math.floor((height - panelH) / 2)), width: panelW, height: panelH };
  const inner = { x: panel.x + pad, width: panelW - 2 * pad };
  let y = panel.y + pad;
  const titleAt = { ...inner, y, height: titleLine };
  y += titleLine + Math.round(line * 0.5);
  const promptAt = { ...inner, y, height: line };
  y += line + Math.round(line * 0.5);
  const labels: Rect[] = [];
  const fields: Rect[] = [];
  for (let i = 0; i < GREETER_FIELDS; i++) {
    labels.push({ ...inner, y, height: line });
    y += line;
    fields.push({ ...inner, y, height: fieldH });
    y += fieldH + Math.round(line * 0.6);
  }
  const messageAt = { ...inner, y, height: line };
  const clockW = Math.min(width, 34 * col);
  const clockAt = { x: width - clockW - col, y: line, width: clockW, height: line };
  const hintAt = { x: 0, y: Math.max(panel.y + panelH, height - 2 * line), width, height: line };
  return { width, height, body, title, scale, panel, titleAt, promptAt, labels, fields, messageAt, clockAt, hintAt };
}

/** Text cut to `columns` cells: the end of it (a field shows what is being typed), or its start with an ellipsis. */
function fit(s: string, columns: number, keepEnd: boolean): string {
  const cps = [...s];
  if (cps.length <= columns) return s;
  return keepEnd ? cps.slice(cps.length - columns).join('') : cps.slice(0, Math.max(0, columns - 1)).join('') + '…';
}

/** Where a field's text sits and what of it shows: its end, and bullets for a secret (where the font has one). */
function fieldText(l: GreeterLayout, v: GreeterView, i: number): { tx: number; ty: number; shown: string } {
  const { body, scale: s } = l;
  const col = body.width * s;
  const box = l.fields[i]!;
  const f = v.fields[i]!;
  const dot = body.has(0x2022) ? '\u2022' : '*';
  const room = Math.floor((box.width - 2 * col) / col) - 1;
  return {
    tx: box.x + col,
    ty: box.y + Math.floor((box.height - body.height * s) / 2),
    shown: fit(f.secret ? dot.repeat([...f.text].length) : f.text, room, true),
  };
}

/** Draws the whole greeter, clipped to the canvas: the same pixels whichever rectangle is drawn. */
export function drawGreeter(c: GrayCanvas, l: GreeterLayout, v: GreeterView): void {
  const { body, title, scale: s } = l;
  const col = body.width * s;
  const cols = (r: Rect): number => Math.floor(r.width / col);
  c.fill({ x: 0, y: 0, width: l.width, height: l.height }, GRAY.background);
  c.fill(l.panel, GRAY.panel);
  c.outline(l.panel, Math.max(1, s), GRAY.border);
  c.text(l.titleAt.x, l.titleAt.y, fit(v.title, Math.floor(l.titleAt.width / (title.width * s)), false), title, s, GRAY.text);
  c.text(l.promptAt.x, l.promptAt.y, fit(v.prompt, cols(l.promptAt), false), body, s, GRAY.dim);
  for (let i = 0; i < l.fields.length; i++) {
    const f = v.fields[i];
    if (!f) continue;
    const label = l.labels[i]!;
    const box = l.fields[i]!;
    c.text(label.x, label.y, fit(f.label, cols(label), false), body, s, GRAY.dim);
    const focused = v.focus === i;
    c.fill(box, GRAY.field);
    c.outline(box, focused ? 2 * s : s, focused ? GRAY.focus : GRAY.fieldLine);
    const { tx, ty, shown } = fieldText(l, v, i);
    const w = c.text(tx, ty, shown, body, s, GRAY.text);
    // a steady caret: a blinking one would wake the server twice a second per terminal
    if (focused) c.fill({ x: tx + w, y: ty, width: col, height: body.height * s }, GRAY.caret);
  }
  if (v.message) c.text(l.messageAt.x, l.messageAt.y, fit(v.message, cols(l.messageAt), false), body, s, GRAY.message);
  const clock = fit(v.clock, cols(l.clockAt), false);
  c.text(l.clockAt.x + l.clockAt.width - [...clock].length * col, l.clockAt.y, clock, body, s, GRAY.dim);
  const hint = fit(v.hint, cols(l.hintAt), false);
  c.text(Math.floor((l.width - [...hint].length * col) / 2), l.hintAt.y, hint, body, s, GRAY.dim);
}

/** The rectangles that differ between two views (all of the screen when the form itself changed). */
export function greeterDamage(l: GreeterLayout, a: GreeterView, b: GreeterView): Rect[] {
  const whole = [{ x: 0, y: 0, width: l.width, height: l.height }];
  if (a.title !== b.title || a.prompt !== b.prompt || a.hint !== b.hint || a.fields.length !== b.fields.length) return whole;
  const out: Rect[] = [];
  for (let i = 0; i < a.fields.length; i++) {
    const fa = a.fields[i]!, fb = b.fields[i]!;
    if (fa.label !== fb.label || fa.secret !== fb.secret) return whole;
    if ((a.focus === i) !== (b.focus === i)) out.push(l.fields[i]!);
    else if (fa.text !== fb.text) {
      // a key changes the text from its first differing cell to the caret: a glyph or two
      const ta = fieldText(l, a, i), tb = fieldText(l, b, i);
      const ca = [...ta.shown], cb = [...tb.shown];
      let same = 0;
      while (same < ca.length && same < cb.length && ca[same] === cb[same]) same++;
      const col = l.body.width * l.scale;
      const caret = a.focus === i ? 1 : 0;
      out.push({ x: tb.tx + same * col, y: tb.ty, width: (Math.max(ca.length, cb.length) + caret - same) * col, height: l.body.height * l.scale });
    }
  }
  if (a.message !== b.message) out.push(l.messageAt);
  if (a.clock !== b.clock) out.push(l.clockAt);
  return out;
}

/** The greeter's pixels in these rectangles (cut to the screen: a tiny one cuts the form), one canvas each. */
export function paintGreeter(l: GreeterLayout, v: GreeterView, rects: Rect[]): GrayCanvas[] {
  const out: GrayCanvas[] = [];
  for (const r of rects) {
    const x = Math.max(0, r.x), y = Math.max(0, r.y);
    const width = Math.min(l.width, r.x + r.width) - x, height = Math.min(l.height, r.y + r.height) - y;
    if (width <= 0 || height <= 0) continue;
    const c = new GrayCanvas({ x, y, width, height });
    drawGreeter(c, l, v);
    out.push(c);
  }
  return out;
}
