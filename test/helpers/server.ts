import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../client-firmware/src/log.js';
import { HeadlessPresenter } from '../../client-firmware/src/headless-presenter.js';
import { Terminal } from '../../client-firmware/src/terminal.js';
import { ROOT, isRoot, waitFor } from './compositor.js';
import { TEST_USER } from './test-user.js';

const run = promisify(execFile);

export const SERVER_BIN = path.join(ROOT, 'session-manager/bin/waydesk-server.js');

export interface DevServer {
  proc: ChildProcess;
  url: string;
  fingerprint: string;
  /** Its state directory (a restarted server takes the same one). */
  state: string;
  /** This run's secret, as the printed address carries it. */
  token: string;
  /** The desktop's Wayland socket (the newest one, or that user's), for grim and extra apps. */
  env: (uid?: number) => NodeJS.ProcessEnv;
  log: () => string;
  /** Stops it (and the desktops it left running); `keepState` leaves its state directory to read. */
  stop: (o?: { keepState?: boolean }) => Promise<void>;
}

/**
 * Starts the real waydesk-server in dev mode on a free loopback port; as root, its desktop runs
 * as the unprivileged test user. `sessionEnv` reaches the session command (through env(1): the
 * server gives the desktop a clean environment of its own).
 */
export async function startDevServer(command: string[], sessionEnv: Record<string, string> = {}, extraArgs: string[] = []): Promise<DevServer> {
  const user = isRoot() ? ['--user', TEST_USER] : [];
  const vars = Object.entries(sessionEnv).map(([k, v]) => `${k}=${v}`);
  const session = vars.length && command.length ? withEnv(command, vars) : command;
  return startServer(['--dev', ...user, ...extraArgs], session);
}

/**
 * Starts the real waydesk-server as a login server (users log in with PAM; needs root). Given a
 * state directory and port (a restart), it takes those: it adopts what a server there left.
 */
export function startLoginServer(command: string[], extraArgs: string[] = [], at?: { state: string; port: number }): Promise<DevServer> {
  return startServer(extraArgs, command, at);
}

async function startServer(args: string[], command: string[], at?: { state: string; port: number }): Promise<DevServer> {
  const state = at?.state ?? fs.mkdtempSync(path.join(os.tmpdir(), 'wd-state-'));
  const proc = spawn(process.execPath, [SERVER_BIN, '--port', String(at?.port ?? 0), '--state', state, ...args, '--', ...command], {
    env: { ...process.env, WAYDESK_READY_FD: '3' },
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  let log = '';
  proc.stderr!.on('data', (d: Buffer) => {
    log += d.toString();
    if (log.length > 400_000) log = log.slice(-200_000);
  });
  let ready = '';
  (proc.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (ready += d.toString()));
  await waitFor(`the server to listen (log: ${log.slice(-1500)})`, () => ready.includes('\n') || proc.exitCode !== null, 20_000);
  if (proc.exitCode !== null) throw new Error(`waydesk-server exited: ${log}`);
  const { url, fingerprint, token = '' } = JSON.parse(ready.split('\n')[0]!) as { url: string; fingerprint: string; token?: string };
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return {
    proc,
    url,
    fingerprint,
    state,
    token,
    log: () => log,
    env: (uid?: number) => {
      // the newest desktop (the server starts another if one crashes), of that user if one is named
      const m = [...log.matchAll(/"socket":"([^"]+)\/([^"/]+)","uid":(\d+)[^\n]*"msg":"desktop running"/g)].filter((x) => uid === undefined || Number(x[3]) === uid).pop();
      if (!m) throw new Error('the server did not say where its desktop is');
      return { ...process.env, XDG_RUNTIME_DIR: m[1], WAYLAND_DISPLAY: m[2] };
    },
    stop: async (o: { keepState?: boolean } = {}) => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(t);
      // A login server leaves its desktops running for the next run to adopt: end the ones this
      // server started, by the pids it logged, while they are still those compositors.
      await endDesktops(log);
      if (!o.keepState) fs.rmSync(state, { recursive: true, force: true });
    },
  };
}

function isCompositor(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('waydesk-compositor') && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Ends the compositors a server's log says it started or adopted, if they still run. */
export async function endDesktops(log: string): Promise<void> {
  const pids = new Set([...log.matchAll(/"compositorPid":(\d+)[^\n]*"msg":"(?:desktop running|adopted a session of the last run)"/g)].map((m) => Number(m[1])));
  const alive = [...pids].filter(isCompositor);
  for (const pid of alive) process.kill(pid, 'SIGTERM');
  const end = Date.now() + 5000;
  while (alive.some(isCompositor) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  for (const pid of alive.filter(isCompositor)) process.kill(pid, 'SIGKILL');
}

/**
 * `foot … sh` with variables for the shell: foot runs `env VAR=… sh`. Other commands get env(1)
 * in front of them.
 */
function withEnv(command: string[], vars: string[]): string[] {
  const last = command.length - 1;
  if (command[0] === 'foot' && last > 0) return [...command.slice(0, last), 'env', ...vars, command[last]!];
  return ['env', ...vars, ...command];
}

export function startTerminal(
  s: { url: string; fingerprint: string; token: string },
  size = { width: 1920, height: 1080 },
  id = 'test-terminal',
  trace = false,
  /** A user's login sent with the hello; 'greeter': none, whoever sits there types at the greeter. */
  login?: { user: string; password: string } | 'greeter',
) {
  const terminal = new Terminal({
    trace,
    url: s.url,
    fingerprint: s.fingerprint,
    ...(login === 'greeter' ? {} : { credentials: login ?? { token: s.token } }),
    terminalId: id,
    display: { ...size, refreshMhz: 60000 },
    kind: 'headless',
    log: createLogger('test-terminal'),
  });
  const presenter = new HeadlessPresenter(terminal);
  terminal.start();
  return { terminal, presenter };
}

/** Resolves once a terminal has had no frame for `ms`. */
export async function quiet(t: Terminal, ms = 500, maxMs = 15_000): Promise<void> {
  let last = Date.now();
  const on = (): void => void (last = Date.now());
  t.on('frame', on);
  try {
    await waitFor('the picture to settle', () => Date.now() - last >= ms, maxMs);
  } finally {
    t.off('frame', on);
  }
}

/** Pixels where a BGRX picture differs from what grim reads off a server's desktop (the newest, or that user's). */
export async function differsFromDesktop(s: DevServer, fb: Buffer, width: number, height: number, uid?: number): Promise<number> {
  const { stdout } = await run('grim', ['-t', 'ppm', '-'], { env: s.env(uid), encoding: 'buffer', maxBuffer: 64 << 20 });
  const ppm = stdout as Buffer;
  const data = ppm.subarray(ppm.length - width * height * 3);
  let n = 0;
  for (let i = 0, j = 0; i < width * height; i++, j += 3) {
    if (data[j] !== fb[i * 4 + 2] || data[j + 1] !== fb[i * 4 + 1] || data[j + 2] !== fb[i * 4]) n++;
  }
  return n;
}
