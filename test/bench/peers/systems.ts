// The systems compared: waydesk, wayvnc on headless sway (three encodings), waypipe (two compressors).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Terminal } from '../../../client-firmware/src/terminal.js';
import { keystrokes } from '../../../protocol/src/us-keys.js';
import { startDevServer, startTerminal, type DevServer } from '../../helpers/server.js';
import { testUser } from '../../helpers/test-user.js';
import { comm, descendants, stopProc, waitForPath, waitForPort } from '../procs.js';
import { Encoding, RfbClient } from './rfb.js';

export interface Running {
  /** Bytes over the link so far: down = towards the user's screen. */
  bytes(): { down: number; up: number };
  /** Bytes on the TCP connection (the kernel's count, framing and TLS included), where there is one. */
  wireBytes?(): { down: number; up: number };
  /** Every process of the system by role, the application excluded. */
  pids(): Record<string, number>;
  appPid(): number | undefined;
  /** Sends one character as the user's keyboard would. */
  type(ch: string): void;
  /** Resolves (performance.now()) when the next screen update has fully arrived at the client. */
  nextUpdate(timeoutMs: number): Promise<number | null>;
  /**
   * Systems typed through a helper process (wtype on waypipe's display) type the whole text in
   * one run, like a person at 10 keys/s, and measure each key at the link: input entering it, then
   * the display-bound update completing.
   */
  typeText?(text: string, delayMs: number): Promise<{ latencies: number[]; atLinkOnly: number[] }>;
  /** PSNR (dB) of what the client shows against the compositor's own picture (lossy systems). */
  psnr?(): Promise<number>;
  stop(): Promise<void>;
}

export interface System {
  name: string;
  start(app: string[]): Promise<Running>;
}

function updateWaiter(): { wait: (ms: number) => Promise<number | null>; fire: () => void } {
  let pending: ((t: number | null) => void) | null = null;
  return {
    wait: (ms) =>
      new Promise((resolve) => {
        const t = setTimeout(() => {
          pending = null;
          resolve(null);
        }, ms);
        pending = (v) => {
          clearTimeout(t);
          resolve(v);
        };
      }),
    fire: () => {
      const p = pending;
      pending = null;
      p?.(performance.now());
    },
  };
}

/**
 * Payload bytes of the established loopback TCP connections to `port`, from the client's side
 * (the kernel's tcp_info via `ss`, so nothing is added to the path being measured).
 */
export function tcpBytes(port: number): { down: number; up: number } {
  const out = execFileSync('ss', ['-tinH', 'state', 'established', `( dport = :${port} )`]).toString();
  let up = 0;
  let down = 0;
  for (const m of out.matchAll(/bytes_sent:(\d+)/g)) up += Number(m[1]);
  for (const m of out.matchAll(/bytes_received:(\d+)/g)) down += Number(m[1]);
  return { down, up };
}

// ---------- waydesk ----------

function grim(env: NodeJS.ProcessEnv): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = spawn('grim', ['-t', 'ppm', '-'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`grim failed: ${err}`))));
  });
}

/** PSNR over R, G and B of a BGRX picture against a binary PPM of the same size. */
function psnrBgrxPpm(bgrx: Buffer, ppm: Buffer): number {
  const h = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(ppm.subarray(0, 32).toString('latin1'));
  if (!h || Number(h[1]) * Number(h[2]) * 4 !== bgrx.length) throw new Error('grim picture does not match the terminal picture');
  const rgb = ppm.subarray(h[0].length);
  let se = 0;
  for (let i = 0, j = 0; i < bgrx.length; i += 4, j += 3) {
    const dr = bgrx[i + 2]! - rgb[j]!, dg = bgrx[i + 1]! - rgb[j + 1]!, db = bgrx[i]! - rgb[j + 2]!;
    se += dr * dr + dg * dg + db * db;
  }
  const mse = se / ((bgrx.length / 4) * 3);
  return mse === 0 ? 99 : 10 * Math.log10((255 * 255) / mse);
}

export const waydesk: System = {
  name: 'waydesk',
  async start(app) {
    const s: DevServer = await startDevServer(app);
    const { terminal }: { terminal: Terminal } = startTerminal(s);
    const start = Date.now();
    while (terminal.painter.width === 0) {
      if (Date.now() - start > 20_000) throw new Error('waydesk: no picture');
      await new Promise((r) => setTimeout(r, 20));
    }
    const u = updateWaiter();
    terminal.on('frame', () => u.fire());
    const compositor = (): number | undefined => descendants(s.proc.pid!).find((p) => comm(p) === 'node');
    return {
      bytes: () => ({ down: terminal.bytesReceived, up: terminal.bytesSent }),
      wireBytes: () => tcpBytes(Number(new URL(s.url).port)),
      pids: () => ({ 'waydesk-server': s.proc.pid!, compositor: compositor() ?? 0 }),
      appPid: () => {
        const c = compositor();
        return c ? descendants(c).find((p) => comm(p) !== 'node') : undefined;
      },
      type: (ch) => {
        for (const k of keystrokes(ch)) terminal.key(k.code, k.pressed);
      },
      nextUpdate: (ms) => u.wait(ms),
      psnr: async () => {
        // Freeze the application: the terminal keeps the last H.264 picture until the exact
        // refinement 200 ms later, and the compositor's picture (grim) no longer moves.
        const c = compositor();
        // every process of the application (mpv runs helpers of its own)
        const app = c ? descendants(c) : [];
        if (!app.length) return NaN;
        const signal = (sig: NodeJS.Signals): void => {
          for (const p of app) {
            try {
              process.kill(p, sig);
            } catch {
              // already gone
            }
          }
        };
        // ten samples 2 s apart: the clip is 20 s long and its deep zoom is far harder than its start
        const samples: number[] = [];
        for (let i = 0; i < 10; i++) {
          signal('SIGSTOP');
          await new Promise((r) => setTimeout(r, 100));
          const shown = Buffer.from(terminal.painter.framebuffer);
          try {
            samples.push(psnrBgrxPpm(shown, await grim(s.env())));
          } finally {
            signal('SIGCONT');
          }
          await new Promise((r) => setTimeout(r, 1800));
        }
        return samples.reduce((a, b) => a + b, 0) / samples.length;
      },
      stop: async () => {
        terminal.stop();
        await s.stop();
      },
    };
  },
};

// ---------- sway (for wayvnc, and as waypipe's display) ----------

export interface Sway {
  proc: ChildProcess;
  env: NodeJS.ProcessEnv;
  dir: string;
  user: ReturnType<typeof testUser>;
}

async function startSway(exec: string[] | null): Promise<Sway> {
  const user = testUser();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-peer-'));
  fs.chmodSync(dir, 0o755);
  const run = path.join(dir, 'run');
  fs.mkdirSync(run, { mode: 0o700 });
  fs.chownSync(run, user.uid, user.gid);
  const conf = path.join(dir, 'sway.conf');
  const quoted = exec ? exec.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ') : '';
  fs.writeFileSync(
    conf,
    ['xwayland disable', 'output HEADLESS-1 mode 1920x1080@60Hz', 'default_border none', 'focus_follows_mouse no', exec ? `exec ${quoted}` : ''].join('\n') + '\n',
  );
  fs.chmodSync(conf, 0o644);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: user.home,
    USER: user.name,
    XDG_RUNTIME_DIR: run,
    WLR_BACKENDS: 'headless',
    WLR_LIBINPUT_NO_DEVICES: '1',
    WLR_RENDERER: 'pixman',
    LANG: 'C.UTF-8',
  };
  const proc = spawn('sway', ['-c', conf], { env, uid: user.uid, gid: user.gid, stdio: 'ignore', cwd: user.home });
  const start = Date.now();
  let display = '';
  while (!display) {
    if (proc.exitCode !== null) throw new Error('sway exited');
    if (Date.now() - start > 15_000) throw new Error('sway did not start');
    display = fs.readdirSync(run).find((f) => /^wayland-\d+$/.test(f)) ?? '';
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, env: { ...env, WAYLAND_DISPLAY: display }, dir, user };
}

async function stopSway(s: Sway): Promise<void> {
  await stopProc(s.proc);
  fs.rmSync(s.dir, { recursive: true, force: true });
}

function appOf(root: number, names = ['foot', 'mpv']): number | undefined {
  return descendants(root).find((p) => names.includes(comm(p)));
}

// ---------- wayvnc ----------

let vncPort = 5990;

/** Headless sway running `app`, and wayvnc serving its output on a port of its own (no viewer yet). */
export async function startSwayVnc(app: string[] | null): Promise<{ sway: Sway; vnc: ChildProcess; port: number; stop: () => Promise<void> }> {
  const sway = await startSway(app);
  const conf = path.join(sway.dir, 'wayvnc.conf');
  fs.writeFileSync(conf, 'enable_auth=false\n');
  fs.chmodSync(conf, 0o644);
  const port = vncPort++;
  const vnc = spawn('wayvnc', ['-C', conf, '-o', 'HEADLESS-1', '127.0.0.1', String(port)], {
    env: sway.env,
    uid: sway.user.uid,
    gid: sway.user.gid,
    stdio: 'ignore',
  });
  await waitForPort(port);
  return {
    sway,
    vnc,
    port,
    stop: async () => {
      await stopProc(vnc);
      await stopSway(sway);
    },
  };
}

export function wayvnc(label: string, encodings: number[]): System {
  return {
    name: `wayvnc ${label}`,
    async start(app) {
      const { sway, vnc, port, stop } = await startSwayVnc(app);
      const rfb = await RfbClient.connect(port, encodings);
      const u = updateWaiter();
      rfb.onUpdate = () => u.fire();
      return {
        bytes: () => ({ down: rfb.bytesDown, up: rfb.bytesUp }),
        wireBytes: () => tcpBytes(port),
        pids: () => ({ sway: sway.proc.pid!, wayvnc: vnc.pid! }),
        appPid: () => appOf(sway.proc.pid!),
        type: (ch) => {
          const sym = ch === '\n' ? 0xff0d : ch.charCodeAt(0);
          rfb.keysym(sym, true);
          rfb.keysym(sym, false);
        },
        nextUpdate: (ms) => u.wait(ms),
        stop: async () => {
          rfb.close();
          await stop();
        },
      };
    },
  };
}

export const WAYVNC: System[] = [
  wayvnc('zrle', [Encoding.ZRLE, Encoding.DesktopSize]),
  wayvnc('tight', [Encoding.Tight, Encoding.DesktopSize]),
  wayvnc('tight+jpeg', [Encoding.Tight, Encoding.JpegQuality0 + 2, Encoding.DesktopSize]),
];

// ---------- waypipe ----------

/** Forwards between two Unix sockets, counting bytes and noticing when a burst towards the display ends. */
function relay(
  listenPath: string,
  targetPath: string,
): Promise<{
  down: () => number;
  up: () => number;
  latencies: () => number[];
  /** When each display-bound update completed (ms since the epoch, µs precision). */
  updates: () => number[];
  onDownQuiet: (cb: () => void) => void;
  close: () => void;
}> {
  let down = 0;
  let up = 0;
  let quietTimer: NodeJS.Timeout | null = null;
  let lastUp = 0;
  let upSeenAt = 0;
  let answered = true;
  const latencies: number[] = [];
  const updates: number[] = [];
  let quietCb: () => void = () => {};
  const conns: net.Socket[] = [];
  const server = net.createServer((a) => {
    const b = net.connect(targetPath);
    conns.push(a, b);
    a.setNoDelay?.(true);
    a.on('data', (d) => {
      up += d.length;
      const now = performance.now();
      // the first input after a pause: a key entering the link
      if (now - lastUp > 20) {
        upSeenAt = now;
        answered = false;
      }
      lastUp = now;
      b.write(d);
    });
    b.on('data', (d) => {
      down += d.length;
      a.write(d);
      // the update is complete when the display-bound stream has been quiet for 3 ms
      if (quietTimer) clearTimeout(quietTimer);
      const at = performance.now();
      quietTimer = setTimeout(() => {
        if (!answered) {
          latencies.push(at - upSeenAt);
          answered = true;
        }
        updates.push(performance.timeOrigin + at);
        quietCb();
      }, 3);
    });
    const end = (): void => {
      a.destroy();
      b.destroy();
    };
    a.on('close', end);
    b.on('close', end);
    a.on('error', end);
    b.on('error', end);
  });
  return new Promise((resolve) => {
    server.listen(listenPath, () => {
      fs.chmodSync(listenPath, 0o777);
      resolve({
        down: () => down,
        up: () => up,
        latencies: () => latencies.splice(0),
        updates: () => updates.splice(0),
        onDownQuiet: (cb) => (quietCb = cb),
        close: () => {
          for (const c of conns) c.destroy();
          server.close();
        },
      });
    });
  });
}

export function waypipe(compression: 'lz4' | 'zstd'): System {
  return {
    name: `waypipe ${compression}`,
    async start(app) {
      const display = await startSway(null);
      // waypipe runs as the bench user: its sockets live where that user may create files
      const socks = path.join(display.dir, 'sockets');
      fs.mkdirSync(socks, { mode: 0o1777 });
      fs.chmodSync(socks, 0o1777);
      const clientSock = path.join(socks, 'client.sock');
      const serverSock = path.join(socks, 'server.sock');
      const client = spawn('waypipe', ['-n', '-c', compression, '-s', clientSock, 'client'], {
        env: display.env,
        uid: display.user.uid,
        gid: display.user.gid,
        stdio: 'ignore',
      });
      await waitForPath(clientSock);
      const r = await relay(serverSock, clientSock);
      const appRun = path.join(display.dir, 'apprun');
      fs.mkdirSync(appRun, { mode: 0o700 });
      fs.chownSync(appRun, display.user.uid, display.user.gid);
      const server = spawn('waypipe', ['-n', '-c', compression, '-s', serverSock, 'server', '--', ...app], {
        env: { ...display.env, XDG_RUNTIME_DIR: appRun, WAYLAND_DISPLAY: undefined },
        uid: display.user.uid,
        gid: display.user.gid,
        stdio: 'ignore',
        cwd: display.user.home,
      });
      const u = updateWaiter();
      r.onDownQuiet(() => u.fire());
      return {
        bytes: () => ({ down: r.down(), up: r.up() }),
        pids: () => ({ 'waypipe server': server.pid!, 'waypipe client': client.pid!, 'sway (display)': display.proc.pid! }),
        appPid: () => appOf(server.pid!),
        type: (ch) => {
          const args = ch === '\n' ? ['-k', 'Return'] : ['--', ch];
          spawn('wtype', args, { env: display.env, uid: display.user.uid, gid: display.user.gid, stdio: 'ignore' });
        },
        nextUpdate: (ms) => u.wait(ms),
        typeText: async (text, delayMs) => {
          r.latencies();
          r.updates();
          // One wtype for the whole text: one virtual keyboard, as a person's. libwayland's debug
          // log stamps each request it sends (CLOCK_REALTIME): the key press leaving wtype starts
          // the clock, as the key leaving the terminal does for waydesk and the KeyEvent for VNC.
          const w = spawn('wtype', ['-d', String(delayMs), '--', text], {
            env: { ...display.env, WAYLAND_DEBUG: '1' },
            uid: display.user.uid,
            gid: display.user.gid,
            stdio: ['ignore', 'ignore', 'pipe'],
          });
          let log = '';
          w.stderr!.on('data', (d: Buffer) => (log += d.toString()));
          await new Promise((res) => w.once('exit', res));
          await new Promise((res) => setTimeout(res, 300));
          const atLinkOnly = r.latencies();
          const updates = r.updates();
          // libwayland prints microseconds since the epoch modulo 2^32, as ms.µs (it wraps every 71 min)
          const WRAP = 2 ** 32;
          const nowUs = Math.round((performance.timeOrigin + performance.now()) * 1000);
          const base = nowUs - (nowUs % WRAP);
          const presses = [...log.matchAll(/^\[\s*(\d+)\.(\d+)\]\s+-> zwp_virtual_keyboard_v1@\d+\.key\(\d+, \d+, 1\)/gm)].map((m) => {
            let us = base + Number(m[1]) * 1000 + Number(m[2]);
            if (us > nowUs) us -= WRAP;
            return us / 1000;
          });
          const latencies: number[] = [];
          for (const p of presses) {
            const u = updates.find((x) => x > p);
            if (u !== undefined && u - p < 400) latencies.push(u - p);
          }
          return { latencies, atLinkOnly };
        },
        stop: async () => {
          // waypipe server does not take its application down with it: end it ourselves, by PID
          const app = appOf(server.pid!);
          await stopProc(server);
          if (app) {
            try {
              process.kill(app, 'SIGKILL');
            } catch {
              // already gone
            }
          }
          r.close();
          await stopProc(client);
          await stopSway(display);
        },
      };
    },
  };
}

export const WAYPIPE: System[] = [waypipe('lz4'), waypipe('zstd')];
