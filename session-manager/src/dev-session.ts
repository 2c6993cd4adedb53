import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { CompositorLink } from '@waydesk/compositor/ipc-client';
import { WIRE_VERSION, type Display, type HelloBody, type ServerMessage, type TerminalMessage } from '@waydesk/protocol/wire';
import type { Logger } from './log.js';

/** What the terminal endpoint hands a session: one connected, greeted terminal. */
export interface TerminalPeer {
  readonly hello: HelloBody;
  send(m: ServerMessage): void;
  close(reason: string): void;
}

const compositorBin = path.join(
  path.dirname(createRequire(import.meta.url).resolve('@waydesk/compositor/package.json')),
  'bin',
  'waydesk-compositor.js',
);

function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * Development mode: one desktop, one terminal at a time, no login. The compositor runs as
 * a child process; this relays its frames to the attached terminal and the terminal's input
 * back. The terminal's frame acknowledgements are the compositor's credits, so when the
 * network is slow the compositor coalesces at the source instead of anything queueing here.
 */
export class DevSession {
  readonly #log: Logger;
  readonly #command: string[];
  #display: Display;
  #dir = '';
  #proc: ChildProcess | null = null;
  #link: CompositorLink | null = null;
  #peer: TerminalPeer | null = null;
  /** Frames encoded before the peer's full picture continue a stream it never saw: skip them. */
  #awaitFull = false;
  #stopping = false;
  #restarts = 0;

  constructor(opts: { command: string[]; display: Display; log: Logger }) {
    this.#command = opts.command;
    this.#display = opts.display;
    this.#log = opts.log;
  }

  get compositorPid(): number | undefined {
    return this.#proc?.pid;
  }

  get socket(): { runtimeDir: string; name: string } | null {
    const h = this.#link?.hello;
    return h ? { runtimeDir: h.runtimeDir, name: h.socket } : null;
  }

  async start(): Promise<void> {
    this.#dir = fs.mkdtempSync(path.join(os.tmpdir(), 'waydesk-dev-'));
    fs.chmodSync(this.#dir, 0o700);
    await this.#spawn();
  }

  async #spawn(): Promise<void> {
    const ipc = path.join(this.#dir, 'compositor.sock');
    // A crashed compositor leaves its socket file behind: wait for the new one, not the old.
    fs.rmSync(ipc, { force: true });
    const runtimeDir = path.join(this.#dir, 'run');
    fs.mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
    const d = this.#display;
    const args = [compositorBin, '--ipc', ipc, '--size', `${d.width}x${d.height}`, '--refresh', String(d.refreshMhz / 1000), '--', ...this.#command];
    const proc = spawn(process.execPath, args, { env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir }, stdio: ['ignore', 'ignore', 'inherit'] });
    this.#proc = proc;
    proc.on('exit', (code, signal) => {
      if (this.#proc !== proc) return;
      this.#proc = null;
      this.#link?.close();
      this.#link = null;
      if (this.#stopping) return;
      this.#log.error({ code, signal }, 'the compositor ended; starting a new desktop');
      this.#peer?.send({ type: 'error', message: 'your desktop ended; a new one is starting' });
      const delay = Math.min(30_000, 500 * 2 ** this.#restarts++);
      const restart = (): void =>
        void this.#spawn().catch((err: Error) => {
          this.#log.error({ err: err.message }, 'could not restart the compositor; trying again');
          setTimeout(restart, Math.min(30_000, 500 * 2 ** this.#restarts++));
        });
      setTimeout(restart, delay);
    });
    let link: CompositorLink;
    try {
      const deadline = Date.now() + 15_000;
      while (!fs.existsSync(ipc)) {
        if (proc.exitCode !== null || Date.now() > deadline) throw new Error('the compositor did not start (see its log above)');
        await new Promise((r) => setTimeout(r, 20));
      }
      link = await CompositorLink.connect(ipc, { paint: false });
    } catch (err) {
      // never leave a half-started desktop behind
      if (this.#proc === proc) this.#proc = null;
      proc.kill('SIGKILL');
      throw err;
    }
    link.autoAck = false;
    this.#link = link;
    link.on('frame', (f) => {
      if (this.#peer && this.#awaitFull && !f.full) {
        link.ack(f.seq);
        return;
      }
      this.#awaitFull = false;
      this.#peer?.send({ type: 'frame', body: f });
    });
    link.on('cursor', (c) => this.#peer?.send({ type: 'cursor', body: c }));
    link.on('remote-error', (message) => this.#log.warn({ message }, 'the compositor refused a message'));
    link.on('error', (err) => this.#log.warn({ err: err.message }, 'compositor link error'));
    await link.next('hello');
    this.#restarts = 0;
    this.#log.info({ pid: proc.pid, socket: path.join(link.hello!.runtimeDir, link.hello!.socket) }, 'desktop running');
    // A terminal that waited through a restart gets the new desktop at once.
    if (this.#peer) this.#greet(this.#peer);
  }

  attach(peer: TerminalPeer): void {
    if (this.#peer) {
      this.#peer.close('another terminal took this desktop');
      this.detach(this.#peer);
    }
    this.#peer = peer;
    this.#log.info({ terminal: peer.hello.terminalId, kind: peer.hello.kind, display: peer.hello.displays[0] }, 'terminal attached');
    this.#greet(peer);
  }

  #greet(peer: TerminalPeer): void {
    const link = this.#link;
    if (!link) return; // a desktop is starting; #spawn greets when it is up
    const d = peer.hello.displays[0]!;
    if (d.width !== this.#display.width || d.height !== this.#display.height || d.refreshMhz !== this.#display.refreshMhz) {
      this.#display = d;
      link.send({ type: 'resize', width: d.width, height: d.height, refreshMhz: d.refreshMhz });
    }
    peer.send({ type: 'welcome', body: { version: WIRE_VERSION, width: d.width, height: d.height, serverTimeUs: nowUs() } });
    if (link.cursor) peer.send({ type: 'cursor', body: link.cursor });
    link.send({ type: 'trace', on: peer.hello.trace === true });
    this.#awaitFull = true;
    link.send({ type: 'request-full' });
  }

  detach(peer: TerminalPeer): void {
    if (this.#peer !== peer) return;
    this.#peer = null;
    // Whatever that terminal held down is released now, not when the next one comes.
    this.#link?.send({ type: 'release-all' });
    this.#log.info({ terminal: peer.hello.terminalId }, 'terminal detached');
  }

  fromTerminal(peer: TerminalPeer, m: TerminalMessage): void {
    if (this.#peer !== peer || !this.#link) return;
    const link = this.#link;
    switch (m.type) {
      case 'key':
      case 'pointer-motion':
      case 'pointer-button':
      case 'pointer-axis':
        link.send(m);
        break;
      case 'frame-ack':
        link.ack(m.seq);
        break;
      case 'keyframe-request':
        // What is in flight continues the stream the terminal just lost: only the whole picture helps.
        this.#awaitFull = true;
        link.send({ type: 'request-full' });
        break;
      case 'resize':
        this.#display = m.display;
        link.send({ type: 'resize', width: m.display.width, height: m.display.height, refreshMhz: m.display.refreshMhz });
        break;
      default:
        break;
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#link?.close();
    const proc = this.#proc;
    if (proc && proc.exitCode === null) {
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await done;
      clearTimeout(t);
    }
    fs.rmSync(this.#dir, { recursive: true, force: true });
  }
}
