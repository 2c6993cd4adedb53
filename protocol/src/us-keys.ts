/**
 * The US keyboard layout as evdev key codes (linux/input-event-codes.h), once for both
 * directions: what keys type a text (tests, benchmarks, the demo), and what a key types (the
 * greeter, which reads a terminal's keys without a compositor).
 */
const KEY_LEFTSHIFT = 42;
const rows: Array<[string, string, number]> = [
  // unshifted, shifted, first code
  ['1234567890-=', '!@#$%^&*()_+', 2],
  ['qwertyuiop[]', 'QWERTYUIOP{}', 16],
  ["asdfghjkl;'`", 'ASDFGHJKL:"~', 30],
  ['\\zxcvbnm,./', '|ZXCVBNM<>?', 43],
];
const table = new Map<string, [number, boolean]>();
/** code → [unshifted, shifted] */
const byCode = new Map<number, [string, string]>();
for (const [plain, shifted, first] of rows) {
  for (let i = 0; i < plain.length; i++) {
    table.set(plain[i]!, [first + i, false]);
    table.set(shifted[i]!, [first + i, true]);
    byCode.set(first + i, [plain[i]!, shifted[i]!]);
  }
}
byCode.set(57, [' ', ' ']);
table.set(' ', [57, false]);
table.set('\n', [28, false]);
table.set('\t', [15, false]);

export const KEY = {
  ESC: 1,
  BACKSPACE: 14,
  TAB: 15,
  ENTER: 28,
  LEFTCTRL: 29,
  LEFTSHIFT: KEY_LEFTSHIFT,
  RIGHTSHIFT: 54,
  LEFTALT: 56,
  CAPSLOCK: 58,
  F4: 62,
  KPENTER: 96,
  RIGHTCTRL: 97,
  UP: 103,
  DOWN: 108,
} as const;

/** The character a key types on a US layout (letters follow Caps Lock), or null for keys that type none. */
export function charOf(code: number, shift: boolean, capsLock = false): string | null {
  const k = byCode.get(code);
  if (!k) return null;
  const letter = /[a-z]/.test(k[0]);
  return (letter && capsLock ? !shift : shift) ? k[1] : k[0];
}

/** The key presses and releases that type `text` on a US layout. */
export function keystrokes(text: string): Array<{ code: number; pressed: boolean }> {
  const out: Array<{ code: number; pressed: boolean }> = [];
  for (const ch of text) {
    const k = table.get(ch);
    if (!k) throw new Error(`no US-layout key for ${JSON.stringify(ch)}`);
    const [code, shift] = k;
    if (shift) out.push({ code: KEY_LEFTSHIFT, pressed: true });
    out.push({ code, pressed: true }, { code, pressed: false });
    if (shift) out.push({ code: KEY_LEFTSHIFT, pressed: false });
  }
  return out;
}
