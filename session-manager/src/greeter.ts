// The greeter: what a terminal without a session shows, drawn by the daemon and streamed as
// lossless tiles like any desktop, so every terminal kind shows it the same and stays dumb.
// It costs a few kilobytes of state per terminal: no compositor, no picture kept between
// updates, no timer but the clock's once a minute. What is typed goes only to the login.
import { Codec } from '@waydesk/protocol/frame-format';
import { KEY, charOf } from '@waydesk/protocol/us-keys';
import { MAX_PASSWORD, MAX_USER_NAME, WIRE_VERSION, type Display, type ServerMessage, type TerminalMessage } from '@waydesk/protocol/wire';
import { encodeGrayTiles } from './gray-picture.js';
import { greeterDamage, greeterLayout, paintGreeter, type GreeterLayout, type GreeterView } from './greeter-picture.js';

/** What became of a login typed at the greeter. */
export type GreeterOutcome =
  /** The terminal shows the user's session now: the greeter is done. */
  | { ok: true }
  | { ok: false; message: string }
  /** The password must be changed first: the greeter asks for a new one (twice) and hands it here, or gives up (cancel). */
  | { ok: false; message: string; changePassword: (newPassword: string) => Promise<GreeterOutcome>; cancel: () => void };

/**
 * A card at the terminal wants a password: whose (null: anyone's, to register the card), and
 * what to say; or (pin) the card's own PIN, one field, handed to submit as the password.
 */
export interface GreeterAsk {
  user: string | null;
  prompt: string;
  pin?: boolean;
  submit: (user: string, password: string) => Promise<GreeterOutcome>;
}

/** A PIV PIN is at most 8 characters. */
const MAX_PIN = 8;
const HINT_PIN = 'Enter: use the card    Esc: log in without it';

/** What the terminal's card reader is doing, as the terminal says (null: it has none to speak of). */
export type ReaderLine = 'ready' | 'none' | 'unavailable' | null;

export interface GreeterOptions {
  display: Display;
  /** The server's name, as the greeter's title. */
  serverName: string;
  send: (m: ServerMessage) => void;
  /** A user name and password were typed and Enter pressed. */
  submit: (user: string, password: string) => Promise<GreeterOutcome>;
  now?: () => Date;
  /** Asked at every welcome: the image a netbooted terminal should boot instead of its own (null: none). */
  imageUpdate?: () => string | null;
}

const BTN_LEFT = 0x110;
/** A held key types again after this, then at this rate (the usual console defaults). */
const REPEAT_DELAY_MS = 600;
const REPEAT_EVERY_MS = 40;
const WHOLE_EVERY_MS = 250;
const HINT_LOGIN = 'Tab: next field    Enter: log in';
const HINT_CHANGE = 'Tab: next field    Enter: change the password    Esc: cancel';

export function clockText(d: Date): string {
  const time = d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
  return `${time}  ${d.toLocaleDateString('en-GB', { weekday: 'long', day: 'numeric', month: 'long' })}`;
}

type Mode = { kind: 'login' } | { kind: 'busy' } | { kind: 'change'; change: (pw: string) => Promise<GreeterOutcome>; cancel: () => void };

export class Greeter {
  readonly #o: GreeterOptions;
  #layout: GreeterLayout;
  #user = '';
  #password = '';
  #new = ['', ''];
  #focus = 0;
  #message = '';
  #mode: Mode = { kind: 'login' };
  #ask: GreeterAsk | null = null;
  #reader: ReaderLine = null;
  /** What the terminal shows (null: nothing of ours yet, the next update is a whole picture). */
  #shown: GreeterView | null = null;
  #seq = 0;
  #shift = new Set<number>();
  #ctrl = new Set<number>();
  #caps = false;
  #pointer = { x: 0, y: 0 };
  #clock: NodeJS.Timeout | null = null;
  /** The key being held, typing again while it is: the only other timer, and only while a key is down. */
  #repeat: { code: number; timer: NodeJS.Timeout } | null = null;
  #stopped = false;
  /** A whole picture is due (resize, or the terminal lost its own), and when the last one went. */
  #wholeTimer: NodeJS.Timeout | null = null;
  #resized = false;
  #lastWhole = -Infinity;

  constructor(o: GreeterOptions) {
    this.#o = o;
    this.#layout = greeterLayout(o.display.width, o.display.height);
  }

  /**
   * Shows the greeter from scratch (after a session left this terminal, with why); `ask`: for a
   * card that needs a password (its user's, or anyone's to register it).
   */
  show(message = '', ask: GreeterAsk | null = null): void {
    this.#message = message;
    if (this.#mode.kind === 'change') this.#mode.cancel();
    this.#mode = { kind: 'login' };
    // whoever comes next may be someone else: nothing of the last login stays
    this.#ask = ask;
    this.#user = ask?.user ?? '';
    this.#password = '';
    this.#new = ['', ''];
    this.#focus = ask?.user ? 1 : 0;
    if (this.#shown === null || this.#stopped) {
      this.#welcome();
    } else {
      // already on the terminal's screen: only what changed
      this.#update();
    }
    this.#tick();
  }

  /** The terminal's card reader changed: the prompt says what a user can do here. */
  reader(state: ReaderLine): void {
    if (state === this.#reader) return;
    this.#reader = state;
    // before the first show the terminal has nothing of ours: show() welcomes it
    if (this.#shown !== null) this.#update();
  }

  #prompt(): string {
    if (this.#ask) return this.#ask.prompt;
    if (this.#reader === 'ready') return 'Insert your card, or log in';
    if (this.#reader === 'none') return 'Log in (no card reader)';
    if (this.#reader === 'unavailable') return 'Log in (the card reader is not available)';
    return 'Log in with your user name and password';
  }

  #imageUpdate(): { imageUpdate?: string } {
    const v = this.#o.imageUpdate?.();
    return v ? { imageUpdate: v } : {};
  }

  #welcome(): void {
    const d = this.#o.display;
    this.#o.send({ type: 'welcome', body: { version: WIRE_VERSION, width: d.width, height: d.height, serverTimeUs: Number(process.hrtime.bigint() / 1000n), greeter: true, ...this.#imageUpdate() } });
    // the terminal's own arrow: a desktop's cursor image does not belong on the greeter
    this.#o.send({ type: 'cursor', body: { mode: 0, width: 0, height: 0, hotspotX: 0, hotspotY: 0, pixels: null } });
    this.#shown = null;
    this.#update();
  }

  /**
   * Whole pictures cost a paint of the screen and tens of kilobytes (more at 8K): requests and
   * resizes coalesce into at most one every WHOLE_EVERY_MS, whatever a terminal sends.
   */
  #wholeSoon(): void {
    if (this.#wholeTimer || this.#stopped) return;
    const wait = Math.max(0, this.#lastWhole + WHOLE_EVERY_MS - performance.now());
    this.#wholeTimer = setTimeout(() => {
      this.#wholeTimer = null;
      if (this.#stopped) return;
      if (this.#resized) {
        this.#resized = false;
        const d = this.#o.display;
        this.#layout = greeterLayout(d.width, d.height);
        this.#welcome();
      } else {
        this.#shown = null;
        this.#update();
      }
    }, wait);
  }

  /** Redraws the clock at every minute's turn; the only timer a waiting terminal costs. */
  #tick(): void {
    if (this.#clock) clearTimeout(this.#clock);
    const now = (this.#o.now ?? (() => new Date()))();
    this.#clock = setTimeout(() => {
      this.#update();
      this.#tick();
    }, 60_000 - (now.getTime() % 60_000) + 50);
    this.#clock.unref();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#mode.kind === 'change') this.#mode.cancel();
    this.#stopRepeat();
    if (this.#wholeTimer) clearTimeout(this.#wholeTimer);
    this.#wholeTimer = null;
    if (this.#clock) clearTimeout(this.#clock);
    this.#clock = null;
    this.#password = '';
    this.#new = ['', ''];
  }

  #view(): GreeterView {
    const now = (this.#o.now ?? (() => new Date()))();
    const base = { title: this.#o.serverName, clock: clockText(now), focus: this.#focus, message: this.#message };
    if (this.#mode.kind === 'change') {
      return {
        ...base,
        prompt: 'Your password has expired: choose a new one',
        fields: [
          { label: 'New password', text: this.#new[0]!, secret: true },
          { label: 'The new password again', text: this.#new[1]!, secret: true },
        ],
        hint: HINT_CHANGE,
      };
    }
    if (this.#ask?.pin) {
      return { ...base, prompt: this.#ask.prompt, fields: [{ label: 'PIN', text: this.#password, secret: true }], focus: 0, hint: HINT_PIN };
    }
    return {
      ...base,
      prompt: this.#prompt(),
      fields: [
        { label: 'User name', text: this.#user, secret: false },
        { label: 'Password', text: this.#password, secret: true },
      ],
      hint: HINT_LOGIN,
    };
  }

  /** Sends what changed since the terminal's picture (all of it after a welcome). */
  #update(): void {
    if (this.#stopped) return;
    const v = this.#view();
    const l = this.#layout;
    const start = this.#shown === null;
    if (start) this.#lastWhole = performance.now();
    const rects = start ? [{ x: 0, y: 0, width: l.width, height: l.height }] : greeterDamage(l, this.#shown!, v);
    this.#shown = v;
    if (!rects.length) return;
    const canvases = paintGreeter(l, v, rects);
    if (!canvases.length) return;
    const r = new Int32Array(canvases.length * 4);
    canvases.forEach((c, i) => r.set([c.rect.x, c.rect.y, c.rect.width, c.rect.height], i * 4));
    this.#seq = (this.#seq + 1) & 0xffff;
    const full = start || (rects.length === 1 && rects[0]!.width === l.width && rects[0]!.height === l.height);
    this.#o.send({ type: 'frame', body: { seq: this.#seq, width: l.width, height: l.height, full, keyframe: false, codec: Codec.Tiles, rects: r, payload: encodeGrayTiles(canvases, start) } });
  }

  /** A terminal message while this terminal is at the greeter. */
  input(m: TerminalMessage): void {
    if (this.#stopped) return;
    switch (m.type) {
      case 'resize':
        this.#o.display = m.display;
        this.#resized = true;
        this.#wholeSoon();
        return;
      case 'keyframe-request':
        // the terminal lost its picture: the whole one, on a new stream
        this.#wholeSoon();
        return;
      case 'pointer-motion':
        this.#pointer = { x: m.x, y: m.y };
        return;
      case 'pointer-button': {
        if (!m.pressed || m.button !== BTN_LEFT || this.#mode.kind === 'busy') return;
        const i = this.#layout.fields.findIndex((f) => this.#pointer.x >= f.x && this.#pointer.x < f.x + f.width && this.#pointer.y >= f.y && this.#pointer.y < f.y + f.height);
        if (i >= 0 && i !== this.#focus) {
          this.#focus = i;
          this.#update();
        }
        return;
      }
      case 'key':
        this.#key(m.code, m.pressed);
        return;
      default:
        return;
    }
  }

  #stopRepeat(): void {
    if (this.#repeat) clearTimeout(this.#repeat.timer);
    this.#repeat = null;
  }

  #key(code: number, pressed: boolean): void {
    if (this.#repeat && (this.#repeat.code === code || pressed)) this.#stopRepeat();
    this.#press(code, pressed);
    // characters and Backspace repeat while held, as at a console (the terminal sends no repeats)
    if (pressed && !this.#stopped && this.#mode.kind !== 'busy' && (code === KEY.BACKSPACE || charOf(code, false) !== null) && !this.#ctrl.size) {
      const again = (delay: number): NodeJS.Timeout =>
        setTimeout(() => {
          if (!this.#repeat || this.#mode.kind === 'busy') return this.#stopRepeat();
          this.#press(code, true);
          this.#repeat.timer = again(REPEAT_EVERY_MS);
        }, delay);
      this.#repeat = { code, timer: again(REPEAT_DELAY_MS) };
    }
  }

  #press(code: number, pressed: boolean): void {
    // modifiers are followed in every mode, so a key let go while busy is not held ever after
    if (code === KEY.LEFTSHIFT || code === KEY.RIGHTSHIFT) return void (pressed ? this.#shift.add(code) : this.#shift.delete(code));
    if (code === KEY.LEFTCTRL || code === KEY.RIGHTCTRL) return void (pressed ? this.#ctrl.add(code) : this.#ctrl.delete(code));
    if (!pressed) return;
    if (code === KEY.CAPSLOCK) {
      this.#caps = !this.#caps;
      return;
    }
    if (this.#mode.kind === 'busy') return;
    const field = this.#field();
    if (code === KEY.ENTER || code === KEY.KPENTER) return this.#enter();
    if (code === KEY.TAB || code === KEY.UP || code === KEY.DOWN) {
      // two fields: forward and back are the same move; a card's user name is not the user's to change
      if (this.#mode.kind !== 'change' && (this.#ask?.user || this.#ask?.pin)) return;
      this.#focus = 1 - this.#focus;
      return this.#update();
    }
    if (code === KEY.ESC) {
      if (this.#ask && this.#mode.kind !== 'change') {
        // not this card, then: the plain login
        this.#ask = null;
        this.#user = '';
        this.#focus = 0;
      }
      if (this.#mode.kind === 'change') {
        this.#mode.cancel();
        this.#mode = { kind: 'login' };
        this.#new = ['', ''];
        this.#focus = 1;
      }
      this.#password = '';
      this.#message = '';
      return this.#update();
    }
    if (code === KEY.BACKSPACE) {
      field.set([...field.get()].slice(0, -1).join(''));
      return this.#update();
    }
    if (this.#ctrl.size) {
      // Ctrl+U empties the field, as at a console login
      if (charOf(code, false) === 'u') {
        field.set('');
        this.#update();
      }
      return;
    }
    const ch = charOf(code, this.#shift.size > 0, this.#caps);
    if (ch === null || field.get().length >= field.max) return;
    field.set(field.get() + ch);
    this.#update();
  }

  #field(): { get: () => string; set: (s: string) => void; max: number } {
    const i = this.#focus;
    if (this.#mode.kind === 'change') return { get: () => this.#new[i]!, set: (s) => (this.#new[i] = s), max: MAX_PASSWORD };
    if (this.#ask?.pin) return { get: () => this.#password, set: (s) => (this.#password = s), max: MAX_PIN };
    if (i === 0) return { get: () => this.#user, set: (s) => (this.#ask?.user ? undefined : (this.#user = s)), max: MAX_USER_NAME };
    return { get: () => this.#password, set: (s) => (this.#password = s), max: MAX_PASSWORD };
  }

  #enter(): void {
    const mode = this.#mode;
    if (mode.kind === 'change') {
      if (this.#focus === 0) {
        this.#focus = 1;
        return this.#update();
      }
      const [a, b] = this.#new;
      if (!a || a !== b) {
        this.#new = ['', ''];
        this.#focus = 0;
        this.#message = a ? 'the two passwords differ: type the new one twice again' : 'type a new password';
        return this.#update();
      }
      this.#new = ['', ''];
      return this.#await(mode.change(a!));
    }
    if (this.#ask?.pin) {
      if (!this.#password) return;
      const pin = this.#password;
      this.#password = '';
      return this.#await(this.#ask.submit('', pin));
    }
    if (this.#focus === 0 || !this.#user) {
      if (!this.#user) return;
      this.#focus = 1;
      return this.#update();
    }
    if (!this.#password) return;
    const password = this.#password;
    this.#password = '';
    this.#await((this.#ask?.submit ?? this.#o.submit)(this.#user, password));
  }

  #await(p: Promise<GreeterOutcome>): void {
    this.#mode = { kind: 'busy' };
    this.#message = 'checking…';
    this.#update();
    void p.then(
      (r) => this.#outcome(r),
      () => this.#outcome({ ok: false, message: 'the login could not be checked: try again' }),
    );
  }

  #outcome(r: GreeterOutcome): void {
    if (this.#stopped || r.ok) return;
    this.#message = r.message;
    if ('changePassword' in r) {
      this.#mode = { kind: 'change', change: r.changePassword, cancel: r.cancel };
      this.#focus = 0;
    } else {
      this.#mode = { kind: 'login' };
      this.#focus = this.#user ? 1 : 0;
    }
    this.#update();
  }
}
