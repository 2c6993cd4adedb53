// Faults a user's desktop must survive: crashing and hostile clients, many connections,
// another user's privileges, and repeated start/stop in one process.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompositorCore } from '@waydesk/native-compositor';
import { keystrokes } from '../../protocol/src/us-keys.js';
import { isRoot, sendKeys, settle, sleep, startCompositor, waitFor, type Started } from '../helpers/compositor.js';
import { registryRoundtrip } from '../helpers/wayland-wire.js';
import { TEST_USER } from '../helpers/test-user.js';

function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

describe('faults from clients', () => {
  let c: Started;
  beforeAll(async () => {
    c = await startCompositor({ command: ['foot', '-o', 'cursor.blink=no', 'sh'] });
    await waitFor('foot to map', () => c.link.windows.some((w) => w.appId === 'foot'));
    await settle(c.link);
  });
  afterAll(async () => {
    await c?.stop();
  });

  async function stillServes(): Promise<void> {
    expect(c.proc.exitCode).toBeNull();
    const before = c.link.framesReceived;
    sendKeys(c.link, keystrokes('a'));
    await waitFor('foot to still answer typing', () => c.link.framesReceived > before);
    sendKeys(c.link, [{ code: 14, pressed: true }, { code: 14, pressed: false }]);
    await settle(c.link, 200);
  }

  it('survives a client that sends garbage', async () => {
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => {
        const s = net.connect(c.socketPath, () => {
          s.write(Buffer.from(Array.from({ length: 64 + i * 31 }, (_, k) => (k * 7919 + i * 104729) & 0xff)));
        });
        s.on('close', () => resolve());
        s.on('error', () => resolve());
        setTimeout(() => s.destroy(), 200);
      });
    }
    await stillServes();
  });

  it('survives a client killed in the middle of drawing', async () => {
    for (let i = 0; i < 3; i++) {
      const shm = spawn('weston-simple-shm', [], { env: c.env, stdio: 'ignore' });
      await waitFor('simple-shm to map', () => c.link.windows.some((w) => w.title === 'simple-shm'));
      await sleep(150);
      shm.kill('SIGKILL');
      await waitFor('its window to go', () => !c.link.windows.some((w) => w.title === 'simple-shm'));
    }
    await waitFor('foot to regain focus', () => c.link.windows.find((w) => w.appId === 'foot')?.focused);
    await stillServes();
  });

  it('leaks no file descriptors over 200 connect/disconnect cycles', async () => {
    const pid = c.proc.pid!;
    // warm up: lazily opened fds (xkb, shm pools) exist after the first client
    for (let i = 0; i < 5; i++) await registryRoundtrip(c.socketPath);
    await sleep(200);
    const before = fdCount(pid);
    let globals = 0;
    for (let i = 0; i < 200; i++) globals = await registryRoundtrip(c.socketPath);
    expect(globals).toBeGreaterThan(10);
    await sleep(300);
    expect(fdCount(pid)).toBe(before);
  });
});

describe('running as the user it serves', () => {
  const USER = TEST_USER;
  let c: Started | undefined;
  afterAll(async () => {
    await c?.stop();
  });

  it.skipIf(!isRoot())('drops root: compositor, socket, runtime dir and session command belong to the user', async () => {
    const uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim());
    c = await startCompositor({ user: USER, command: ['foot', '-o', 'cursor.blink=no', 'sh'] });
    await waitFor('foot to map', () => c!.link.windows.some((w) => w.appId === 'foot'), 15_000);
    const uids = (pid: number): number[] =>
      fs
        .readFileSync(`/proc/${pid}/status`, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('Uid:'))!
        .split(/\s+/)
        .slice(1, 5)
        .map(Number);
    expect(uids(c.proc.pid!)).toEqual([uid, uid, uid, uid]);
    expect(c.link.hello!.uid).toBe(uid);
    const dir = fs.statSync(c.runtimeDir);
    expect(dir.uid).toBe(uid);
    expect(dir.mode & 0o777).toBe(0o700);
    expect(fs.statSync(c.socketPath).uid).toBe(uid);
    // the session command runs as the user too
    const children = fs.readFileSync(`/proc/${c.proc.pid}/task/${c.proc.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    expect(children.length).toBeGreaterThan(0);
    for (const child of children) expect(uids(child)).toEqual([uid, uid, uid, uid]);
    // and the user's runtime dir is removed when the session ends
    const runtimeDir = c.runtimeDir;
    await c.stop();
    c = undefined;
    expect(fs.existsSync(runtimeDir)).toBe(false);
  });
});

describe('teardown', () => {
  it('starts and stops 30 times in one process without leaking fds, sockets or memory', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-teardown-'));
    fs.chmodSync(dir, 0o700);
    const saved = process.env.XDG_RUNTIME_DIR;
    process.env.XDG_RUNTIME_DIR = dir;
    try {
      const cycle = async (): Promise<void> => {
        const core = new CompositorCore({ socket: 'teardown-0', width: 1280, height: 720, refreshMhz: 60000, pixman: true }, () => {});
        await registryRoundtrip(path.join(dir, core.socket));
        core.close();
      };
      for (let i = 0; i < 3; i++) await cycle();
      await sleep(50);
      const fds = fdCount(process.pid);
      const rss = process.memoryUsage.rss();
      for (let i = 0; i < 30; i++) await cycle();
      await sleep(50);
      expect(fdCount(process.pid)).toBe(fds);
      expect(fs.readdirSync(dir)).toEqual([]);
      // a leaked 1280x720 frame per cycle would be 3.7 MB each: 110 MB over 30 cycles
      expect(process.memoryUsage.rss() - rss).toBeLessThan(40 * 1024 * 1024);
    } finally {
      process.env.XDG_RUNTIME_DIR = saved;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
