// The parent link: backpressure that coalesces instead of queueing, detach that releases
// every held key, re-attach that shows the same picture, and window policy bindings.
import { afterEach, describe, expect, it } from 'vitest';
import type { FrameMsg } from '@waydesk/protocol/compositor-ipc';
import { FrameError, FramePainter } from '../../client-firmware/src/frame-painter.js';
import { PaintingLink } from '../helpers/painting-link.js';
import { KEY, keystrokes } from '../../protocol/src/us-keys.js';
import { pixel, sendKeys, settle, sleep, startCompositor, waitFor, waitForPrompt, type Started } from '../helpers/compositor.js';
import { inkLines } from '../helpers/text.js';

const W = 1920;
const H = 1080;
let c: Started | undefined;
afterEach(async () => {
  await c?.stop();
  c = undefined;
});

async function footSession(extra: string[] = []): Promise<Started> {
  const s = await startCompositor({
    command: ['foot', '-o', 'cursor.blink=no', '-o', 'font=monospace:size=12', ...extra, 'sh'],
    extraEnv: { PS1: '$ ', ENV: '' },
  });
  await waitFor('foot to map', () => s.link.windows.some((w) => w.appId === 'foot'));
  await waitForPrompt(s.link);
  return s;
}

describe('frame link', () => {
  it('holds at most two frames in flight and coalesces the rest into one, losing nothing', async () => {
    c = await footSession();
    const link = c.link;
    link.autoAck = false;
    const got: FrameMsg[] = [];
    link.on('frame', (f) => got.push(f));
    sendKeys(link, keystrokes('echo one two three four five six'));
    await sleep(1500);
    // a slow parent: the compositor stopped after two unacknowledged frames
    expect(got.length).toBeLessThanOrEqual(2);
    expect(got.length).toBeGreaterThan(0);
    for (const f of [...got]) link.ack(f.seq);
    link.autoAck = true;
    await settle(link, 400);
    // everything typed arrived, as few frames: the picture equals a fresh full frame
    expect(got.length).toBeLessThan(10);
    const mine = Buffer.from(link.framebuffer);
    link.send({ type: 'request-full' });
    const [full] = await link.next('frame');
    expect(full.full).toBe(true);
    expect(Buffer.compare(mine, link.framebuffer)).toBe(0);
    // the whole command line is on screen
    const bg = pixel(mine, W, W - 1, H - 1);
    const line = inkLines(mine, W, H, bg, 1200)[0]!;
    expect(line.right).toBeGreaterThan(200);
  });

  it('releases held keys when the parent goes away, and shows the same picture to the next one', async () => {
    c = await footSession();
    // Press "a" and vanish before the key is released: foot would repeat it forever.
    c.link.key(30, true);
    await sleep(150);
    c.link.close();
    await sleep(1500); // longer than foot's 600 ms repeat delay
    const link = await PaintingLink.connectPainting(c.ipcPath);
    const [first] = await link.next('frame');
    expect(first.full).toBe(true);
    await settle(link, 300);
    const fb1 = Buffer.from(link.framebuffer);
    await sleep(800);
    await settle(link, 300);
    // no repeats: the picture is stable and the prompt line grew by one character only
    expect(Buffer.compare(fb1, link.framebuffer)).toBe(0);
    const bg = pixel(fb1, W, W - 1, H - 1);
    const line = inkLines(fb1, W, H, bg, 600)[0]!;
    expect(line.right).toBeLessThan(60);
    // the new parent sees exactly what the compositor has
    const mine = Buffer.from(link.framebuffer);
    link.send({ type: 'request-full' });
    await link.next('frame');
    expect(Buffer.compare(mine, link.framebuffer)).toBe(0);
    link.close();
  });

  it('closes the link on a malformed message and keeps the session running', async () => {
    c = await footSession();
    const raw = (c.link as unknown as { send: (m: unknown) => void });
    const err = c.link.next('remote-error');
    // a key code outside evdev's range
    raw.send({ type: 'key', code: 5000, pressed: true });
    expect((await err)[0]).toMatch(/evdev code 5000/);
    await waitFor('the link to close', () => c!.link.closed);
    const link = await PaintingLink.connectPainting(c.ipcPath);
    await link.next('frame');
    expect(link.windows.some((w) => w.appId === 'foot')).toBe(true);
    link.close();
  });
});

describe('window policy', () => {
  it('Alt+Tab switches between windows and Alt+F4 closes the focused one', async () => {
    c = await startCompositor({
      command: ['sh', '-c', 'foot -o cursor.blink=no --app-id one & exec foot -o cursor.blink=no --app-id two'],
    });
    const link = c.link;
    await waitFor('two windows', () => link.windows.length === 2);
    await settle(link, 300);
    const focused = (): string | null | undefined => link.windows.find((w) => w.focused)?.appId;
    const first = focused();
    expect(first === 'one' || first === 'two').toBe(true);
    const alt = (code: number): void => {
      link.key(KEY.LEFTALT, true);
      link.key(code, true);
      link.key(code, false);
      link.key(KEY.LEFTALT, false);
    };
    alt(KEY.TAB);
    await waitFor('focus to move', () => focused() !== first);
    alt(KEY.TAB);
    await waitFor('focus to come back', () => focused() === first);
    // bring "one" forward and close it
    if (focused() !== 'one') {
      alt(KEY.TAB);
      await waitFor('one to be focused', () => focused() === 'one');
    }
    alt(KEY.F4);
    await waitFor('one to close', () => link.windows.length === 1);
    expect(link.windows[0]).toMatchObject({ appId: 'two', focused: true });
  });

});

describe('tile stream', () => {
  it('a receiver that joins mid-stream is refused, asks once for a whole picture, and is then exact', async () => {
    c = await footSession();
    const link = c.link;
    // A second receiver of the same frames, starting late: it never saw the tile stream begin.
    const late = new FramePainter();
    let refused = 0;
    let asked = 0;
    link.on('frame', (f) => {
      try {
        late.paint(f);
      } catch (err) {
        if (!(err instanceof FrameError)) throw err;
        refused++;
        if (!asked++) link.send({ type: 'request-full' });
      }
    });
    sendKeys(link, keystrokes('echo late'));
    await waitFor('the late receiver to refuse', () => refused > 0);
    sendKeys(link, keystrokes(' joiner'));
    await settle(link, 600);
    expect(asked).toBe(1);
    const rgb = (b: Buffer): Buffer => Buffer.from(b.filter((_, i) => i % 4 !== 3));
    expect(late.width).toBe(W);
    expect(Buffer.compare(rgb(late.framebuffer), rgb(link.framebuffer))).toBe(0);
    late.close();
  });
});
