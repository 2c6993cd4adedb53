// A desktop nobody looks at costs (almost) nothing: its frame clock stops, its heartbeat slows,
// and after RELEASE_UNVIEWED_MS it gives back the pictures it kept for a viewer; a terminal that
// comes back gets exactly the same desktop.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keystrokes } from '../../protocol/src/us-keys.js';
import { RELEASE_UNVIEWED_MS } from '../../compositor/src/frame-link.js';
import { childrenOf, pssBytes, wakeups } from '../bench/procs.js';
import { sleep, waitFor } from '../helpers/compositor.js';
import { differsFromDesktop, quiet, startDevServer, startTerminal, type DevServer } from '../helpers/server.js';

describe('a desktop without a terminal', () => {
  let s: DevServer;
  beforeAll(async () => {
    s = await startDevServer(['foot', '-o', 'cursor.blink=no', 'sh']);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('stops waking, gives its picture buffers back, and shows the same desktop to the next terminal', async () => {
    const W = 1920, H = 1080;
    const first = startTerminal(s, { width: W, height: H }, 'idle-1').terminal;
    await waitFor('the desktop', () => first.painter.width === W, 15_000);
    for (const k of keystrokes('echo left alone')) first.key(k.code, k.pressed);
    await quiet(first, 600);
    const compositor = childrenOf(s.proc.pid!).find((p) => fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('waydesk-compositor'))!;
    const viewed = pssBytes(compositor);
    first.stop();
    await waitFor('the buffers released', () => s.log().includes('released the picture buffers'), RELEASE_UNVIEWED_MS + 10_000, 200);
    await sleep(1000);
    const released = pssBytes(compositor);
    // the picture's copy, what the terminal had, and the output's render buffer: 8 MB each at 1080p
    expect(viewed - released).toBeGreaterThan(16 * 1024 * 1024);
    // nothing drawn and nobody looking: no frame clock (60 a second before), at most a heartbeat
    const w0 = wakeups(compositor);
    await sleep(5000);
    expect(wakeups(compositor) - w0).toBeLessThanOrEqual(4);

    const second = startTerminal(s, { width: W, height: H }, 'idle-2').terminal;
    try {
      await waitFor('the desktop again', () => second.painter.width === W && second.framesDecoded > 0, 15_000);
      await quiet(second, 600);
      // drawn again from the clients' buffers: every pixel as the compositor has it, the typed text included
      expect(await differsFromDesktop(s, second.painter.framebuffer, W, H)).toBe(0);
      const text = second.painter.framebuffer;
      let ink = 0;
      for (let i = 0; i < W * 200; i++) if (text[i * 4] !== text[0]) ink++;
      expect(ink).toBeGreaterThan(100);
      // typing still works after the buffers came back
      const before = second.framesDecoded;
      for (const k of keystrokes('x')) second.key(k.code, k.pressed);
      await waitFor('the key on screen', () => second.framesDecoded > before, 5000);
    } finally {
      second.stop();
    }
  }, 60_000);
});
