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

describe('composing', () => {
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
