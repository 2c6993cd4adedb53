// The greeter, alone: what a terminal decodes from it (with the terminal's own decoders, native
// and the browser's), and what typing at it does. The login behind it is in
// test/integration/greeter.test.ts.
import { describe, expect, it, vi } from 'vitest';
import { TileCodec } from '@waydesk/native-codec';
import { KEY, keystrokes } from '../../protocol/src/us-keys.js';
import type { FrameMsg } from '../../protocol/src/frame-format.js';
import type { ServerMessage } from '../../protocol/src/wire.js';
import { GrayCanvas, encodeGrayTiles } from '../../session-manager/src/gray-picture.js';
import { Greeter, type GreeterOutcome } from '../../session-manager/src/greeter.js';
import { greeterLayout, paintGreeter, type GreeterView } from '../../session-manager/src/greeter-picture.js';
import { TileStream } from '../../client-firmware/web/src/tile-stream.js';

/** A canvas of stripes, noise and flat runs: every kind of block the encoder writes. */
function canvas(x: number, y: number, w: number, h: number, seed: number): GrayCanvas {
  const c = new GrayCanvas({ x, y, width: w, height: h });
  let s = seed;
  for (let i = 0; i < c.px.length; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const row = Math.floor(i / w);
    c.px[i] = row % 7 < 3 ? 0x30 : (i % w) % 5 === 0 ? (s >> 8) & 0xff : 0xe0;
  }
  return c;
}

/** What the terminal's picture holds at a pixel (B of BGRX; gray: B = G = R). */
function grayAt(fb: Buffer, width: number, x: number, y: number): number[] {
  const i = (y * width + x) * 4;
  return [fb[i]!, fb[i + 1]!, fb[i + 2]!];
}

describe('gray tiles', () => {
  it('decode exactly, in both layouts, continuing one stream, with the native and the browser decoder', () => {
    const W = 400, H = 300;
    const native = new TileCodec();
    const browser = new TileStream();
    const fb = Buffer.alloc(W * H * 4);
    const updates = [
      [canvas(0, 0, W, H, 1)], // a whole picture, row by row
      [canvas(10, 20, 120, 40, 2), canvas(200, 100, 30, 64, 3)], // short: column by column
      [canvas(5, 150, 300, 120, 4)], // tall: row by row
    ];
    updates.forEach((cs, n) => {
      const rects = Int32Array.from(cs.flatMap((c) => [c.rect.x, c.rect.y, c.rect.width, c.rect.height]));
      const payload = encodeGrayTiles(cs, n === 0);
      expect(native.decode(payload, fb, W, H, rects)).toBe(true);
      for (const c of cs) {
        for (const [px, py] of [[0, 0], [c.rect.width - 1, c.rect.height - 1], [7, 3], [Math.floor(c.rect.width / 2), Math.floor(c.rect.height / 2)]]) {
          const g = c.px[py! * c.rect.width + px!]!;
          expect(grayAt(fb, W, c.rect.x + px!, c.rect.y + py!)).toEqual([g, g, g]);
        }
      }
      const bytes = cs.reduce((a, c) => a + c.px.length * 3, 0);
      const raw = browser.next(payload, bytes);
      expect(raw.length).toBe(bytes);
    });
  });

  it('a flat picture is a few hundred bytes, not megabytes', () => {
    const c = new GrayCanvas({ x: 0, y: 0, width: 1920, height: 1080 });
    c.fill(c.rect, 0x26);
    expect(encodeGrayTiles([c], true).length).toBeLessThan(300);
  });
});

describe('greeter', () => {
  function greeter(submit: (u: string, p: string) => Promise<GreeterOutcome>, size = { width: 1280, height: 720 }) {
    const sent: ServerMessage[] = [];
    const g = new Greeter({ display: { ...size, refreshMhz: 60000 }, serverName: 'lab-1', send: (m) => sent.push(m), submit, now: () => new Date(2026, 11, 1, 9, 30) });
    const fb = Buffer.alloc(size.width * size.height * 4);
    const codec = new TileCodec();
    const frames = (): FrameMsg[] => sent.filter((m): m is { type: 'frame'; body: FrameMsg } => m.type === 'frame').map((m) => m.body);
    let painted = 0;
    /** Decodes what the greeter sent since the last call into the terminal's picture. */
    const paint = (): FrameMsg[] => {
      const fs = frames().slice(painted);
      painted += fs.length;
      for (const f of fs) expect(codec.decode(f.payload, fb, f.width, f.height, f.rects)).toBe(true);
      return fs;
    };
    const type = (text: string): void => {
      for (const k of keystrokes(text)) g.input({ type: 'key', ...k });
    };
    const press = (code: number): void => {
      g.input({ type: 'key', code, pressed: true });
      g.input({ type: 'key', code, pressed: false });
    };
    return { g, sent, fb, paint, type, press, size };
  }

  /** The greeter's own picture of a view, in one rectangle, for comparing with what a terminal shows. */
  function expected(size: { width: number; height: number }, v: GreeterView, r: { x: number; y: number; width: number; height: number }): Uint8Array {
    return paintGreeter(greeterLayout(size.width, size.height), v, [r])[0]!.px;
  }

  function region(fb: Buffer, width: number, r: { x: number; y: number; width: number; height: number }): Uint8Array {
    const out = new Uint8Array(r.width * r.height);
    for (let y = 0; y < r.height; y++) for (let x = 0; x < r.width; x++) out[y * r.width + x] = fb[((r.y + y) * width + r.x + x) * 4]!;
    return out;
  }

  it('greets with a whole picture, then sends only the field a key changed', () => {
    const t = greeter(async () => ({ ok: false, message: 'login incorrect' }));
    t.g.show();
    expect(t.sent[0]!.type).toBe('welcome');
    const first = t.paint();
    expect(first).toHaveLength(1);
    expect(first[0]!.full).toBe(true);
    // the whole greeter at 720p is tens of kilobytes
    expect(first[0]!.payload.length).toBeLessThan(64 * 1024);
    t.type('a');
    const typed = t.paint();
    expect(typed).toHaveLength(1);
    const l = greeterLayout(t.size.width, t.size.height);
    const [x, y, w, h] = Array.from(typed[0]!.rects);
    const f = l.fields[0]!;
    // the new character and the caret after it, inside the user name's field
    expect(x! >= f.x && y! >= f.y && x! + w! <= f.x + f.width && y! + h! <= f.y + f.height).toBe(true);
    expect(w).toBe(2 * l.body.width);
    expect(typed[0]!.payload.length).toBeLessThan(256);
    t.g.stop();
  });

  it('types with Shift and Caps Lock, hides the password, and hands both to the login on Enter', async () => {
    let got: [string, string] | null = null;
    const t = greeter(async (u, p) => {
      got = [u, p];
      return { ok: false, message: 'login incorrect' };
    });
    t.g.show();
    t.type('Alice.B');
    t.press(KEY.ENTER); // to the password field
    t.press(KEY.CAPSLOCK);
    t.type('pw'); // PW with Caps Lock
    t.press(KEY.CAPSLOCK);
    t.type('x!');
    t.press(KEY.BACKSPACE);
    t.type('?');
    t.paint();
    const l = greeterLayout(t.size.width, t.size.height);
    const base = { title: 'lab-1', clock: '09:30  Tuesday, 1 December', prompt: 'Log in with your user name and password', hint: 'Tab: next field    Enter: log in', message: '' };
    const shown: GreeterView = { ...base, focus: 1, fields: [{ label: 'User name', text: 'Alice.B', secret: false }, { label: 'Password', text: 'PWx?', secret: true }] };
    // what the terminal shows is the greeter's own picture of that state: the name, and four bullets
    expect(region(t.fb, t.size.width, l.fields[0]!)).toEqual(expected(t.size, shown, l.fields[0]!));
    expect(region(t.fb, t.size.width, l.fields[1]!)).toEqual(expected(t.size, shown, l.fields[1]!));
    // the typed password is not drawn: its picture differs from the same text in the clear
    const clear: GreeterView = { ...shown, fields: [shown.fields[0]!, { label: 'Password', text: 'PWx?', secret: false }] };
    expect(region(t.fb, t.size.width, l.fields[1]!)).not.toEqual(expected(t.size, clear, l.fields[1]!));
    t.press(KEY.ENTER);
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual(['Alice.B', 'PWx?']);
    t.paint();
    // the failure is on the message line, the password field empty again, the name kept
    const after: GreeterView = { ...shown, message: 'login incorrect', fields: [shown.fields[0]!, { label: 'Password', text: '', secret: true }] };
    expect(region(t.fb, t.size.width, l.messageAt)).toEqual(expected(t.size, after, l.messageAt));
    expect(region(t.fb, t.size.width, l.fields[1]!)).toEqual(expected(t.size, after, l.fields[1]!));
    t.g.stop();
  });

  it('asks for a new password twice when the old one expired, and refuses two that differ', async () => {
    const changes: string[] = [];
    const t = greeter(async () => ({
      ok: false,
      message: 'You are required to change your password immediately',
      cancel: () => {},
      changePassword: async (pw) => {
        changes.push(pw);
        return { ok: true };
      },
    }));
    t.g.show();
    t.type('bob\nold\n');
    await new Promise((r) => setImmediate(r));
    t.type('new1\nnew2\n');
    expect(changes).toEqual([]);
    t.type('new3\nnew3\n');
    await new Promise((r) => setImmediate(r));
    expect(changes).toEqual(['new3']);
    t.g.stop();
  });

  it('repeats a held key, as a console does, and stops when it is let go', async () => {
    vi.useFakeTimers();
    try {
      let got: string | null = null;
      const t = greeter(async (u) => {
        got = u;
        return { ok: false, message: 'login incorrect' };
      });
      t.g.show();
      t.g.input({ type: 'key', code: 30, pressed: true }); // a, held
      vi.advanceTimersByTime(1000); // at 600 ms, then every 40 ms up to 1000: 11 more
      t.g.input({ type: 'key', code: 30, pressed: false });
      vi.advanceTimersByTime(1000);
      t.press(KEY.ENTER);
      t.type('pw\n');
      await vi.runOnlyPendingTimersAsync();
      expect(got).toBe('a'.repeat(12));
      t.g.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('gives a terminal that keeps asking for whole pictures at most four a second', () => {
    vi.useFakeTimers();
    try {
      const t = greeter(async () => ({ ok: true }));
      t.g.show();
      t.sent.length = 0;
      for (let i = 0; i < 100; i++) {
        t.g.input({ type: 'keyframe-request' });
        vi.advanceTimersByTime(10);
      }
      vi.advanceTimersByTime(300);
      const whole = t.sent.filter((m) => m.type === 'frame' && m.body.full).length;
      expect(whole).toBeGreaterThanOrEqual(3);
      expect(whole).toBeLessThanOrEqual(5);
      t.g.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('follows a resize with a welcome and a whole picture of the new size', async () => {
    const t = greeter(async () => ({ ok: true }));
    t.g.show();
    t.sent.length = 0;
    t.g.input({ type: 'resize', display: { width: 800, height: 600, refreshMhz: 60000 } });
    await new Promise((r) => setTimeout(r, 300));
    expect(t.sent[0]).toMatchObject({ type: 'welcome', body: { width: 800, height: 600 } });
    const f = t.sent.find((m) => m.type === 'frame') as { body: FrameMsg };
    expect(f.body).toMatchObject({ width: 800, height: 600, full: true });
    expect(f.body.payload[0]).toBe(1); // a new stream
    t.g.stop();
  });
});
