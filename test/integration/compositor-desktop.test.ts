// Desktop features a user meets: the pointer's cursor image, click-to-focus, copy and paste,
// layer-shell surfaces (wallpapers, panels).
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { pixel, settle, startCompositor, waitFor, type Started } from '../helpers/compositor.js';

const run = promisify(execFile);

/** wl-copy forks a server that keeps serving the selection: wait for the foreground process only. */
function wlCopy(args: string[], env: NodeJS.ProcessEnv): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const p = spawn('wl-copy', args, { env, stdio: 'ignore' });
    p.on('error', reject);
    p.on('exit', (code) => resolve(code));
  });
}
const BTN_LEFT = 0x110;
let c: Started | undefined;
afterEach(async () => {
  await c?.stop();
  c = undefined;
});

describe('desktop', () => {
  it("keeps the client's cursor image and hotspot for the terminal to draw", async () => {
    c = await startCompositor({ command: ['foot', 'sh'] });
    await waitFor('foot to map', () => c!.link.windows.length > 0);
    await settle(c.link);
    const next = c.link.next('cursor');
    c.link.send({ type: 'pointer-motion', x: 500, y: 500 });
    const [cur] = await next;
    expect(cur.mode).toBe(1);
    expect(cur.width).toBeGreaterThan(8);
    expect(cur.pixels!.length).toBe(cur.width * cur.height * 4);
    expect(cur.hotspotX).toBeGreaterThan(0);
    expect(cur.hotspotX).toBeLessThan(cur.width);
    // an I-beam has opaque and transparent pixels
    const alpha = new Set<number>();
    for (let i = 3; i < cur.pixels!.length; i += 4) alpha.add(cur.pixels![i]!);
    expect(alpha.has(0)).toBe(true);
    expect(alpha.has(255)).toBe(true);
  });

  it('focuses and raises the window under a click', async () => {
    c = await startCompositor({ command: ['foot', '-o', 'cursor.blink=no', 'sh'] });
    await waitFor('foot to map', () => c!.link.windows.length === 1);
    // simple-shm draws 250x250 whatever it is asked: it sits at the top-left, on top, focused
    const shm = spawn('weston-simple-shm', [], { env: c.env, stdio: 'ignore' });
    try {
      await waitFor('simple-shm focused', () => c!.link.windows.find((w) => w.title === 'simple-shm')?.focused);
      c.link.send({ type: 'pointer-motion', x: 1000, y: 600 });
      c.link.send({ type: 'pointer-button', button: BTN_LEFT, pressed: true });
      c.link.send({ type: 'pointer-button', button: BTN_LEFT, pressed: false });
      await waitFor('foot focused after the click', () => c!.link.windows.find((w) => w.appId === 'foot')?.focused);
      // raised: foot now covers where simple-shm animates, so the top-left stops changing
      await settle(c.link, 300);
      const a = pixel(c.link.framebuffer, 1920, 100, 100);
      await new Promise((r) => setTimeout(r, 300));
      expect(pixel(c.link.framebuffer, 1920, 100, 100)).toBe(a);
    } finally {
      shm.kill();
    }
  });

  it('opens a window at the desktop size in its very first configure (no render at another size)', async () => {
    // weston-stacking opens one more ordinary window on "n"; WAYLAND_DEBUG shows what it was told
    c = await startCompositor({ command: ['sh', '-c', 'WAYLAND_DEBUG=1 exec weston-stacking 2>"$XDG_RUNTIME_DIR/wl.log"'] });
    await waitFor('the main window', () => c!.link.windows.length === 1);
    c.link.key(49, true);
    c.link.key(49, false);
    await waitFor('the second window', () => c!.link.windows.length === 2);
    const log = fs.readFileSync(`${c.runtimeDir}/wl.log`, 'utf8');
    const configures = [...log.matchAll(/xdg_toplevel@\d+\.configure\((\d+), (\d+),/g)].map((m) => `${m[1]}x${m[2]}`);
    expect(configures.length).toBeGreaterThanOrEqual(2);
    expect(configures.filter((c) => c !== '1920x1080')).toEqual([]);
  });

  it('copies and pastes inside the session', async () => {
    c = await startCompositor({ command: ['foot', 'sh'] });
    await waitFor('foot to map', () => c!.link.windows.length === 1);
    expect(await wlCopy(['hot-desk clipboard ✓'], c.env)).toBe(0);
    const { stdout } = await run('wl-paste', ['--no-newline'], { env: c.env, timeout: 5000 });
    expect(stdout).toBe('hot-desk clipboard ✓');
    expect(await wlCopy(['--primary', 'primary selection'], c.env)).toBe(0);
    const primary = await run('wl-paste', ['--primary', '--no-newline'], { env: c.env, timeout: 5000 });
    expect(primary.stdout).toBe('primary selection');
    await wlCopy(['--clear'], c.env);
    await wlCopy(['--primary', '--clear'], c.env);
  });

  it('shows a layer-shell wallpaper over the whole output', async () => {
    c = await startCompositor({ command: [] });
    const bg = spawn('swaybg', ['-c', '#ff8000'], { env: c.env, stdio: 'ignore' });
    try {
      await waitFor('the wallpaper', () => c!.link.width > 0 && pixel(c!.link.framebuffer, 1920, 960, 540) === 0xff8000);
      for (const [x, y] of [[0, 0], [1919, 0], [0, 1079], [1919, 1079]] as const) {
        expect(pixel(c.link.framebuffer, 1920, x, y)).toBe(0xff8000);
      }
    } finally {
      bg.kill();
    }
    // it goes away with its client, leaving the compositor's background
    await waitFor('the wallpaper to go', () => pixel(c!.link.framebuffer, 1920, 960, 540) !== 0xff8000);
  });

  it("shows tools (wlr-randr) the output's size as it follows the terminal, and refuses to let them change it", async () => {
    c = await startCompositor({ command: [] });
    const randr = async (...args: string[]): Promise<string> => (await run('wlr-randr', args, { env: c!.env })).stdout;
    expect(await randr()).toMatch(/HEADLESS-1[\s\S]*1920x1080 px, 60\.0+ Hz \(current\)/);
    c.link.send({ type: 'resize', width: 1280, height: 720, refreshMhz: 60000 });
    await waitFor('wlr-randr to see the new size', async () => /1280x720 px, 60\.0+ Hz \(current\)/.test(await randr()));
    const set = await run('wlr-randr', ['--output', 'HEADLESS-1', '--custom-mode', '800x600'], { env: c.env }).then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    expect(set?.code).not.toBe(0);
    expect(set?.stderr).toMatch(/failed to apply configuration/);
    expect(await randr()).toMatch(/1280x720 px/);
  });
});
