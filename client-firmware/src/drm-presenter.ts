// Puts the terminal's picture on its screen (a Screen of @waydesk/native-drm): the damaged
// rectangles of each frame, one flip at a time (frames that come during a flip are gathered
// into the next), the cursor where the pointer is, the terminal's own status screens when there
// is nothing live to show, and a "not live" band over the last picture when the server has been
// gone for a while.
import type { CursorMsg } from '@waydesk/protocol/frame-format';
import type { Screen } from '@waydesk/native-drm';
import { drawStatusScreen, markStale, type StatusText } from './status-screen.js';
import type { Terminal, TerminalStatus } from './terminal.js';

/** How long a lost server's last picture may stand unmarked: a short hiccup is not news. */
export const STALE_AFTER_MS = 3000;
/** Past this many rectangles waiting, the next flip copies the whole picture. */
const MAX_PENDING_RECTS = 64;

/** The terminal's own arrow, for "no client cursor" (CursorMsg mode 0): 12x19, hotspot at its tip. */
const ARROW = [
  'X...........',
  'XX..........',
  'XOX.........',
  'XOOX........',
  'XOOOX.......',
  'XOOOOX......',
  'XOOOOOX.....',
  'XOOOOOOX....',
  'XOOOOOOOX...',
  'XOOOOOOOOX..',
  'XOOOOOOOOOX.',
  'XOOOOOOXXXXX',
  'XOOOXOOX....',
  'XOOXXOOX....',
  'XOX..XOOX...',
  'XX...XOOX...',
  'X.....XOOX..',
  '......XOOX..',
  '.......XX...',
];

function arrow(): { pixels: Buffer; width: number; height: number; hotspotX: number; hotspotY: number } {
  const width = ARROW[0]!.length, height = ARROW.length;
  const pixels = Buffer.alloc(width * height * 4);
  ARROW.forEach((row, y) => {
    for (let x = 0; x < width; x++) {
      const c = row[x];
      if (c === '.') continue;
      const v = c === 'O' ? 0xff : 0x00;
      pixels.set([v, v, v, 0xff], (y * width + x) * 4);
    }
  });
  return { pixels, width, height, hotspotX: 0, hotspotY: 0 };
}

/** `silent`: marked because the server stopped answering on a connection that is still up. */
type Showing = { kind: 'status'; text: StatusText; picture: Buffer } | { kind: 'live' } | { kind: 'stale'; picture: Buffer; silent: boolean };

export class DrmPresenter {
  readonly #screen: Screen;
  readonly #t: Terminal;
  #showing: Showing;
  /** Rectangles not yet on the screen (null: all of it). */
  #pending: number[] | null = null;
  #dirty = false;
  #staleTimer: NodeJS.Timeout | null = null;
  #cursor: CursorMsg | null = null;
  /** A problem of this terminal's own (no keyboard) that stands in front of the live picture. */
  #notice: StatusText | null = null;
  #paused = false;
  #failing = false;
  readonly #log: { warn(o: object, msg: string): void } | undefined;
  readonly pointer = { x: 0, y: 0 };
  /** Flips done, and how long presenting took (µs, copy and flip request), for the bench. */
  presents = 0;
  presentUsTotal = 0;

  constructor(screen: Screen, terminal: Terminal, first: StatusText, log?: { warn(o: object, msg: string): void }) {
    this.#screen = screen;
    this.#log = log;
    this.#t = terminal;
    this.pointer = { x: Math.floor(screen.info.width / 2), y: Math.floor(screen.info.height / 2) };
    this.#showing = { kind: 'status', text: first, picture: this.#draw(first) };
    screen.on('flip', () => this.#flush());
    terminal.on('frame', (f) => this.#frame(f.full, f.rects));
    terminal.on('cursor', (c) => {
      this.#cursor = c;
      this.#applyCursor();
    });
    terminal.on('status', (s) => this.#status(s));
    this.#applyCursor();
    this.#whole();
  }

  get width(): number {
    return this.#screen.info.width;
  }
  get height(): number {
    return this.#screen.info.height;
  }
  /** What the screen shows: a status screen, the live picture, or the last one marked stale. */
  get showing(): 'status' | 'live' | 'stale' {
    return this.#showing.kind;
  }

  /** Shows one of the terminal's own screens (a problem found before or without the server). */
  status(text: StatusText): void {
    this.#clearStale();
    this.#showing = { kind: 'status', text, picture: this.#draw(text) };
    this.#applyCursor();
    this.#whole();
  }

  /**
   * A problem of the terminal's own, shown in front of everything until it is cleared (null),
   * when the live picture, kept up to date meanwhile, comes back.
   */
  notice(text: StatusText | null): void {
    this.#notice = text;
    if (text) this.status(text);
    else if (this.#t.connected && this.#t.painter.width > 0) this.#live();
  }

  /** The seat was taken away: nothing is drawn until resume(), which draws all of it again. */
  pause(): void {
    this.#paused = true;
  }
  resume(): void {
    this.#paused = false;
    this.#applyCursor();
    this.#whole();
  }

  movePointer(x: number, y: number): void {
    this.pointer.x = Math.max(0, Math.min(this.width - 1, x));
    this.pointer.y = Math.max(0, Math.min(this.height - 1, y));
    if (this.#screen.moveCursor(this.pointer.x, this.pointer.y)) {
      this.#dirty = true;
      this.#flush();
    }
  }

  #draw(text: StatusText): Buffer {
    return drawStatusScreen(this.width, this.height, text);
  }

  #frame(full: boolean, rects: Int32Array): void {
    if (this.#notice) return;
    if (this.#showing.kind !== 'live') {
      // back from a status screen or a stale picture: all of it is new
      this.#live();
      return;
    }
    if (full || this.#pending === null) {
      if (full) this.#pending = null;
    } else {
      for (const v of rects) this.#pending.push(v);
      if (this.#pending.length > MAX_PENDING_RECTS * 4) this.#pending = null;
    }
    this.#dirty = true;
    this.#flush();
  }

  #status(s: TerminalStatus): void {
    if (this.#notice) return;
    if (s.state === 'silent') {
      // the connection is up but the server says nothing: the picture may be old already
      if (this.#showing.kind === 'live') this.#markStale(statusText(s), true);
      return;
    }
    if (s.connected) {
      // it answers again on the same connection: what is on screen is live again
      if (this.#showing.kind === 'stale' && this.#showing.silent) this.#live();
      return;
    }
    const text = statusText(s);
    if (this.#showing.kind === 'status') {
      this.status(text);
      return;
    }
    if (this.#showing.kind === 'live' && s.retrying) {
      // the picture stays as it was for a moment; after that it must not pass for live
      this.#clearStale();
      this.#staleTimer = setTimeout(() => {
        this.#staleTimer = null;
        if (this.#showing.kind === 'live') this.#markStale(text, false);
      }, STALE_AFTER_MS);
      this.#staleTimer.unref();
      return;
    }
    // the marked picture stands while the terminal keeps trying; refused for good: say so
    if (this.#showing.kind === 'stale' && s.retrying) return;
    this.status(text);
  }

  #markStale(text: StatusText, silent: boolean): void {
    const p = this.#t.painter;
    if (p.width === 0) return;
    this.#showing = { kind: 'stale', picture: markStale(p.framebuffer, p.width, p.height, text), silent };
    this.#applyCursor();
    this.#whole();
  }

  #live(): void {
    this.#clearStale();
    this.#showing = { kind: 'live' };
    this.#applyCursor();
    this.#whole();
  }

  #clearStale(): void {
    if (this.#staleTimer) clearTimeout(this.#staleTimer);
    this.#staleTimer = null;
  }

  #applyCursor(): void {
    if (this.#paused) return;
    const c = this.#cursor;
    let needs: boolean;
    if (this.#showing.kind !== 'live' || c?.mode === 2) needs = this.#screen.setCursor(null);
    else if (c?.mode === 1 && c.pixels) needs = this.#screen.setCursor({ pixels: Buffer.from(c.pixels.buffer, c.pixels.byteOffset, c.pixels.byteLength), width: c.width, height: c.height, hotspotX: c.hotspotX, hotspotY: c.hotspotY });
    else needs = this.#screen.setCursor(arrow());
    this.#screen.moveCursor(this.pointer.x, this.pointer.y);
    if (needs) {
      this.#dirty = true;
      this.#flush();
    }
  }

  #whole(): void {
    this.#pending = null;
    this.#dirty = true;
    this.#flush();
  }

  #flush(): void {
    if (!this.#dirty || this.#paused) return;
    let pic: Buffer, w: number, h: number;
    if (this.#showing.kind === 'live') {
      const p = this.#t.painter;
      if (p.width === 0) return;
      pic = p.framebuffer;
      w = p.width;
      h = p.height;
    } else {
      pic = this.#showing.picture;
      w = this.width;
      h = this.height;
    }
    const t0 = process.hrtime.bigint();
    const rects = this.#pending === null ? null : Int32Array.from(this.#pending);
    try {
      if (!this.#screen.present(pic, w, h, rects)) return; // a flip is on its way: 'flip' brings us back
    } catch (err) {
      // the screen was taken from us (by the seat, or another master): draw again when it is back
      if (!this.#failing) this.#log?.warn({ err: (err as Error).message }, 'the screen refused the picture');
      this.#failing = true;
      this.#pending = null;
      return;
    }
    this.#failing = false;
    this.presentUsTotal += Number(process.hrtime.bigint() - t0) / 1000;
    this.presents++;
    this.#pending = [];
    this.#dirty = false;
  }

  close(): void {
    this.#clearStale();
  }
}

/** What the screen says for a terminal status. */
export function statusText(s: TerminalStatus): StatusText {
  switch (s.state) {
    case 'certificate':
      return { title: 'certificate does not match', detail: 'this terminal does not trust the server it reached: ask an administrator', problem: true };
    case 'unreachable':
      return { title: 'server unreachable, retrying', detail: s.message };
    case 'lost':
      return { title: 'lost the server: this picture is not live', detail: 'retrying; your session goes on at the server' };
    case 'silent':
      return { title: 'lost the server: this picture is not live', detail: 'waiting for it to answer; your session goes on at the server' };
    case 'refused':
      return { title: s.message, problem: true };
    default:
      return { title: s.message };
  }
}
