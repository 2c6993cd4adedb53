// The terminal's keyboards and mice (evdev, /dev/input/event*), as they come and go: keys go to
// the server as evdev codes (the wire's own), relative and absolute pointers move the pointer
// on this screen, wheels scroll. A device unplugged with keys held releases them, so nothing
// sticks in the session.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { ABS, BTN_MISC, EV, InputDevice, REL, directly, type DeviceOpener } from '@waydesk/native-drm';
import type { Logger } from './log.js';
import type { Terminal } from './terminal.js';

/** How often the device directory is looked at for new devices (hot-plug without udev). */
const SCAN_MS = 1000;
const BTN_LEFT = 0x110;
const BTN_TOUCH = 0x14a;
/** The mouse buttons a session is sent (BTN_LEFT..BTN_TASK); BTN_TOOL_* and the rest are the device's own. */
const BTN_LAST_MOUSE = 0x117;
const SYN_REPORT = 0;
/** The kernel dropped events (its buffer filled while we were busy): what was released may be lost. */
const SYN_DROPPED = 3;
/** Scrolling as the browser terminal sends it: 15 units a wheel step. */
const AXIS_PER_STEP = 15;
const CTRL = [29, 97];
const ALT = [56, 100];
/** F1..F12 → the session (VT) number Ctrl+Alt+Fn switches to, as on any Linux console. */
const FUNCTION_KEYS = new Map([59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 87, 88].map((code, i) => [code, i + 1]));

export interface PointerTarget {
  readonly pointer: { x: number; y: number };
  readonly width: number;
  readonly height: number;
  movePointer(x: number, y: number): void;
}

interface Open {
  dev: InputDevice;
  /** What the session was sent as pressed (keys, and buttons as sent: BTN_TOUCH as BTN_LEFT). */
  held: Set<number>;
  /** After SYN_DROPPED, until the next SYN_REPORT. */
  dropping: boolean;
  dx: number;
  dy: number;
  ax: number | null;
  ay: number | null;
}

export class EvdevInput extends EventEmitter<{ change: [] }> {
  readonly #dir: string;
  readonly #t: Terminal;
  readonly #p: PointerTarget;
  readonly #log: Logger;
  readonly #open = new Map<string, Open>();
  /** Nodes that are no keyboard or pointer (a power button): not opened again. */
  readonly #ignored = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  readonly #opener: DeviceOpener;
  readonly #switchSession: ((n: number) => void) | undefined;

  /** `switchSession`: where a seat can switch sessions, what Ctrl+Alt+Fn does (the key is not sent). */
  constructor(o: { terminal: Terminal; pointer: PointerTarget; log: Logger; dir?: string; opener?: DeviceOpener; switchSession?: (n: number) => void }) {
    super();
    this.#opener = o.opener ?? directly;
    this.#switchSession = o.switchSession;
    this.#dir = o.dir ?? '/dev/input';
    this.#t = o.terminal;
    this.#p = o.pointer;
    this.#log = o.log;
  }

  get keyboards(): number {
    return [...this.#open.values()].filter((o) => o.dev.info.keyboard).length;
  }
  get pointers(): number {
    return [...this.#open.values()].filter((o) => o.dev.info.pointer).length;
  }

  start(): void {
    this.#scan();
    this.#timer = setInterval(() => this.#scan(), SCAN_MS);
  }

  #scan(): void {
    let names: string[];
    try {
      names = fs.readdirSync(this.#dir).filter((n) => /^event\d+$/.test(n));
    } catch {
      names = [];
    }
    const present = new Set(names.map((n) => path.join(this.#dir, n)));
    for (const p of this.#ignored) if (!present.has(p)) this.#ignored.delete(p);
    let changed = false;
    for (const p of present) {
      if (this.#open.has(p) || this.#ignored.has(p)) continue;
      let dev: InputDevice;
      try {
        dev = new InputDevice(p, this.#opener);
      } catch (err) {
        this.#log.warn({ device: p, err: (err as Error).message }, 'cannot open an input device');
        this.#ignored.add(p);
        continue;
      }
      if (!dev.info.keyboard && !dev.info.pointer) {
        dev.close();
        this.#ignored.add(p);
        continue;
      }
      const o: Open = { dev, held: new Set(), dropping: false, dx: 0, dy: 0, ax: null, ay: null };
      this.#open.set(p, o);
      dev.on('events', (e) => this.#events(o, e));
      dev.on('gone', () => this.#gone(p));
      this.#log.info({ device: p, product: dev.info.name, keyboard: dev.info.keyboard, pointer: dev.info.pointer, absolute: !!dev.info.absolute }, 'input device');
      changed = true;
    }
    if (changed) this.emit('change');
  }

  #gone(p: string): void {
    const o = this.#open.get(p);
    if (!o) return;
    this.#open.delete(p);
    this.#releaseHeld(o);
    this.#log.info({ device: p, product: o.dev.info.name }, 'input device gone');
    this.emit('change');
  }

  #releaseHeld(o: Open): void {
    for (const code of o.held) {
      if (code >= BTN_MISC) this.#t.pointerButton(code, false);
      else this.#t.key(code, false);
    }
    o.held.clear();
  }

  #events(o: Open, e: Int32Array): void {
    for (let i = 0; i + 2 < e.length; i += 3) {
      const type = e[i]!, code = e[i + 1]!, value = e[i + 2]!;
      if (type === EV.SYN && code === SYN_DROPPED) {
        // A release may be among what was lost: let go of everything rather than leave a key down.
        this.#releaseHeld(o);
        o.dropping = true;
        o.dx = o.dy = 0;
        continue;
      }
      if (o.dropping) {
        if (type === EV.SYN && code === SYN_REPORT) o.dropping = false;
        continue;
      }
      if (type === EV.KEY) {
        if (value === 2) continue; // the kernel's autorepeat: the session repeats keys itself
        const pressed = value !== 0;
        const vt = FUNCTION_KEYS.get(code);
        if (vt && this.#switchSession && (pressed || !o.held.has(code)) && this.#holding(CTRL) && this.#holding(ALT)) {
          if (pressed) this.#switchSession(vt);
          continue;
        }
        const sent = code === BTN_TOUCH ? BTN_LEFT : code;
        if (sent >= BTN_MISC && (sent < BTN_LEFT || sent > BTN_LAST_MOUSE)) continue;
        // A release the session never saw pressed (keys held while the seat came back) is dropped.
        if (!pressed && !o.held.has(sent)) continue;
        if (pressed && o.held.has(sent)) continue;
        if (sent < BTN_MISC) this.#t.key(sent, pressed);
        else this.#t.pointerButton(sent, pressed);
        if (pressed) o.held.add(sent);
        else o.held.delete(sent);
      } else if (type === EV.REL) {
        if (code === REL.X) o.dx += value;
        else if (code === REL.Y) o.dy += value;
        else if (code === REL.WHEEL) this.#t.send({ type: 'pointer-axis', horizontal: false, delta: -value * AXIS_PER_STEP, discrete: -value });
        else if (code === REL.HWHEEL) this.#t.send({ type: 'pointer-axis', horizontal: true, delta: value * AXIS_PER_STEP, discrete: value });
      } else if (type === EV.ABS && o.dev.info.absolute) {
        if (code === ABS.X) o.ax = value;
        else if (code === ABS.Y) o.ay = value;
      } else if (type === EV.SYN && code === SYN_REPORT) {
        this.#motion(o);
      }
    }
  }

  /** One of these keys is held on some keyboard. */
  #holding(codes: number[]): boolean {
    for (const o of this.#open.values()) if (codes.some((c) => o.held.has(c))) return true;
    return false;
  }

  #motion(o: Open): void {
    const p = this.#p;
    let { x, y } = p.pointer;
    const a = o.dev.info.absolute;
    if (a && (o.ax !== null || o.ay !== null)) {
      if (o.ax !== null) x = ((o.ax - a[0]!) / (a[1]! - a[0]!)) * (p.width - 1);
      if (o.ay !== null) y = ((o.ay - a[2]!) / (a[3]! - a[2]!)) * (p.height - 1);
      o.ax = o.ay = null;
    } else if (o.dx || o.dy) {
      x += o.dx;
      y += o.dy;
      o.dx = o.dy = 0;
    } else {
      return;
    }
    p.movePointer(x, y);
    this.#t.pointerMotion(p.pointer.x, p.pointer.y);
  }

  /**
   * Lets every device go (the seat is being taken away: its fds are about to be revoked), with
   * the keys held released at the server; start() opens them again.
   */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    for (const p of [...this.#open.keys()]) {
      this.#open.get(p)!.dev.close();
      this.#gone(p);
    }
    this.#ignored.clear();
  }
}
