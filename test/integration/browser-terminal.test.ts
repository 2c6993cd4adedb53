// The browser terminal in real headless Chromium: WebCodecs for H.264, fzstd for tiles.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { sleep, waitFor } from '../helpers/compositor.js';
import { startDevServer, type DevServer } from '../helpers/server.js';
import { inkLines } from '../helpers/text.js';

const run = promisify(execFile);
const W = 1280;
const H = 720;

interface PageState {
  connected: boolean;
  framesDrawn: number;
  h264Frames: number;
  lastError: string;
  width: number;
}

async function pageState(page: Page): Promise<PageState> {
  return page.evaluate(() => (window as unknown as { waydesk: PageState }).waydesk);
}

/** The canvas as BGRX, to compare with the compositor's picture. */
async function canvasPixels(page: Page): Promise<Buffer> {
  const b64 = await page.evaluate(() => {
    const c = document.getElementById('screen') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let bin = '';
    for (let i = 0; i < d.length; i += 0x8000) bin += String.fromCharCode(...d.subarray(i, i + 0x8000));
    return btoa(bin);
  });
  const rgba = Buffer.from(b64, 'base64');
  const out = Buffer.alloc(rgba.length);
  for (let i = 0; i < rgba.length; i += 4) {
    out[i] = rgba[i + 2]!;
    out[i + 1] = rgba[i + 1]!;
    out[i + 2] = rgba[i]!;
    out[i + 3] = 255;
  }
  return out;
}

async function settled(page: Page): Promise<void> {
  let last = -1;
  let since = Date.now();
  await waitFor('the canvas to settle', () => {
    void pageState(page).then((s) => {
      if (s.framesDrawn !== last) {
        last = s.framesDrawn;
        since = Date.now();
      }
    });
    return last >= 0 && Date.now() - since > 700;
  }, 20_000, 50);
}

async function grimBgrx(s: DevServer): Promise<Buffer> {
  const { stdout } = await run('grim', ['-t', 'ppm', '-'], { env: s.env(), encoding: 'buffer', maxBuffer: 64 << 20 });
  const ppm = stdout as Buffer;
  const data = ppm.subarray(ppm.length - W * H * 3);
  const out = Buffer.alloc(W * H * 4);
  for (let i = 0, j = 0; i < W * H; i++, j += 3) {
    out[i * 4] = data[j + 2]!;
    out[i * 4 + 1] = data[j + 1]!;
    out[i * 4 + 2] = data[j]!;
    out[i * 4 + 3] = 255;
  }
  return out;
}

function differing(a: Buffer, b: Buffer): number {
  let n = 0;
  for (let i = 0; i < a.length; i += 4) if (a[i] !== b[i] || a[i + 1] !== b[i + 1] || a[i + 2] !== b[i + 2]) n++;
  return n;
}

describe('browser terminal in Chromium', () => {
  let s: DevServer;
  let chrome: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  beforeAll(async () => {
    s = await startDevServer(['foot', '-o', 'cursor.blink=no', '-o', 'font=monospace:size=12', 'sh'], { PS1: '$ ', ENV: '' });
    chrome = await launchChromium();
    page = await chrome.browser.newPage({ viewport: { width: W, height: H } });
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(`${s.url.replace('wss://', 'https://').replace('/terminal', '/')}?size=${W}x${H}#token=${s.token}`);
    await waitFor('the first picture in the browser', async () => (await pageState(page)).framesDrawn > 0 || null, 20_000);
    await waitFor('the page state', () => true);
  });
  afterAll(async () => {
    await chrome?.close();
    await s?.stop();
  });

  it('shows the desktop exactly as the compositor has it', async () => {
    await waitFor('frames', async () => (await pageState(page)).framesDrawn > 0, 20_000);
    await settled(page);
    expect(differing(await canvasPixels(page), await grimBgrx(s))).toBe(0);
  });

  it('types through the browser and shows the result, also in a screenshot', async () => {
    await page.click('#screen');
    await page.keyboard.type('echo hi');
    await page.keyboard.press('Enter');
    await waitFor('the command to run', async () => {
      const fb = await canvasPixels(page);
      const bg = fb.readUInt32LE((W * H - 1) * 4) & 0xffffff;
      return inkLines(fb, W, H, bg, 400).length >= 3 || null;
    }, 20_000, 200);
    await settled(page);
    expect(differing(await canvasPixels(page), await grimBgrx(s))).toBe(0);
    const shot = path.join(os.tmpdir(), `waydesk-browser-${process.pid}.png`);
    await page.screenshot({ path: shot });
    expect(fs.statSync(shot).size).toBeGreaterThan(1000);
    fs.rmSync(shot);
    expect((await pageState(page)).lastError).toBe('');
  });

  it('decodes H.264 with WebCodecs and is exact again once the motion stops', async () => {
    const env = s.env();
    const { spawn } = await import('node:child_process');
    const shm = spawn('weston-simple-shm', [], { env, stdio: 'ignore' });
    try {
      await sleep(1500);
      shm.kill('SIGSTOP');
      await settled(page);
      const st = await pageState(page);
      expect(st.lastError).toBe('');
      expect(st.h264Frames).toBeGreaterThan(5);
      expect(differing(await canvasPixels(page), await grimBgrx(s))).toBe(0);
    } finally {
      shm.kill('SIGKILL');
    }
  });
});
