import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PaintingLink } from './painting-link.js';
import { TEST_USER } from './test-user.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const BIN = path.join(ROOT, 'compositor/bin/waydesk-compositor.js');

export interface Started {
  proc: ChildProcess;
  link: PaintingLink;
  runtimeDir: string;
  socket: string;
  socketPath: string;
  ipcPath: string;
  env: NodeJS.ProcessEnv;
  stderr: () => string;
  stop: () => Promise<void>;
}

let counter = 0;

export async function waitFor<T>(what: string, fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, ms = 10_000, every = 20): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Starts a real waydesk-compositor process and attaches to it as its parent. */
export async function startCompositor(opts: {
  command?: string[];
  size?: string;
  user?: string;
  extraEnv?: NodeJS.ProcessEnv;
  extraArgs?: string[];
} = {}): Promise<Started> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'wdtest-'));
  fs.chmodSync(base, 0o755);
  const runtimeDir = path.join(base, 'run');
  fs.mkdirSync(runtimeDir, { mode: 0o700 });
  const socket = `wd-test-${process.pid}-${++counter}`;
  const ipcPath = path.join(base, 'ipc.sock');
  const args = [BIN, '--ipc', ipcPath, '--socket', socket, '--size', opts.size ?? '1920x1080', ...(opts.extraArgs ?? [])];
  // Started by root, a desktop runs as an ordinary user: the test user unless a test names one.
  const user = opts.user ?? (isRoot() ? TEST_USER : undefined);
  if (user) args.push('--user', user);
  args.push('--', ...(opts.command ?? []));
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: runtimeDir, WAYDESK_LOG_LEVEL: 'info', ...opts.extraEnv };
  delete env.WAYLAND_DISPLAY;
  const proc = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 200_000) err = err.slice(-100_000);
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  await waitFor(`the compositor's link socket (stderr: ${err.slice(-2000)})`, () => proc.exitCode === null && fs.existsSync(ipcPath), 15_000);
  const link = await PaintingLink.connectPainting(ipcPath);
  const hello = link.hello ?? (await link.next('hello'))[0];
  const effectiveRuntime = hello.runtimeDir;
  const socketPath = path.join(effectiveRuntime, hello.socket);
  return {
    proc,
    link,
    runtimeDir: effectiveRuntime,
    socket: hello.socket,
    socketPath,
    ipcPath,
    env: { ...process.env, XDG_RUNTIME_DIR: effectiveRuntime, WAYLAND_DISPLAY: hello.socket },
    stderr: () => err,
    stop: async () => {
      link.close();
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
      fs.rmSync(base, { recursive: true, force: true });
    },
  };
}

/** Resolves once no frame has arrived for `quietMs`. */
export async function settle(link: PaintingLink, quietMs = 400, maxMs = 15_000): Promise<void> {
  let last = Date.now();
  const on = (): void => {
    last = Date.now();
  };
  link.on('frame', on);
  try {
    await waitFor('the desktop to settle', () => Date.now() - last >= quietMs, maxMs, 25);
  } finally {
    link.off('frame', on);
  }
}

/** Sends key presses/releases one after another, as a terminal would. */
export function sendKeys(link: PaintingLink, keys: Array<{ code: number; pressed: boolean }>): void {
  for (const k of keys) link.key(k.code, k.pressed);
}

export function pixel(fb: Buffer, width: number, x: number, y: number): number {
  return fb.readUInt32LE((y * width + x) * 4) & 0xffffff;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Waits until the top rows show more than background and cursor (a shell prompt), then for quiet. */
export async function waitForPrompt(link: PaintingLink, ms = 20_000): Promise<void> {
  await waitFor('a prompt on screen', () => {
    const fb = link.framebuffer;
    if (link.width === 0) return false;
    const colours = new Set<number>();
    for (let i = 0; i < link.width * 40 && colours.size <= 2; i++) colours.add(fb.readUInt32LE(i * 4) & 0xffffff);
    return colours.size > 2;
  }, ms);
  await settle(link, 400);
}
