/** evdev key codes (linux/input-event-codes.h) for text on a US layout: [code, shift]. */
const KEY_LEFTSHIFT = 42;
const rows: Array<[string, string, number]> = [
  // unshifted, shifted, first code
  ['1234567890-=', '!@#$%^&*()_+', 2],
  ['qwertyuiop[]', 'QWERTYUIOP{}', 16],
  ["asdfghjkl;'`", 'ASDFGHJKL:"~', 30],
  ['\\zxcvbnm,./', '|ZXCVBNM<>?', 43],
];
const table = new Map<string, [number, boolean]>();
for (const [plain, shifted, first] of rows) {
  for (let i = 0; i < plain.length; i++) {
    table.set(plain[i]!, [first + i, false]);
    table.set(shifted[i]!, [first + i, true]);
  }
}
table.set(' ', [57, false]);
table.set('\n', [28, false]);
table.set('\t', [15, false]);

export const KEY = { ENTER: 28, LEFTALT: 56, TAB: 15, F4: 62, LEFTSHIFT: KEY_LEFTSHIFT, LEFTCTRL: 29 } as const;

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
