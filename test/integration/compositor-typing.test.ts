// Typing into a real foot through the compositor's input API, as a terminal will.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keystrokes } from '../../protocol/src/us-keys.js';
import type { FrameMsg } from '@waydesk/protocol/compositor-ipc';
import { pixel, sendKeys, settle, sleep, startCompositor, waitFor, waitForPrompt, type Started } from '../helpers/compositor.js';
import { inkLines, sameRegion } from '../helpers/text.js';

const W = 1920;
const H = 1080;

describe('typing into foot', () => {
  let c: Started;
  let bg = 0;
  beforeAll(async () => {
    c = await startCompositor({
      command: ['foot', '-o', 'cursor.blink=no', '-o', 'font=monospace:size=12', 'sh'],
      extraEnv: { PS1: '$ ', ENV: '' },
    });
    await waitFor('foot to map', () => c.link.windows.some((w) => w.appId === 'foot'));
    await waitForPrompt(c.link);
    bg = pixel(c.link.framebuffer, W, W - 1, H - 1);
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('shows the prompt on one line', () => {
    expect(inkLines(c.link.framebuffer, W, H, bg, 600)).toHaveLength(1);
  });

  it('damages under 5% of the output for one keystroke, on the prompt row', async () => {
    const frames: FrameMsg[] = [];
    const on = (f: FrameMsg): void => void frames.push(f);
    c.link.on('frame', on);
    sendKeys(c.link, keystrokes('x'));
    await waitFor('the keystroke to reach the picture', () => frames.length > 0);
    await settle(c.link, 300);
    c.link.off('frame', on);
    let area = 0;
    const prompt = inkLines(c.link.framebuffer, W, H, bg, 600)[0]!;
    for (const f of frames) {
      for (let i = 0; i < f.rects.length; i += 4) {
        area += f.rects[i + 2]! * f.rects[i + 3]!;
        // every changed rectangle touches the prompt row
        expect(f.rects[i + 1]!).toBeLessThan(prompt.bottom + 16);
      }
    }
    expect(area / (W * H)).toBeLessThan(0.05);
    expect(area).toBeGreaterThan(0);
    // erase it again
    sendKeys(c.link, [{ code: 14, pressed: true }, { code: 14, pressed: false }]);
    await settle(c.link, 300);
  });

  it('runs `echo hi` and shows hi on the next line, in the same glyphs as typed', async () => {
    sendKeys(c.link, keystrokes('echo hi\n'));
    const lines = await waitFor('three lines of text', () => {
      const l = inkLines(c.link.framebuffer, W, H, bg, 600);
      return l.length >= 3 ? l : null;
    });
    await settle(c.link, 300);
    const [typed, output] = [lines[0]!, lines[1]!];
    // "hi" is narrow: two cells against the nine of "$ echo hi"
    expect(output.right - output.left).toBeLessThan((typed.right - typed.left) / 3);
    // and its pixels are exactly those of the "hi" typed on the line above
    const fb = c.link.framebuffer;
    let found = false;
    for (let dy = -(output.top - typed.top) - 4; dy <= -(output.top - typed.top) + 4 && !found; dy++) {
      for (let dx = 1; dx < 200 && !found; dx++) {
        if (output.top + dy >= 0 && sameRegion(fb, W, output, dx, dy)) found = true;
      }
    }
    expect(found).toBe(true);
  });

  it('emits no frames while the desktop is idle', async () => {
    await settle(c.link, 500);
    const before = c.link.framesReceived;
    const bytes = c.link.bytesReceived;
    await sleep(2000);
    expect(c.link.framesReceived).toBe(before);
    expect(c.link.bytesReceived).toBe(bytes);
  });

  it('resizes the output and reconfigures the maximized window', async () => {
    c.link.send({ type: 'resize', width: 1280, height: 720, refreshMhz: 60000 });
    const foot = await waitFor('foot at 1280x720', () =>
      c.link.windows.find((w) => w.appId === 'foot' && w.width === 1280 && w.height === 720),
    );
    expect(foot).toMatchObject({ x: 0, y: 0 });
    await waitFor('a 1280x720 frame', () => c.link.width === 1280 && c.link.height === 720);
    await settle(c.link, 300);
    // The prompt is still there after the resize.
    const fb = c.link.framebuffer;
    expect(inkLines(fb, 1280, 720, pixel(fb, 1280, 1279, 719), 600).length).toBeGreaterThanOrEqual(3);
    c.link.send({ type: 'resize', width: W, height: H, refreshMhz: 60000 });
    await waitFor('foot back at 1920x1080', () => c.link.windows.find((w) => w.appId === 'foot' && w.width === W));
  });

  it('rejects an impossible resize with an error and keeps running', async () => {
    const err = c.link.next('remote-error');
    // 10x10 is below the protocol's bound: the compositor closes the link with a reason
    c.link.send({ type: 'resize', width: 10, height: 10, refreshMhz: 60000 });
    expect((await err)[0]).toMatch(/resize: 10x10 is outside/);
    await waitFor('the link to close', () => c.link.closed);
    expect(c.proc.exitCode).toBeNull();
  });
});
