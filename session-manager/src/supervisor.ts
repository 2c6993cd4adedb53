import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { CompositorLink } from '@waydesk/compositor/ipc-client';
import type { CursorMsg, FrameMsg } from '@waydesk/protocol/compositor-ipc';
import type { Display } from '@waydesk/protocol/wire';
import type { Logger } from './log.js';

const compositorBin = path.join(
  path.dirname(createRequire(import.meta.url).resolve('@waydesk/compositor/package.json')),
  'bin',
  'waydesk-compositor.js',
);

/** How often the daemon asks a compositor whether it is alive, and how long an answer may take. */
/**
 * How often the link is pinged, and how many unanswered pings make a desktop hung. Every ping
 * wakes the compositor: a desktop nobody looks at is pinged rarely, so an idle session costs
 * (almost) no wake-ups; one on a screen is pinged every second, so a hang is seen within 4 s.
 */
const HEARTBEAT_MS = { viewed: 1000, unviewed: 15_000 } as const;
const HEARTBEAT_MISSES = 4;
/** A compositor must say hello within this time of starting, or it is killed. */
const HELLO_TIMEOUT_MS = 15_000;
/** A desktop that ran this long was not a crash loop: the next restart is quick again. */
const STABLE_MS = 10_000;
const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;
/** Resizes apply at most this often; the latest wins (dragging a browser window sends hundreds). */
const RESIZE_EVERY_MS = 250;

export interface DesktopSpec {
  /** Whose desktop this is; null runs it as the server's own user (a server not started by root). */
  user: string | null;
  command: string[];
  /** The size it starts at, until a terminal says its own. */
  display: Display;
  /**
   * A logged-in user's desktop is never replaced behind their back: when its compositor ends
   * (they logged out, it crashed, it hung and was killed) the session is over and they log in
   * again. The single-user desktop (false) is replaced with back-off instead.
   */
  endsWithCompositor?: boolean;
  /** Variables for the compositor's environment (a PAM session's, for example). */
  env?: Record<string, string>;
  /**
   * Where its link socket's private directory is made (default: the temporary directory). A
   * server that adopts its desktops after a restart keeps them in its state directory.
   */
  linkDir?: string;
  /** The desktop dies with the server (the single-user desktop); otherwise it outlives it, to be adopted. */
  exitWithServer?: boolean;
  /** A command the compositor is started through, which execs it (systemd-run --scope for its limits). */
  launcher?: string[];
  /**
   * The PAM session keeper's command line (after the launcher): it opens the PAM session, says
   * how that went on its stdout, and starts the compositor as its child once its stdin says go.
   */
  keeper?: string[];
  /**
   * Puts a just-started desktop's first process (the keeper, or the compositor) where its limits
   * apply, before it starts anything: the logind session the keeper opened, if any, is given.
   */
  place?: (pid: number, logindSession: string | null) => Promise<unknown>;
}

/** How long the PAM session modules (pam_mkhomedir, a slow directory) may take to open a session. */
const SESSION_OPEN_MS = 30_000;

/** What the keeper said: the session is open (and its logind id, if any), or why it is not. */
type KeeperSaid = { opened: true; logindSession: string | null } | { opened: false; why: string };

/**
 * Reads the keeper's one status line: decided at its newline, or when the keeper's stdout closes
 * or the keeper exits without one (a module's helper may hold the pipe open, so neither waits for the other).
 */
function keeperSays(proc: ChildProcess): Promise<KeeperSaid> {
  return new Promise((resolve) => {
    let text = '';
    let decided = false;
    const out = proc.stdout!;
    out.setEncoding('utf8');
    const decide = (): void => {
      if (decided) return;
      decided = true;
      const line = text.split('\n')[0] ?? '';
      const m = /^opened ?(\S*)$/.exec(line);
      // a logind session id is a short name (digits, or "c1"): anything else is not used in a unit name
      if (m) resolve({ opened: true, logindSession: /^[A-Za-z0-9]{1,32}$/.test(m[1]!) ? m[1]! : null });
      else resolve({ opened: false, why: line.startsWith('failed ') ? line.slice(7, 207) : 'the session keeper ended before it opened the session' });
    };
    out.on('data', (d: string) => {
      if (text.length < 4096) text += d;
      if (text.includes('\n')) decide();
    });
    out.on('close', decide);
    // what it wrote before it exited is in the pipe: read it first
    proc.once('exit', () => setTimeout(decide, 100));
  });
}

/** A process's children, as the kernel lists them (none when it is gone). */
function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Root's directory for the desktops' runtime directories: one sticky parent each, removed with its desktop. */
const RUNTIME_ROOT = '/run/waydesk-server';

function runtimeParent(): string | null {
  try {
    fs.mkdirSync(RUNTIME_ROOT, { mode: 0o755 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return null;
  }
  const st = fs.lstatSync(RUNTIME_ROOT);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) return null;
  const dir = fs.mkdtempSync(path.join(RUNTIME_ROOT, 'desktop-'));
  // sticky like /tmp: the user may remove the directory the compositor makes for them in it
  fs.chmodSync(dir, 0o1777);
  return dir;
}

/**
 * A compositor this process did not start (a previous run of the server did): watched by its
 * pid, which the store recorded at spawn. It is signalled only while /proc says it is still our
 * compositor on that link socket, so a reused pid is never hit.
 */
class AdoptedProcess extends EventEmitter<{ exit: [number | null, NodeJS.Signals | null]; error: [Error] }> {
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly #timer: NodeJS.Timeout;

  constructor(readonly pid: number, readonly ipc: string) {
    super();
    this.#timer = setInterval(() => this.check(), 500);
  }

  /** Still the compositor serving `ipc` (not a pid the kernel gave to something else). */
  get ours(): boolean {
    try {
      const args = fs.readFileSync(`/proc/${this.pid}/cmdline`, 'utf8').split('\0');
      const state = /^State:\s+(\S)/m.exec(fs.readFileSync(`/proc/${this.pid}/status`, 'utf8'))?.[1];
      return state !== 'Z' && args.includes(compositorBin) && args[args.indexOf('--ipc') + 1] === this.ipc;
    } catch {
      return false;
    }
  }

  check(): void {
    if (this.exitCode !== null || this.signalCode !== null || this.ours) return;
    clearInterval(this.#timer);
    // not our child: its status is not ours to read; it is gone, which is what matters
    this.exitCode = -1;
    this.emit('exit', -1, null);
  }

  unwatch(): void {
    clearInterval(this.#timer);
  }

  kill(sig: NodeJS.Signals): boolean {
    if (!this.ours) return false;
    process.kill(this.pid, sig);
    return true;
  }
}

export interface DesktopEvents {
  /** A compositor said hello on this link: frames and cursors from it follow. */
  up: [CompositorLink];
  /** The compositor ended or was killed; a new one is on its way. */
  down: [string];
  /** This desktop is over and nothing restarts it; why, in words for its terminal. */
  ended: [string];
  frame: [FrameMsg, CompositorLink];
  cursor: [CursorMsg, CompositorLink];
}

/**
 * One user's desktop kept alive: a compositor started as its user with a clean environment, its
 * link socket in root's private directory, watched by a heartbeat on the link, replaced with
 * back-off when it ends or hangs. It knows nothing of terminals: the router does.
 */
export class SupervisedDesktop extends EventEmitter<DesktopEvents> {
  readonly #spec: DesktopSpec;
  readonly #log: Logger;
  #display: Display;
  /** Root's private directory (0700) for the link socket: no user can reach it. */
  #dir = '';
  #proc: ChildProcess | AdoptedProcess | null = null;
  /** From its hello, checked to be the spawned process or its child (a launcher's). */
  #compositorPid: number | null = null;
  #link: CompositorLink | null = null;
  #stopping = false;
  #restarts = 0;
  #startedAt = 0;
  #heartbeat: NodeJS.Timeout | null = null;
  #viewed = false;
  #lastPong = 0;
  #lastBeat = 0;
  #hung = false;
  #resizeTimer: NodeJS.Timeout | null = null;
  #resizeAppliedAt = 0;
  #pendingDisplay: Display | null = null;
  /** The parent of its runtime directory (ours): removed when the desktop is over, however it ended. */
  #runtimeParent: string | null = null;
  /** What the keeper of the process being started said (or will say). */
  #keeperSaid: Promise<KeeperSaid> | null = null;

  constructor(spec: DesktopSpec, log: Logger) {
    super();
    this.#spec = spec;
    this.#display = spec.display;
    this.#log = log;
  }

  /** The compositor's pid (not its launcher's: the PAM session keeper is its parent). */
  get pid(): number | undefined {
    return this.#compositorPid ?? this.#proc?.pid;
  }

  /**
   * Signals the compositor itself. Its launcher (the PAM keeper) must outlive it to close the PAM
   * session, so a SIGKILL never goes to the launcher while the compositor is known.
   */
  #kill(proc: ChildProcess | AdoptedProcess, sig: NodeJS.Signals): void {
    const target = this.#compositorPid ?? childrenOf(proc.pid ?? -1)[0];
    try {
      if (target !== undefined && target !== proc.pid) process.kill(target, sig);
      else proc.kill(sig);
    } catch {
      // gone already
    }
  }

  /** The link of the running compositor, once it said hello. */
  get link(): CompositorLink | null {
    return this.#link?.hello ? this.#link : null;
  }

  /** A desktop is up and answers its heartbeat. */
  get healthy(): boolean {
    return this.link !== null && !this.#hung;
  }

  get display(): Display {
    return this.#display;
  }

  /** The link socket, for the store. */
  get ipc(): string {
    return path.join(this.#dir, 'compositor.sock');
  }

  /** The runtime directory's parent, for the store. */
  get runtimeParentDir(): string | null {
    return this.#runtimeParent;
  }

  /** Resolves once the first compositor said hello; rejects if it could not start. */
  async start(): Promise<void> {
    this.#dir = fs.mkdtempSync(path.join(this.#spec.linkDir ?? os.tmpdir(), 'waydesk-'));
    await this.#spawn();
  }

  /**
   * Takes over a compositor a previous run of the server left running: its link, its heartbeat,
   * its end. Resolves false (and touches nothing) when it is gone or answers as someone else.
   */
  async adopt(pid: number, ipc: string, runtimeParentDir: string | null = null): Promise<boolean> {
    this.#runtimeParent = runtimeParentDir;
    const proc = new AdoptedProcess(pid, ipc);
    this.#dir = path.dirname(ipc);
    if (!proc.ours) {
      proc.check();
      // gone: what it left of ours goes with it
      this.#removeDirs();
      return false;
    }
    this.#proc = proc;
    this.#startedAt = Date.now();
    proc.on('exit', (code, signal) => this.#exited(proc, code, signal));
    try {
      await this.#connect(proc, ipc, Date.now() + 5000, pid);
    } catch (err) {
      this.#log.warn({ pid, err: (err as Error).message }, 'could not adopt a desktop left running');
      proc.unwatch();
      return false;
    }
    return true;
  }

  /** The compositor's environment: nothing of the server's own but what it needs to run. */
  #env(runtimeDir: string | null): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', LANG: process.env.LANG ?? 'C.UTF-8' };
    for (const k of ['WAYDESK_LOG_LEVEL', 'TZ']) if (process.env[k] !== undefined) env[k] = process.env[k];
    if (this.#spec.user === null) {
      // The server's own user runs its own desktop: its environment is that user's anyway.
      Object.assign(env, process.env);
      delete env.WAYLAND_DISPLAY;
    }
    if (runtimeDir) env.XDG_RUNTIME_DIR = runtimeDir;
    Object.assign(env, this.#spec.env);
    return env;
  }

  async #spawn(): Promise<void> {
    const ipc = path.join(this.#dir, 'compositor.sock');
    // A crashed compositor leaves its socket file behind: wait for the new one, not the old.
    fs.rmSync(ipc, { force: true });
    let runtimeDir: string | null = null;
    if (this.#spec.user === null) {
      runtimeDir = path.join(this.#dir, 'run');
      fs.mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
    } else if (this.#runtimeParent === null && process.getuid?.() === 0) {
      this.#runtimeParent = runtimeParent();
    }
    const d = this.#display;
    const args = [compositorBin, '--ipc', ipc, '--size', `${d.width}x${d.height}`, '--refresh', String(d.refreshMhz / 1000)];
    if (this.#spec.exitWithServer !== false) args.push('--exit-with-parent', String(process.pid));
    if (this.#spec.user !== null) args.push('--user', this.#spec.user);
    if (this.#runtimeParent) args.push('--runtime-parent', this.#runtimeParent);
    args.push('--', ...this.#spec.command);
    // A desktop that outlives the server is in a session of its own (no signal to the server's
    // process group reaches it); its log still goes to the stderr it was started with.
    const keeper = this.#spec.keeper ?? [];
    const launch = [...(this.#spec.launcher ?? []), ...keeper, process.execPath, ...args];
    const proc = spawn(launch[0]!, launch.slice(1), {
      env: this.#env(runtimeDir),
      cwd: '/',
      // the keeper says on stdout whether the PAM session opened, and starts the desktop once its stdin says go
      stdio: ['pipe', keeper.length ? 'pipe' : 'ignore', 'inherit'],
      detached: this.#spec.exitWithServer === false,
    });
    this.#proc = proc;
    this.#startedAt = Date.now();
    this.#keeperSaid = keeper.length ? keeperSays(proc) : Promise.resolve({ opened: true, logindSession: null });
    proc.stdin?.on('error', () => {});
    proc.on('exit', (code, signal) => this.#exited(proc, code, signal));
    // A spawn that fails (EAGAIN, ENOMEM) is an exit like any other: back off and try again.
    proc.on('error', (err) => {
      this.#log.error({ err: err.message }, 'could not start the compositor');
      if (proc.exitCode === null && proc.signalCode === null && proc.pid === undefined) this.#exited(proc, null, null);
    });
    let opened: KeeperSaid;
    if (keeper.length) {
      let timer: NodeJS.Timeout | undefined;
      opened = await Promise.race([
        this.#keeperSaid,
        new Promise<KeeperSaid>((r) => (timer = setTimeout(() => r({ opened: false, why: `the PAM session did not open within ${SESSION_OPEN_MS / 1000} s` }), SESSION_OPEN_MS))),
      ]);
      // the keeper killed for being slow says only that it ended: the log gets the timeout instead
      if (!opened.opened) this.#keeperSaid = Promise.resolve(opened);
      clearTimeout(timer);
      if (!opened.opened) {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
        throw new Error(`the PAM session was not opened: ${opened.why}`);
      }
    } else {
      opened = { opened: true, logindSession: null };
    }
    // before the go: what the desktop starts is born wherever this put its first process
    if (proc.pid !== undefined) await this.#spec.place?.(proc.pid, opened.logindSession);
    proc.stdin?.end('\n');
    await this.#connect(proc, ipc, Date.now() + HELLO_TIMEOUT_MS);
  }

  /** Connects to the compositor's link, waits for its hello (from `expectPid`, when adopting), then watches it. */
  async #connect(proc: ChildProcess | AdoptedProcess, ipc: string, deadline: number, expectPid?: number): Promise<void> {
    let link: CompositorLink | null = null;
    try {
      while (!fs.existsSync(ipc)) {
        if (this.#proc !== proc) throw new Error('the compositor ended before it listened (see its log above)');
        if (Date.now() > deadline) throw new Error(`the compositor did not listen within ${HELLO_TIMEOUT_MS} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
      link = await CompositorLink.connect(ipc);
      if (this.#proc !== proc) throw new Error('the compositor ended while the server connected to it');
      this.#link = link;
      this.#wire(link);
      const [hello] = await link.next('hello', Math.max(1, deadline - Date.now()));
      if (expectPid !== undefined) {
        // the recorded pid is the compositor's, or its launcher's (the PAM keeper, which outlives it)
        if (hello.pid !== expectPid && !childrenOf(expectPid).includes(hello.pid)) throw new Error(`it answered as pid ${hello.pid}, not ${expectPid} or a child of it`);
        // it has the size its last terminal gave it
        this.#display = { width: hello.width, height: hello.height, refreshMhz: hello.refreshMhz };
      } else if (hello.pid !== proc.pid && !childrenOf(proc.pid ?? -1).includes(hello.pid)) {
        // the kernel says who the compositor is, not its own word
        throw new Error(`it answered as pid ${hello.pid}, which the server did not start`);
      }
      this.#compositorPid = hello.pid;
    } catch (err) {
      // Never leave a half-started desktop behind: the exit handler restarts with back-off.
      this.#log.error({ err: (err as Error).message, pid: proc.pid }, 'the compositor did not start; killing it');
      link?.close();
      if (proc.exitCode === null && proc.signalCode === null) this.#kill(proc, 'SIGKILL');
      throw err;
    }
    if (this.#stopping || this.#proc !== proc) return;
    this.#lastPong = this.#lastBeat = Date.now();
    this.#hung = false;
    this.#schedule(link);
    this.#log.info({ compositorPid: this.#compositorPid, launcherPid: proc.pid === this.#compositorPid ? undefined : proc.pid, socket: path.join(link.hello!.runtimeDir, link.hello!.socket), uid: link.hello!.uid }, 'desktop running');
    this.emit('up', link);
  }

  #wire(link: CompositorLink): void {
    // The terminal's acknowledgements are the compositor's credits: the router passes them on.
    link.autoAck = false;
    link.on('frame', (f) => this.emit('frame', f, link));
    link.on('cursor', (c) => this.emit('cursor', c, link));
    link.on('pong', () => (this.#lastPong = Date.now()));
    link.on('remote-error', (message) => this.#log.warn({ message }, 'the compositor refused a message'));
    link.on('error', (err) => this.#log.warn({ err: err.message }, 'compositor link error; the desktop is restarted'));
    link.on('close', () => {
      // A link the compositor broke (or that sent garbage) is a desktop we cannot drive: replace it.
      if (this.#link === link && !this.#stopping && this.#proc && this.#proc.exitCode === null) this.#kill(this.#proc, 'SIGKILL');
    });
  }

  get #period(): number {
    return this.#viewed ? HEARTBEAT_MS.viewed : HEARTBEAT_MS.unviewed;
  }

  #schedule(link: CompositorLink): void {
    if (this.#heartbeat) clearTimeout(this.#heartbeat);
    this.#heartbeat = setTimeout(() => {
      this.#heartbeat = null;
      this.#beat(link);
      if (this.#link === link && !this.#stopping && !this.#hung) this.#schedule(link);
    }, this.#period);
  }

  /**
   * Whether a terminal shows this desktop: it sets how often the heartbeat wakes the compositor.
   * Becoming viewed pings at once, so a desktop that hung while nobody looked is found within
   * the viewed timeout.
   */
  setViewed(viewed: boolean): void {
    if (this.#viewed === viewed) return;
    this.#viewed = viewed;
    const link = this.#link;
    if (!link || !this.#heartbeat || this.#stopping) return;
    // the answers of the slow beat do not count against the fast one's deadline
    this.#lastPong = this.#lastBeat = Date.now();
    if (viewed) link.send({ type: 'ping', id: 0 });
    this.#schedule(link);
  }

  #beat(link: CompositorLink): void {
    const now = Date.now();
    // This process stalled (its own event loop held up): the answers may be unread in the socket, so
    // that time is not the compositor's.
    if (now - this.#lastBeat > 2 * this.#period) this.#lastPong = now;
    this.#lastBeat = now;
    if (now - this.#lastPong > HEARTBEAT_MISSES * this.#period) {
      if (this.#hung) return;
      this.#hung = true;
      this.#log.error({ pid: this.#proc?.pid, silentMs: now - this.#lastPong }, 'the compositor stopped answering; killing it');
      if (this.#proc) this.#kill(this.#proc, 'SIGKILL');
      return;
    }
    link.send({ type: 'ping', id: 0 });
  }

  #exited(proc: ChildProcess | AdoptedProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#proc !== proc) return;
    // a keeper that could not open the session said why on its stdout, which may not be read yet
    const said = this.#keeperSaid;
    if (said && !(proc instanceof AdoptedProcess) && proc.stdout) {
      this.#keeperSaid = null;
      void said.then((s) => this.#ended(proc, code, signal, s.opened ? null : s.why));
      return;
    }
    this.#ended(proc, code, signal, null);
  }

  #ended(proc: ChildProcess | AdoptedProcess, code: number | null, signal: NodeJS.Signals | null, notOpened: string | null): void {
    if (this.#proc !== proc) return;
    this.#proc = null;
    this.#compositorPid = null;
    if (this.#heartbeat) clearTimeout(this.#heartbeat);
    this.#heartbeat = null;
    this.#link?.close();
    this.#link = null;
    if (this.#stopping) return;
    if (this.#spec.endsWithCompositor) {
      this.#stopping = true;
      if (notOpened !== null) {
        this.#log.error({ user: this.#spec.user, why: notOpened }, 'PAM would not open the session: the login is over');
        this.#removeDirs();
        this.emit('ended', 'your session could not be opened: ask an administrator');
        return;
      }
      const out = code === 0 && !this.#hung;
      this.#log[out ? 'info' : 'error']({ user: this.#spec.user, code, signal, hung: this.#hung }, out ? 'the session command exited: the session is over' : 'the desktop ended: the session is over');
      this.#removeDirs();
      this.emit('ended', out ? 'you logged out: your session is over' : 'your desktop ended unexpectedly: log in again for a new one');
      return;
    }
    // The next desktop gets a fresh runtime directory; the dead one's goes now.
    if (this.#runtimeParent && path.dirname(this.#runtimeParent) === RUNTIME_ROOT) fs.rmSync(this.#runtimeParent, { recursive: true, force: true });
    this.#runtimeParent = null;
    // A desktop that ends at once (a session command that cannot start) backs off.
    if (Date.now() - this.#startedAt >= STABLE_MS) this.#restarts = 0;
    const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** this.#restarts++);
    this.#log.error({ code, signal, restartInMs: delay }, 'the compositor ended; starting a new desktop');
    this.emit('down', 'your desktop ended; a new one is starting');
    setTimeout(() => {
      if (this.#stopping) return;
      void this.#spawn().catch((err: Error) => this.#log.error({ err: err.message }, 'could not start a desktop; retrying'));
    }, delay);
  }

  /** Sizes the desktop to a terminal's display: the latest size wins, at most one applied per RESIZE_EVERY_MS. */
  resize(d: Display): void {
    if (this.#resizeTimer) clearTimeout(this.#resizeTimer);
    this.#resizeTimer = null;
    this.#pendingDisplay = d;
    const apply = (): void => {
      this.#resizeTimer = null;
      const p = this.#pendingDisplay;
      this.#pendingDisplay = null;
      if (!p || (p.width === this.#display.width && p.height === this.#display.height && p.refreshMhz === this.#display.refreshMhz)) return;
      this.#display = p;
      this.#resizeAppliedAt = Date.now();
      this.link?.send({ type: 'resize', width: p.width, height: p.height, refreshMhz: p.refreshMhz });
    };
    const wait = this.#resizeAppliedAt + RESIZE_EVERY_MS - Date.now();
    if (wait <= 0) apply();
    else this.#resizeTimer = setTimeout(apply, wait);
  }

  /**
   * Lets go of a desktop that outlives this server (it stops or restarts): no more heartbeat,
   * its link closed, the compositor left running for the next server to adopt.
   */
  release(): void {
    this.#stopping = true;
    if (this.#heartbeat) clearTimeout(this.#heartbeat);
    if (this.#resizeTimer) clearTimeout(this.#resizeTimer);
    this.#link?.close();
    if (this.#proc instanceof AdoptedProcess) this.#proc.unwatch();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#heartbeat) clearTimeout(this.#heartbeat);
    if (this.#resizeTimer) clearTimeout(this.#resizeTimer);
    this.#link?.close();
    const proc = this.#proc;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const done = new Promise((r) => proc.once('exit', r));
      // a launcher passes SIGTERM on to the compositor, and closes the PAM session after it
      proc.kill('SIGTERM');
      const t = setTimeout(() => this.#kill(proc, 'SIGKILL'), 5000);
      await done;
      clearTimeout(t);
    }
    this.#removeDirs();
  }

  /** Its link directory and its runtime directory's parent: both ours, whatever the compositor did. */
  #removeDirs(): void {
    if (this.#dir && path.dirname(this.#dir) === (this.#spec.linkDir ?? os.tmpdir())) fs.rmSync(this.#dir, { recursive: true, force: true });
    if (this.#runtimeParent && path.dirname(this.#runtimeParent) === RUNTIME_ROOT) fs.rmSync(this.#runtimeParent, { recursive: true, force: true });
  }
}
