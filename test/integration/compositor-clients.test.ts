// Real Wayland clients against the real compositor process.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FrameMsg } from '@waydesk/protocol/frame-format';
import { settle, startCompositor, waitFor, waitForPrompt, type Started } from '../helpers/compositor.js';

const run = promisify(execFile);

describe('compositor with real clients', () => {
  let c: Started;
  beforeAll(async () => {
    // sh, not the user's login shell: its rc files (pyenv, conda…) are not ours to wait for
    c = await startCompositor({ command: ['foot', '-o', 'cursor.blink=no', 'sh'], extraEnv: { PS1: '$ ', ENV: '' } });
    await waitFor('foot to map', () => c.link.windows.some((w) => w.appId === 'foot'));
    await waitForPrompt(c.link);
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('maps foot maximized to the whole output', () => {
    const foot = c.link.windows.find((w) => w.appId === 'foot')!;
    expect(foot).toMatchObject({ x: 0, y: 0, width: 1920, height: 1080, floating: false, focused: true });
  });

  it('advertises the protocols real apps need (wayland-info)', async () => {
    const { stdout } = await run('wayland-info', [], { env: c.env });
    const interfaces = new Set([...stdout.matchAll(/interface: '([a-z0-9_]+)'/g)].map((m) => m[1]));
    for (const name of [
      'wl_compositor',
      'wl_subcompositor',
      'wl_shm',
      'xdg_wm_base',
      'zxdg_decoration_manager_v1',
      'wl_seat',
      'wl_data_device_manager',
      'zwp_primary_selection_device_manager_v1',
      'wl_output',
      'zxdg_output_manager_v1',
      'wp_viewporter',
      'wp_presentation',
      'zwlr_layer_shell_v1',
      'xdg_activation_v1',
      'zwlr_screencopy_manager_v1',
    ]) {
      expect(interfaces, `wayland-info should list ${name}`).toContain(name);
    }
  });

  it('grim captures exactly the picture the compositor streams', async () => {
    await settle(c.link);
    const { stdout } = await run('grim', ['-t', 'ppm', '-'], { env: c.env, encoding: 'buffer', maxBuffer: 64 << 20 });
    const ppm = stdout as Buffer;
    const header = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(ppm.subarray(0, 32).toString('latin1'));
    expect(header).not.toBeNull();
    const [w, h] = [Number(header![1]), Number(header![2])];
    expect([w, h]).toEqual([1920, 1080]);
    const data = ppm.subarray(header![0].length);
    const fb = c.link.framebuffer;
    let mismatches = 0;
    for (let i = 0, j = 0; i < w * h; i++, j += 3) {
      const b = fb[i * 4]!, g = fb[i * 4 + 1]!, r = fb[i * 4 + 2]!;
      if (data[j] !== r || data[j + 1] !== g || data[j + 2] !== b) mismatches++;
    }
    expect(mismatches).toBe(0);
    // and it is not an empty picture: foot's prompt is there
    const colours = new Set<number>();
    for (let i = 0; i < 1920 * 40; i++) colours.add(fb.readUInt32LE(i * 4) & 0xffffff);
    expect(colours.size).toBeGreaterThan(2);
  });

  it('weston-terminal connects, renders and closes', async () => {
    const before = c.link.framesReceived;
    const wt = spawn('weston-terminal', [], { env: c.env, stdio: 'ignore' });
    try {
      const win = await waitFor('weston-terminal to map', () => c.link.windows.find((w) => w.appId?.includes('weston')));
      expect(win.width).toBe(1920);
      expect(win.focused).toBe(true);
      await waitFor('frames from weston-terminal', () => c.link.framesReceived > before + 1);
    } finally {
      wt.kill('SIGTERM');
    }
    await waitFor('weston-terminal to unmap', () => !c.link.windows.some((w) => w.appId?.includes('weston')));
    // focus returns to foot
    await waitFor('foot to regain focus', () => c.link.windows.find((w) => w.appId === 'foot')?.focused);
  });

  it('streams animation as H.264 and makes the picture exact again once it stops', async () => {
    const boxes: Array<{ x: number; y: number; width: number; height: number }> = [];
    const onFrame = (f: FrameMsg): void => {
      if (f.video) boxes.push(f.video);
    };
    c.link.on('frame', onFrame);
    const shm = spawn('weston-simple-shm', [], { env: c.env, stdio: 'ignore' });
    try {
      await waitFor('simple-shm to map', () => c.link.windows.some((w) => w.title === 'simple-shm'));
      await new Promise((r) => setTimeout(r, 1000));
      const stats = await c.link.stats();
      expect(stats.encoder).toBe('libx264');
      expect(stats.framesH264).toBeGreaterThan(10);
      // Within a couple of seconds (the desktop's own damage from before ages out) the video
      // covers the animated window, not the desktop: x264's work is the window's size.
      const win = c.link.windows.find((w) => w.title === 'simple-shm')!;
      const small = (b: { width: number; height: number } | undefined): boolean => !!b && b.width * b.height < (win.width + 32) * (win.height + 32);
      await waitFor('the video to cover the window only', () => small(boxes.at(-1)), 5000);
      const last = boxes.at(-1)!;
      // inside the window, give or take the macroblock it was rounded out to
      expect(last.x >= win.x - 16 && last.y >= win.y - 16 && last.x + last.width <= win.x + win.width + 16 && last.y + last.height <= win.y + win.height + 16).toBe(true);
      // freeze it mid-animation: the last lossy frame must be followed by an exact one
      shm.kill('SIGSTOP');
      await settle(c.link, 600);
      const { stdout } = await run('grim', ['-t', 'ppm', '-'], { env: c.env, encoding: 'buffer', maxBuffer: 64 << 20 });
      const ppm = stdout as Buffer;
      const data = ppm.subarray(ppm.length - 1920 * 1080 * 3);
      const fb = c.link.framebuffer;
      let mismatches = 0;
      for (let i = 0, j = 0; i < 1920 * 1080; i++, j += 3) {
        if (data[j] !== fb[i * 4 + 2] || data[j + 1] !== fb[i * 4 + 1] || data[j + 2] !== fb[i * 4]) mismatches++;
      }
      expect(mismatches).toBe(0);
    } finally {
      c.link.off('frame', onFrame);
      shm.kill('SIGKILL');
    }
    await waitFor('simple-shm to go', () => !c.link.windows.some((w) => w.title === 'simple-shm'));
  });

  it('weston-simple-shm connects and animates', async () => {
    const shm = spawn('weston-simple-shm', [], { env: c.env, stdio: 'ignore' });
    try {
      await waitFor('simple-shm to map', () => c.link.windows.some((w) => w.title === 'simple-shm'));
      const start = c.link.framesReceived;
      await waitFor('an animation (several frames)', () => c.link.framesReceived >= start + 10, 5000);
      const win = c.link.windows.find((w) => w.title === 'simple-shm')!;
      // Its pixels really are on screen: the pattern is not foot's background.
      const fb = c.link.framebuffer;
      const colours = new Set<number>();
      for (let y = win.y + 10; y < win.y + 60; y++)
        for (let x = win.x + 10; x < win.x + 60; x++) colours.add(fb.readUInt32LE((y * 1920 + x) * 4) & 0xffffff);
      expect(colours.size).toBeGreaterThan(5);
    } finally {
      shm.kill('SIGTERM');
    }
    await waitFor('simple-shm to go', () => !c.link.windows.some((w) => w.title === 'simple-shm'));
  });
});
