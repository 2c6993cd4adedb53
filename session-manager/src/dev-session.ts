import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { CompositorLink } from '@waydesk/compositor/ipc-client';
import { CloseCode, WIRE_VERSION, type Display, type HelloBody, type ServerMessage, type TerminalMessage } from '@waydesk/protocol/wire';
import type { Logger } from './log.js';

/** What the terminal endpoint hands a session: one connected, authenticated terminal. */
export interface TerminalPeer {
  readonly hello: HelloBody;
  send(m: ServerMessage): void;
  close(code: number, reason: string): void;
}

const compositorBin = path.join(
  path.dirname(createRequire(import.meta.url).resolve('@waydesk/compositor/package.json')),
  'bin',
  'waydesk-compositor.js',
);

/** How often the daemon asks a compositor whether it is alive, and how long an answer may take. */
const HEARTBEAT_MS = 1000;
const HEARTBEAT_TIMEOUT_MS = 4000;
/** A compositor must say hello within this time of starting, or it is killed. */
const HELLO_TIMEOUT_MS = 15_000;
/** A desktop that ran this long was not a crash loop: the next restart is quick again. */
const STABLE_MS = 10_000;
const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;
/** Resizes apply at most this often; the latest wins (dragging a browser window sends hundreds). */
const RESIZE_EVERY_MS = 250;

function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** The one attached terminal and what the server tracks for it. */
interface Attached {
  peer: TerminalPeer;
  /** The link to the desktop it was greeted with: nothing of another (a restarted one) reaches it before its own welcome. */
  link: CompositorLink | null;
  /** Its display as it last said: what the desktop is sized to, also after a restart. */
  display: Display;
  /** Frames sent to it and not yet acknowledged: only these release the compositor's credits. */
  sent: Set<number>;
  /** Frames encoded before its whole picture continue a stream it never saw: skipped. */
  awaitFull: boolean;
}

export interface DevSessionOptions {
  command: string[];
  display: Display;
  /** Whose desktop this is; null runs it as the server's own user (a server not started by root). */
  user: string | null;
  log: Logger;
}

/**
 * Development mode: one desktop, one terminal at a time. The compositor runs as a child
 * process, as its user; this relays its frames to the attached terminal and the terminal's
 * input back, and supervises it (a heartbeat on the link; restart with back-off). The
 * terminal's frame acknowledgements are the compositor's credits, so when the network is
 * slow the compositor coalesces at the source instead of anything queueing here.
 */
export class DevSession {
  readonly #log: Logger;
  readonly #o: DevSessionOptions;
  #display: Display;
  /** Root's private directory (0700) for the link socket: no user can reach it. */
  #dir = '';
  #proc: ChildProcess | null = null;
  #link: CompositorLink | null = null;
  #t: Attached | null = null;
  #stopping = false;
  #restarts = 0;
  #startedAt = 0;
  #heartbeat: NodeJS.Timeout | null = null;
  #lastPong = 0;
  #lastBeat = 0;
  #hung = false;
  #resizeTimer: NodeJS.Timeout | null = null;
  #resizeAppliedAt = 0;
  #pendingDisplay: Display | null = null;

  constructor(o: DevSessionOptions) {
    this.#o = o;
    this.#display = o.display;
    this.#log = o.log;
  }

  get compositorPid(): number | undefined {
    return this.#proc?.pid;
  }

  /** A desktop is up and answers its heartbeat. */
  get healthy(): boolean {
    return this.#link !== null && !this.#hung;
  }

  get socket(): { runtimeDir: string; name: string } | null {
    const h = this.#link?.hello;
    return h ? { runtimeDir: h.runtimeDir, name: h.socket } : null;
  }

  async start(): Promise<void> {
    this.#dir = fs.mkdtempSync(path.join(os.tmpdir(), 'waydesk-dev-'));
    await this.#spawn();
  }

  /** The compositor's environment: nothing of the server's own but what it needs to run. */
  #env(runtimeDir: string | null): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', LANG: process.env.LANG ?? 'C.UTF-8' };
    for (const k of ['WAYDESK_LOG_LEVEL', 'TZ']) if (process.env[k] !== undefined) env[k] = process.env[k];
    if (this.#o.user === null) {
      // The server's own user runs its own desktop: its environment is that user's anyway.
      Object.assign(env, process.env);
      delete env.WAYLAND_DISPLAY;
    }
    if (runtimeDir) env.XDG_RUNTIME_DIR = runtimeDir;
    return env;
  }

  async #spawn(): Promise<void> {
    const ipc = path.join(this.#dir, 'compositor.sock');
    // A crashed compositor leaves its socket file behind: wait for the new one, not the old.
    fs.rmSync(ipc, { force: true });
    let runtimeDir: string | null = null;
    if (this.#o.user === null) {
      runtimeDir = path.join(this.#dir, 'run');
      fs.mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
    }
    const d = this.#display;
    const args = [compositorBin, '--ipc', ipc, '--exit-with-parent', String(process.pid), '--size', `${d.width}x${d.height}`, '--refresh', String(d.refreshMhz / 1000)];
    if (this.#o.user !== null) args.push('--user', this.#o.user);
    args.push('--', ...this.#o.command);
    const proc = spawn(process.execPath, args, { env: this.#env(runtimeDir), cwd: '/', stdio: ['ignore', 'ignore', 'inherit'] });
    this.#proc = proc;
    this.#startedAt = Date.now();
    proc.on('exit', (code, signal) => this.#exited(proc, code, signal));
    // A spawn that fails (EAGAIN, ENOMEM) is an exit like any other: back off and try again.
    proc.on('error', (err) => {
      this.#log.error({ err: err.message }, 'could not start the compositor');
      if (proc.exitCode === null && proc.signalCode === null && proc.pid === undefined) this.#exited(proc, null, null);
    });
    let link: CompositorLink | null = null;
    try {
      const deadline = Date.now() + HELLO_TIMEOUT_MS;
      while (!fs.existsSync(ipc)) {
        if (this.#proc !== proc) throw new Error('the compositor ended before it listened (see its log above)');
        if (Date.now() > deadline) throw new Error(`the compositor did not listen within ${HELLO_TIMEOUT_MS} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
      link = await CompositorLink.connect(ipc);
      if (this.#proc !== proc) throw new Error('the compositor ended while the server connected to it');
      this.#link = link;
      this.#wire(link);
      await link.next('hello', Math.max(1, deadline - Date.now()));
    } catch (err) {
      // Never leave a half-started desktop behind: the exit handler restarts with back-off.
      this.#log.error({ err: (err as Error).message, pid: proc.pid }, 'the compositor did not start; killing it');
      link?.close();
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      throw err;
    }
    if (this.#stopping || this.#proc !== proc) return;
    this.#lastPong = this.#lastBeat = Date.now();
    this.#hung = false;
    this.#heartbeat = setInterval(() => this.#beat(link), HEARTBEAT_MS);
    this.#log.info({ pid: proc.pid, socket: path.join(link.hello!.runtimeDir, link.hello!.socket), uid: link.hello!.uid }, 'desktop running');
    // A terminal that waited through a restart gets the new desktop at once.
    if (this.#t) this.#greet(this.#t);
  }

  #wire(link: CompositorLink): void {
    link.autoAck = false;
    link.on('frame', (f) => {
      const t = this.#t;
      // Nobody watching: no acknowledgement, so the compositor runs out of credits and idles.
      if (!t) return;
      // A terminal not yet greeted by this desktop gets nothing of it; its whole picture follows the welcome.
      if (t.link !== link || (t.awaitFull && !f.full)) {
        link.ack(f.seq);
        return;
      }
      if (f.full) {
        t.awaitFull = false;
        // The whole picture supersedes what is in flight, at the compositor too.
        t.sent.clear();
      }
      t.sent.add(f.seq);
      t.peer.send({ type: 'frame', body: f });
    });
    link.on('cursor', (c) => {
      if (this.#t?.link === link) this.#t.peer.send({ type: 'cursor', body: c });
    });
    link.on('pong', () => (this.#lastPong = Date.now()));
    link.on('remote-error', (message) => this.#log.warn({ message }, 'the compositor refused a message'));
    link.on('error', (err) => this.#log.warn({ err: err.message }, 'compositor link error; the desktop is restarted'));
    link.on('close', () => {
      // A link the compositor broke (or that sent garbage) is a desktop we cannot drive: replace it.
      if (this.#link === link && !this.#stopping && this.#proc && this.#proc.exitCode === null) this.#proc.kill('SIGKILL');
    });
  }

  #beat(link: CompositorLink): void {
    const now = Date.now();
    // This process stalled (its own event loop held up): the answers may be unread in the socket, so
    // that time is not the compositor's.
    if (now - this.#lastBeat > 2 * HEARTBEAT_MS) this.#lastPong = now;
    this.#lastBeat = now;
    if (now - this.#lastPong > HEARTBEAT_TIMEOUT_MS) {
      if (this.#hung) return;
      this.#hung = true;
      this.#log.error({ pid: this.#proc?.pid, silentMs: Date.now() - this.#lastPong }, 'the compositor stopped answering; killing it and starting a new desktop');
      this.#proc?.kill('SIGKILL');
      return;
    }
    link.send({ type: 'ping', id: 0 });
  }

  #exited(proc: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#proc !== proc) return;
    this.#proc = null;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
    this.#link?.close();
    this.#link = null;
    if (this.#t) this.#t.link = null;
    if (this.#stopping) return;
    // A desktop that ends at once (a session command that cannot start) backs off.
    if (Date.now() - this.#startedAt >= STABLE_MS) this.#restarts = 0;
    const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** this.#restarts++);
    this.#log.error({ code, signal, restartInMs: delay }, 'the compositor ended; starting a new desktop');
    this.#t?.peer.send({ type: 'error', message: 'your desktop ended; a new one is starting' });
    setTimeout(() => {
      if (this.#stopping) return;
      void this.#spawn().catch((err: Error) => this.#log.error({ err: err.message }, 'could not start a desktop; retrying'));
    }, delay);
  }

  attach(peer: TerminalPeer): void {
    const prev = this.#t;
    if (prev) {
      this.detach(prev.peer);
      prev.peer.close(CloseCode.TakenOver, 'taken over by another terminal');
    }
    const t: Attached = { peer, link: null, display: peer.hello.displays[0]!, sent: new Set(), awaitFull: true };
    this.#t = t;
    this.#log.info({ terminal: peer.hello.terminalId, kind: peer.hello.kind, display: peer.hello.displays[0] }, 'terminal attached');
    this.#greet(t);
  }

  #greet(t: Attached): void {
    const link = this.#link;
    if (!link?.hello) return; // a desktop is starting; #spawn greets when it is up
    t.link = link;
    const d = t.display;
    this.#pendingDisplay = null;
    if (d.width !== this.#display.width || d.height !== this.#display.height || d.refreshMhz !== this.#display.refreshMhz) this.#applyDisplay(d);
    t.peer.send({ type: 'welcome', body: { version: WIRE_VERSION, width: d.width, height: d.height, serverTimeUs: nowUs() } });
    if (link.cursor) t.peer.send({ type: 'cursor', body: link.cursor });
    link.send({ type: 'trace', on: t.peer.hello.trace === true });
    t.awaitFull = true;
    t.sent.clear();
    link.send({ type: 'request-full' });
  }

  detach(peer: TerminalPeer): void {
    if (this.#t?.peer !== peer) return;
    this.#t = null;
    // Whatever that terminal held down is released now, not when the next one comes.
    this.#link?.send({ type: 'release-all' });
    this.#log.info({ terminal: peer.hello.terminalId }, 'terminal detached');
  }

  #applyDisplay(d: Display): void {
    this.#display = d;
    this.#resizeAppliedAt = Date.now();
    this.#link?.send({ type: 'resize', width: d.width, height: d.height, refreshMhz: d.refreshMhz });
  }

  /** The latest size wins; at most one applied per RESIZE_EVERY_MS. */
  #resize(d: Display): void {
    this.#pendingDisplay = d;
    if (this.#resizeTimer) return;
    const wait = this.#resizeAppliedAt + RESIZE_EVERY_MS - Date.now();
    const apply = (): void => {
      this.#resizeTimer = null;
      const p = this.#pendingDisplay;
      this.#pendingDisplay = null;
      if (p && (p.width !== this.#display.width || p.height !== this.#display.height || p.refreshMhz !== this.#display.refreshMhz)) this.#applyDisplay(p);
    };
    if (wait <= 0) apply();
    else this.#resizeTimer = setTimeout(apply, wait);
  }

  fromTerminal(peer: TerminalPeer, m: TerminalMessage): void {
    const t = this.#t;
    if (t?.peer !== peer) return;
    // Kept while no desktop runs: the next one is made at this size.
    if (m.type === 'resize') t.display = m.display;
    const link = t.link;
    if (!link || link !== this.#link) return;
    switch (m.type) {
      case 'key':
      case 'pointer-motion':
      case 'pointer-button':
      case 'pointer-axis':
        link.send(m);
        break;
      case 'frame-ack':
        if (t.sent.delete(m.seq)) link.ack(m.seq);
        break;
      case 'keyframe-request':
        // One whole picture at a time: requests while one is on its way are the same request.
        if (t.awaitFull) break;
        // What is in flight continues the stream the terminal just lost: only the whole picture helps.
        t.awaitFull = true;
        link.send({ type: 'request-full' });
        break;
      case 'resize':
        this.#resize(m.display);
        break;
      default:
        break;
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    if (this.#resizeTimer) clearTimeout(this.#resizeTimer);
    this.#link?.close();
    const proc = this.#proc;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await done;
      clearTimeout(t);
    }
    fs.rmSync(this.#dir, { recursive: true, force: true });
  }
}
