import { Modifier, type CompositorCore } from '@waydesk/native-compositor';
import type { Logger } from './log.js';
import type { WindowManager } from './window-manager.js';

// xkb keysyms used by bindings
const XK_Tab = 0xff09;
const XK_ISO_Left_Tab = 0xfe20;
const XK_F4 = 0xffc1;
const XK_Alt_L = 0xffe9;
const XK_Alt_R = 0xffea;

const KEY_LEFTALT = 56;
const KEY_RIGHTALT = 100;

/**
 * Keyboard and pointer policy. Bindings (Alt+Tab, Alt+F4) are matched here and never reach
 * clients; every key a client saw go down is remembered so that it always sees it go up,
 * even when the terminal vanishes mid-press (releaseAll).
 */
export class InputRouter {
  readonly #core: CompositorCore;
  readonly #wm: WindowManager;
  readonly #log: Logger;
  readonly #t0 = performance.now();
  /** Keys whose press reached a client. */
  readonly #forwarded = new Set<number>();
  /** Keys whose press was a binding (their release is swallowed too). */
  readonly #swallowed = new Set<number>();
  readonly #buttons = new Set<number>();
  #x = 0;
  #y = 0;

  constructor(core: CompositorCore, wm: WindowManager, log: Logger) {
    this.#core = core;
    this.#wm = wm;
    this.#log = log;
  }

  #time(): number {
    return Math.floor(performance.now() - this.#t0) >>> 0;
  }

  key(code: number, pressed: boolean): void {
    if (pressed && (this.#forwarded.has(code) || this.#swallowed.has(code))) return; // a repeat: clients repeat themselves
    if (!pressed && !this.#forwarded.has(code) && !this.#swallowed.has(code)) return; // release without press
    const t = this.#time();
    const { syms, mods } = this.#core.key(code, pressed, t);
    if (pressed) {
      if (this.#binding(syms, mods)) {
        this.#swallowed.add(code);
        return;
      }
      this.#forwarded.add(code);
      this.#core.keyForward(code, true, t);
      return;
    }
    if (this.#swallowed.delete(code)) {
      // ignore
    } else {
      this.#forwarded.delete(code);
      this.#core.keyForward(code, false, t);
    }
    if (code === KEY_LEFTALT || code === KEY_RIGHTALT || syms.includes(XK_Alt_L) || syms.includes(XK_Alt_R)) {
      this.#wm.endCycle();
    }
  }

  #binding(syms: number[], mods: number): boolean {
    const alt = (mods & Modifier.Alt) !== 0;
    if (!alt || (mods & (Modifier.Ctrl | Modifier.Logo)) !== 0) return false;
    if (syms.includes(XK_Tab) || syms.includes(XK_ISO_Left_Tab)) {
      this.#wm.cycle((mods & Modifier.Shift) !== 0 || syms.includes(XK_ISO_Left_Tab));
      return true;
    }
    if (syms.includes(XK_F4)) {
      this.#wm.closeFocused();
      return true;
    }
    return false;
  }

  pointerMotion(x: number, y: number): void {
    this.#x = x;
    this.#y = y;
    this.#core.pointerMotion(x, y, this.#time());
  }

  pointerButton(button: number, pressed: boolean): void {
    if (pressed === this.#buttons.has(button)) return; // duplicate press or stray release
    if (pressed) {
      this.#buttons.add(button);
      this.#wm.pointerPressed(this.#x, this.#y);
    } else {
      this.#buttons.delete(button);
    }
    this.#core.pointerButton(button, pressed, this.#time());
  }

  pointerAxis(horizontal: boolean, delta: number, discrete: number): void {
    this.#core.pointerAxis(horizontal, delta, discrete, this.#time());
  }

  /** The terminal went away: nothing may stay pressed. */
  releaseAll(): void {
    const keys = this.#forwarded.size + this.#swallowed.size;
    for (const code of [...this.#forwarded, ...this.#swallowed]) this.key(code, false);
    for (const b of [...this.#buttons]) this.pointerButton(b, false);
    this.#wm.endCycle();
    if (keys) this.#log.info({ keys }, 'released keys held by a departed terminal');
  }

  get pressedKeys(): number[] {
    return [...this.#forwarded, ...this.#swallowed];
  }
}
