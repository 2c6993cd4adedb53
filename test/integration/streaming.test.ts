// The whole chain: foot in a compositor, the session-manager relaying over TLS WebSocket,
// the headless terminal decoding into its own picture.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keystrokes } from '../../protocol/src/us-keys.js';
import { pixel, sleep, waitFor } from '../helpers/compositor.js';
import { differsFromDesktop, quiet, startDevServer, startTerminal, type DevServer } from '../helpers/server.js';
import { inkLines, sameRegion } from '../helpers/text.js';
import type { Terminal } from '../../client-firmware/src/terminal.js';

const W = 1920;
const H = 1080;

/** Pixels where the terminal's picture differs from what grim reads off the compositor. */
function differsFromCompositor(s: DevServer, t: Terminal): Promise<number> {
  return differsFromDesktop(s, t.painter.framebuffer, W, H);
}

describe('streaming to a headless terminal', () => {
  let s: DevServer;
  let t: Terminal;
  beforeAll(async () => {
    s = await startDevServer(['foot', '-o', 'cursor.blink=no', '-o', 'font=monospace:size=12', 'sh'], { PS1: '$ ', ENV: '' });
    t = startTerminal(s).terminal;
    await waitFor('the first picture', () => t.painter.width === W);
    await quiet(t);
  });
  afterAll(async () => {
    t?.stop();
    await s?.stop();
  });

  it('shows exactly what the compositor shows', async () => {
    expect(await differsFromCompositor(s, t)).toBe(0);
  });

  it('types `echo hi` at the terminal and the terminal shows hi', async () => {
    for (const k of keystrokes('echo hi\n')) t.key(k.code, k.pressed);
    const fb = (): Buffer => t.painter.framebuffer;
    const bg = pixel(fb(), W, W - 1, H - 1);
    const lines = await waitFor('three lines', () => {
      const l = inkLines(fb(), W, H, bg, 600);
      return l.length >= 3 ? l : null;
    });
    await quiet(t);
    const [typed, output] = [lines[0]!, lines[1]!];
    let found = false;
    const dy0 = -(output.top - typed.top);
    for (let dy = dy0 - 4; dy <= dy0 + 4 && !found; dy++)
      for (let dx = 1; dx < 200 && !found; dx++) if (sameRegion(fb(), W, output, dx, dy)) found = true;
    expect(found).toBe(true);
    expect(await differsFromCompositor(s, t)).toBe(0);
  });

  it('after the connection drops, reconnects, shows the same picture, and no key stays pressed', async () => {
    t.key(30, true); // "a" held down...
    await sleep(100);
    t.dropConnection(); // ...when the cable is pulled
    await waitFor('the terminal to reconnect', () => t.connected, 10_000);
    await sleep(1500); // past foot's key repeat delay: a stuck key would be typing by now
    await quiet(t);
    expect(await differsFromCompositor(s, t)).toBe(0);
    const bg = pixel(t.painter.framebuffer, W, W - 1, H - 1);
    const last = inkLines(t.painter.framebuffer, W, H, bg, 600).pop()!;
    // the prompt line holds "$ a" and the cursor: a handful of cells, not a row of repeats
    expect(last.right).toBeLessThan(80);
  });

  it('tells the terminal when its desktop crashes, and brings a new one', async () => {
    const compositor = Number(fs.readFileSync(`/proc/${s.proc.pid}/task/${s.proc.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
    expect(compositor).toBeGreaterThan(0);
    const said = new Promise<string>((r) => t.once('server-error', r));
    process.kill(compositor, 'SIGKILL'); // a crash: nothing is cleaned up
    expect(await said).toMatch(/desktop ended; a new one is starting/);
    const before = t.framesDecoded;
    await waitFor('a picture of the new desktop', () => t.framesDecoded > before, 20_000);
    await quiet(t);
    expect(await differsFromCompositor(s, t)).toBe(0);
  });

  it('refuses a server whose certificate is not the pinned one', async () => {
    const wrong = startTerminal({ url: s.url, fingerprint: 'AA:'.repeat(31) + 'AA', token: s.token }, { width: 800, height: 600 }, 'impostor-check');
    const status = await new Promise<string>((r) => wrong.terminal.once('status', (st) => r(st.message)));
    wrong.terminal.stop();
    expect(status).toMatch(/is not the pinned/);
    expect(t.connected).toBe(true); // nothing reached the server: our terminal kept its desktop
  });
});
