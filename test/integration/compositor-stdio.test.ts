// The frame link over stdin/stdout, and the keyboard layout chosen per session.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CompositorCore } from '@waydesk/native-compositor';
import { CompositorLink } from '../../compositor/src/ipc-client.js';
import { BIN, isRoot, waitFor } from '../helpers/compositor.js';
import { TEST_USER } from '../helpers/test-user.js';

describe('compositor process', () => {
  it('streams over stdio and ends when its parent closes stdin', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-stdio-'));
    fs.chmodSync(dir, 0o700);
    const user = isRoot() ? ['--user', TEST_USER] : [];
    const proc = spawn(process.execPath, [BIN, '--ipc', 'stdio', '--size', '800x600', ...user, '--', 'foot'], {
      env: { ...process.env, XDG_RUNTIME_DIR: dir },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    const link = new CompositorLink(Duplex.from({ readable: proc.stdout!, writable: proc.stdin! }));
    const [hello] = await link.next('hello', 15_000);
    expect(hello).toMatchObject({ width: 800, height: 600, renderer: 'pixman' });
    await waitFor('foot', () => link.windows.some((w) => w.appId === 'foot' && w.width === 800));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.stdin!.end();
    expect(await exited).toBe(0);
    expect(fs.readdirSync(dir)).toEqual([]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to run a desktop as root', async () => {
    if (!isRoot()) return;
    const proc = spawn(process.execPath, [BIN, '--size', '800x600', '--'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
    expect(code).toBe(2);
    expect(err).toMatch(/needs --user NAME .*never runs as root/);
  });

  it('explains a bad command line', async () => {
    const proc = spawn(process.execPath, [BIN, '--size', 'huge'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
    expect(code).toBe(2);
    expect(err).toMatch(/--size wants WIDTHxHEIGHT/);
  });

  it('applies the xkb layout chosen for the session', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-xkb-'));
    const saved = process.env.XDG_RUNTIME_DIR;
    process.env.XDG_RUNTIME_DIR = dir;
    const core = new CompositorCore({ width: 640, height: 480, refreshMhz: 60000, pixman: true }, () => {});
    try {
      const sym = (code: number): number => {
        const s = core.key(code, true, 0).syms[0]!;
        core.key(code, false, 0);
        return s;
      };
      expect(sym(21)).toBe(0x79); // 'y' on us
      expect(core.setKeymap({ layout: 'de' })).toBe(true);
      expect(sym(21)).toBe(0x7a); // 'z' on de
      expect(core.setKeymap({ layout: 'no-such-layout' })).toBe(false);
      expect(sym(21)).toBe(0x7a); // unchanged after a rejected layout
    } finally {
      core.close();
      process.env.XDG_RUNTIME_DIR = saved;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
