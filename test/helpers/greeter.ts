// What a terminal shows of the greeter, and typing at it as a user would.
import { keystrokes, KEY } from '../../protocol/src/us-keys.js';
import type { Terminal } from '../../client-firmware/src/terminal.js';
import { greeterLayout, paintGreeter } from '../../session-manager/src/greeter-picture.js';

/**
 * True when the terminal's picture has the greeter with this message on its message line: its
 * pixels there are the greeter's own drawing of that message (the rest of the view does not
 * reach into that line).
 */
export function greeterSays(t: Terminal, message: string): boolean {
  const { width, height, framebuffer: fb } = t.painter;
  if (!width) return false;
  const want = messageLine(width, height, message);
  for (let y = 0; y < want.rect.height; y++) {
    for (let x = 0; x < want.rect.width; x++) {
      const i = ((want.rect.y + y) * width + want.rect.x + x) * 4;
      const g = want.px[y * want.rect.width + x]!;
      if (fb[i] !== g || fb[i + 1] !== g || fb[i + 2] !== g) return false;
    }
  }
  return true;
}

/** The greeter's own drawing of its message line at this size (the rest of the view does not reach into it). */
export function messageLine(width: number, height: number, message: string): { rect: { x: number; y: number; width: number; height: number }; px: Uint8Array } {
  const l = greeterLayout(width, height);
  const view = { title: '', clock: '', prompt: '', fields: [], focus: 0, message, hint: '' };
  return paintGreeter(l, view, [l.messageAt])[0]!;
}

/** Types the user name, Enter, the password, Enter: what a user does at the greeter. */
export function typeLogin(t: Terminal, user: string, password: string): void {
  for (const k of [...keystrokes(user), { code: KEY.ENTER, pressed: true }, { code: KEY.ENTER, pressed: false }, ...keystrokes(password)]) t.key(k.code, k.pressed);
  t.key(KEY.ENTER, true);
  t.key(KEY.ENTER, false);
}
