// X11 programs on the desktop: xterm (X11, through Xwayland started on its first connection) and
// foot (Wayland) side by side, managed alike, with text copied in one pasted in the other both
// ways; the X display admits only clients with the session's cookie.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { WindowInfo } from '@waydesk/protocol/compositor-ipc';
import { settle, sleep, startCompositor, waitFor, type Started } from '../helpers/compositor.js';

const KEY = { leftalt: 56, tab: 15, leftctrl: 29, leftshift: 42, c: 46, v: 47, insert: 110, enter: 28, f4: 62 };
const BTN_LEFT = 0x110;
const run = promisify(execFile);

let c: Started | undefined;
let dir: string | undefined;
afterEach(async () => {
  await c?.stop();
  c = undefined;
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function chord(link: Started['link'], ...codes: number[]): void {
  for (const k of codes) link.key(k, true);
  for (const k of [...codes].reverse()) link.key(k, false);
}

function doubleClick(link: Started['link'], x: number, y: number): void {
  link.send({ type: 'pointer-motion', x, y });
  for (let i = 0; i < 2; i++) {
    link.send({ type: 'pointer-button', button: BTN_LEFT, pressed: true });
    link.send({ type: 'pointer-button', button: BTN_LEFT, pressed: false });
  }
}

/** The X11 connection setup: 1 accepted, 0 refused (with the server's reason). */
function x11Handshake(address: string, cookie: Buffer | null): Promise<{ status: number; reason: string }> {
  const name = cookie ? Buffer.from('MIT-MAGIC-COOKIE-1') : Buffer.alloc(0);
  const data = cookie ?? Buffer.alloc(0);
  const pad = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);
  const head = Buffer.alloc(12);
  head.write('l', 0);
  head.writeUInt16LE(11, 2);
  head.writeUInt16LE(name.length, 6);
  head.writeUInt16LE(data.length, 8);
  return new Promise((resolve, reject) => {
    const s = net.connect(address, () => s.write(Buffer.concat([head, name, pad(name.length), data, pad(data.length)])));
    s.once('error', reject);
    // the reply may come in pieces: the reason is whole once its length (byte 1) has arrived
    let got = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length < 8 || (got[0] === 0 && got.length < 8 + got[1]!)) return;
      s.destroy();
      resolve({ status: got[0]!, reason: got[0] === 0 ? got.subarray(8, 8 + got[1]!).toString() : '' });
    });
  });
}

/** The same setup on the abstract socket X servers also listen on (Node cannot connect to one). */
async function x11HandshakeAbstract(name: string): Promise<{ status: number; reason: string }> {
  const py = [
    'import socket, struct, sys',
    's = socket.socket(socket.AF_UNIX)',
    "s.connect('\\0' + sys.argv[1])",
    "s.send(b'l\\0' + struct.pack('<HHHHxx', 11, 0, 0, 0))",
    'd = s.recv(8)',
    'while len(d) < 8 or (d[0] == 0 and len(d) < 8 + d[1]):',
    '    more = s.recv(256)',
    '    if not more: break',
    '    d += more',
    "print(d[0], d[8:8 + d[1]].decode() if d[0] == 0 else '')",
  ].join('\n');
  const { stdout } = await run('python3', ['-c', py, name]);
  const [status, ...reason] = stdout.trim().split(' ');
  return { status: Number(status), reason: reason.join(' ') };
}

/** The cookie in an xauth file of one entry (family, address, number, name, data). */
function cookieOf(file: string): Buffer {
  const b = fs.readFileSync(file);
  let o = 2;
  const field = (): Buffer => {
    const n = b.readUInt16BE(o);
    const v = b.subarray(o + 2, o + 2 + n);
    o += 2 + n;
    return v;
  };
  field();
  field();
  expect(field().toString()).toBe('MIT-MAGIC-COOKIE-1');
  return field();
}

async function focus(link: Started['link'], which: (w: WindowInfo) => boolean, what: string): Promise<void> {
  for (let i = 0; i < 3 && !link.windows.find(which)?.focused; i++) {
    link.key(KEY.leftalt, true);
    chord(link, KEY.tab);
    link.key(KEY.leftalt, false);
    await sleep(150);
  }
  await waitFor(`${what} focused`, () => link.windows.find(which)?.focused);
  await settle(link, 300);
}

/** A paste arrives after the keys that ask for it: Enter waits until the pasted text is drawn. */
async function pasted(link: Started['link'], keys: () => void): Promise<void> {
  await settle(link, 300);
  const drawn = link.next('frame');
  keys();
  await drawn;
  await settle(link, 300);
}

describe('X11 programs', () => {
  it('runs xterm beside foot, managed alike, and copies and pastes between them both ways', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-x11-'));
    fs.chmodSync(dir, 0o755);
    const script = path.join(dir, 'session.sh');
    // Each program prints a word, then writes the line typed (pasted) into it to a file.
    fs.writeFileSync(
      script,
      `#!/bin/sh
foot -o cursor.blink=no sh -c 'echo footword; read l; printf %s "$l" > "$XDG_RUNTIME_DIR/foot-got"; sleep 600' &
xterm -xrm 'XTerm*selectToClipboard: true' -e sh -c 'echo xtermword; read l; printf %s "$l" > "$XDG_RUNTIME_DIR/xterm-got"; sleep 600' &
wait
`,
      { mode: 0o755 },
    );
    c = await startCompositor({ command: [script] });
    const link = c.link;
    const isXterm = (w: WindowInfo): boolean => w.appId === 'XTerm';
    const isFoot = (w: WindowInfo): boolean => w.appId === 'foot';
    await waitFor('xterm and foot on the desktop', () => link.windows.some(isXterm) && link.windows.some(isFoot), 20_000);
    // The X11 window is managed as the Wayland one is: maximized to the desktop.
    await waitFor('xterm maximized', () => {
      const x = link.windows.find(isXterm);
      return x && x.width === 1920 && x.height === 1080 && x.x === 0 && x.y === 0 && !x.floating;
    });
    expect(c.stderr()).toMatch(/"x11Display":":\d+"/);

    // xterm → foot: a double-click selects xterm's word (and copies it), Ctrl+Shift+V pastes it in foot.
    await focus(link, isXterm, 'xterm');
    doubleClick(link, 20, 7);
    await sleep(300);
    await focus(link, isFoot, 'foot');
    await pasted(link, () => {
      link.key(KEY.leftctrl, true);
      chord(link, KEY.leftshift, KEY.v);
      link.key(KEY.leftctrl, false);
    });
    chord(link, KEY.enter);
    const footGot = path.join(c.runtimeDir, 'foot-got');
    await waitFor('foot to get the pasted line', () => fs.existsSync(footGot));
    expect(fs.readFileSync(footGot, 'utf8')).toBe('xtermword');

    // foot → xterm: a double-click and Ctrl+Shift+C copy foot's word, Shift+Insert pastes it in xterm.
    doubleClick(link, 20, 10);
    link.key(KEY.leftctrl, true);
    chord(link, KEY.leftshift, KEY.c);
    link.key(KEY.leftctrl, false);
    await sleep(300);
    // on the Wayland side too, for data-control clients (clipboard managers, wl-paste)
    expect((await run('wl-paste', ['--no-newline'], { env: c.env })).stdout).toBe('footword');
    await focus(link, isXterm, 'xterm');
    await pasted(link, () => chord(link, KEY.leftshift, KEY.insert));
    chord(link, KEY.enter);
    const xtermGot = path.join(c.runtimeDir, 'xterm-got');
    await waitFor('xterm to get the pasted line', () => fs.existsSync(xtermGot));
    expect(fs.readFileSync(xtermGot, 'utf8')).toBe('footword');

    // Alt+F4 closes an X11 window as it closes a Wayland one (WM_DELETE_WINDOW).
    chord(link, KEY.leftalt, KEY.f4);
    await waitFor('xterm closed', () => !link.windows.some(isXterm));
    expect(link.windows.some(isFoot)).toBe(true);
  }, 60_000);

  it('admits to the X11 display only clients holding the session cookie', async () => {
    c = await startCompositor({ command: ['xterm', '-e', 'sleep', '600'] });
    await waitFor('xterm on the desktop', () => c!.link.windows.some((w) => w.appId === 'XTerm'), 20_000);
    const display = /"x11Display":":(\d+)"/.exec(c.stderr())?.[1];
    expect(display).toBeDefined();
    const file = `/tmp/.X11-unix/X${display}`;
    // another local user (here: a process without the cookie) is turned away on both sockets
    for (const r of [await x11Handshake(file, null), await x11HandshakeAbstract(file)]) {
      expect(r.status).toBe(0);
      expect(r.reason).toMatch(/Authorization required/);
    }
    const xauth = path.join(c.runtimeDir, 'xauthority');
    expect(fs.statSync(xauth).mode & 0o777).toBe(0o600);
    expect((await x11Handshake(file, cookieOf(xauth))).status).toBe(1);
    // a wrong cookie of the right length is refused too
    expect((await x11Handshake(file, Buffer.alloc(16, 7))).status).toBe(0);
  }, 30_000);

  it("shows xterm's Ctrl+click menu (an override-redirect window) at the pointer, outside the window list", async () => {
    c = await startCompositor({ command: ['xterm', '-e', 'sleep', '600'] });
    const link = c.link;
    await waitFor('xterm maximized', () => link.windows.find((w) => w.appId === 'XTerm')?.width === 1920, 20_000);
    await settle(link, 400);
    const at = { x: 600, y: 400 };
    const sample = (): number[] => {
      const out: number[] = [];
      for (let y = at.y; y < at.y + 60; y += 4) for (let x = at.x; x < at.x + 100; x += 4) out.push(link.framebuffer.readUInt32LE((y * 1920 + x) * 4) & 0xffffff);
      return out;
    };
    const before = sample();
    link.send({ type: 'pointer-motion', x: at.x, y: at.y });
    link.key(KEY.leftctrl, true);
    link.send({ type: 'pointer-button', button: BTN_LEFT, pressed: true });
    await waitFor('the menu drawn at the pointer', () => sample().some((p, i) => p !== before[i]));
    expect(link.windows.length).toBe(1);
    link.send({ type: 'pointer-button', button: BTN_LEFT, pressed: false });
    link.key(KEY.leftctrl, false);
    await waitFor('the menu gone', () => sample().every((p, i) => p === before[i]));
    expect(link.windows.find((w) => w.appId === 'XTerm')?.focused).toBe(true);
  }, 30_000);

  it('says so and offers no X11 display where Xwayland is not installed', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-x11-'));
    fs.chmodSync(dir, 0o777);
    const out = path.join(dir, 'display');
    c = await startCompositor({
      command: ['sh', '-c', `printf '%s|%s' "$DISPLAY" "$XAUTHORITY" > ${out}; sleep 600`],
      extraEnv: { WAYDESK_XWAYLAND: '/nonexistent/Xwayland' },
    });
    await waitFor('the session command to run', () => fs.existsSync(out));
    expect(fs.readFileSync(out, 'utf8')).toBe('|');
    expect(c.stderr()).toMatch(/Xwayland is not installed: X11-only programs will not start \(apt install xwayland\)/);
    expect(c.stderr()).not.toMatch(/"x11Display":":/);
  }, 30_000);
});
