// The compositor composes pixman frames itself (core.c, compose_pixman) instead of through
// wlroots' renderer, which is 20-30x slower on the same damage. Both must give the same picture.
import { spawn, type ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { settle, startCompositor, waitFor } from '../helpers/compositor.js';

const SH_ENV = { PS1: '$ ', ENV: '' };

/** An opaque foot with text, and a translucent one above it (blending), then the picture. */
async function picture(extraEnv: NodeJS.ProcessEnv): Promise<Buffer> {
  const c = await startCompositor({
    command: ['foot', '-o', 'cursor.blink=no', 'sh', '-c', 'seq 1 40; printf "bottom window"; sleep 600'],
    extraEnv: { ...SH_ENV, ...extraEnv },
  });
  let top: ChildProcess | null = null;
  try {
    await waitFor('the first window', () => c.link.windows.length === 1, 15_000);
    await settle(c.link, 500);
    // started only once the first is up, so the stacking is the same every time
    top = spawn('foot', ['-o', 'colors.alpha=0.6', '-o', 'cursor.blink=no', 'sh', '-c', 'printf "translucent window on top"; sleep 600'], {
      env: { ...c.env, ...SH_ENV },
      stdio: 'ignore',
    });
    await waitFor('the second window', () => c.link.windows.length === 2, 15_000);
    await settle(c.link, 800);
    return Buffer.from(c.link.framebuffer);
  } finally {
    top?.kill();
    await c.stop();
  }
}

/**
 * A small window that leaves the desktop around it bare, and where it is: weston-scaler shows
 * its buffer through a viewport (scaled: wlroots' path); weston-simple-shm's is 1:1 and
 * opaque, so nothing of the desktop is drawn under it.
 */
async function smallWindow(command: string[], extraEnv: NodeJS.ProcessEnv): Promise<Buffer> {
  const c = await startCompositor({ command, extraEnv });
  try {
    await waitFor('the window', () => c.link.windows.length === 1, 15_000);
    if (command[0] === 'weston-simple-shm') {
      // A new output size repaints everything with the opaque window already there: the
      // desktop around it must still be drawn. (It animates, so it never settles: wait.)
      c.link.send({ type: 'resize', width: 1280, height: 720, refreshMhz: 60000 });
      await waitFor('the new size', () => c.link.width === 1280, 15_000);
      await new Promise((r) => setTimeout(r, 800));
    } else await settle(c.link, 800);
    return Buffer.from(c.link.framebuffer);
  } finally {
    await c.stop();
  }
}

describe('composing', () => {
  it("gives the same picture as wlroots' renderer for small windows on a bare desktop, scaled or 1:1", async () => {
    for (const command of [['weston-scaler', '-b'], ['weston-simple-shm']]) {
      const ours = await smallWindow(command, {});
      const wlroots = await smallWindow(command, { WAYDESK_WLROOTS_COMPOSE: '1' });
      const animated = command[0] === 'weston-simple-shm';
      const W = animated ? 1280 : 1920;
      expect(ours.length, command[0]).toBe(wlroots.length);
      // The window sits at the top left; the desktop's colour is at the bottom right.
      const background = wlroots.readUInt32LE(wlroots.length - 4);
      let bare = 0;
      let right = 0;
      let bottom = 0;
      for (let i = 0; i < wlroots.length; i += 4) {
        if (wlroots.readUInt32LE(i) === background) bare++;
        else {
          right = Math.max(right, ((i / 4) % W) + 1);
          bottom = Math.max(bottom, Math.floor(i / 4 / W) + 1);
        }
      }
      // simple-shm animates: only the desktop around it can be compared
      let differ = 0;
      for (let i = 0; i < ours.length; i += 4) {
        if (animated && (i / 4) % W < right && Math.floor(i / 4 / W) < bottom) continue;
        if (ours.readUInt32LE(i) << 8 !== wlroots.readUInt32LE(i) << 8) differ++;
      }
      expect(right * bottom, command[0]).toBeGreaterThan(10_000);
      expect(bare, command[0]).toBe(ours.length / 4 - right * bottom);
      expect(differ, command[0]).toBe(0);
    }
  }, 60_000);

  it("gives the same picture as wlroots' renderer, translucent windows included", async () => {
    const ours = await picture({});
    const wlroots = await picture({ WAYDESK_WLROOTS_COMPOSE: '1' });
    expect(ours.length).toBe(1920 * 1080 * 4);
    let differ = 0;
    let translucent = 0;
    for (let i = 0; i < ours.length; i += 4) {
      if (ours[i] !== wlroots[i] || ours[i + 1] !== wlroots[i + 1] || ours[i + 2] !== wlroots[i + 2]) differ++;
      // the translucent window lets the bottom one's text through: more than two colours
      if (ours[i] !== ours[0] && ours[i] !== ours[(1919 + 1079 * 1920) * 4]) translucent++;
    }
    expect(translucent).toBeGreaterThan(500);
    expect(differ).toBe(0);
  }, 60_000);
});
