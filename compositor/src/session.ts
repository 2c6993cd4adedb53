import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { CompositorCore, type CursorState } from '@waydesk/native-compositor';
import { IPC_VERSION, type CursorMsg, type KeymapMsg, type ParentMessage } from '@waydesk/protocol/compositor-ipc';
import { FrameLink } from './frame-link.js';
import { InputRouter } from './input.js';
import type { Logger } from './log.js';
import type { UserEntry } from './user-session.js';
import { WindowManager } from './window-manager.js';
import { DEFAULT_ENCODER, StreamEncoder } from './stream-encoder.js';

export interface SessionOptions {
  width: number;
  height: number;
  refreshHz: number;
  socket?: string;
  pixman: boolean;
  keymap: KeymapMsg;
  command: string[];
  runtimeDir: string;
  /** The X11 cookie file (x11-display.ts): given, X11 programs get a display through Xwayland. */
  xauthority: string | null;
  user: UserEntry | null;
  /** A managed session stops composing while no parent is attached (a detached desktop). */
  pauseWhenDetached: boolean;
  log: Logger;
}

function cursorMsg(c: CursorState): CursorMsg {
  return { mode: c.mode, width: c.width, height: c.height, hotspotX: c.hotspotX, hotspotY: c.hotspotY, pixels: c.pixels };
}

/**
 * One user's desktop: the wlroots core, window policy, input policy, the session command,
 * and at most one parent link that frames go to.
 */
export class CompositorSession extends EventEmitter {
  readonly core: CompositorCore;
  readonly wm: WindowManager;
  readonly input: InputRouter;
  readonly #opts: SessionOptions;
  readonly #log: Logger;
  #link: FrameLink | null = null;
  #child: ChildProcess | null = null;
  readonly #encoder: StreamEncoder;

  constructor(opts: SessionOptions) {
    super();
    this.#opts = opts;
    this.#log = opts.log;
    process.env.XDG_RUNTIME_DIR = opts.runtimeDir;
    this.core = new CompositorCore(
      {
        socket: opts.socket,
        width: opts.width,
        height: opts.height,
        refreshMhz: Math.round(opts.refreshHz * 1000),
        pixman: opts.pixman,
        xwayland: opts.xauthority !== null,
      },
      () => this.#wake(),
    );
    this.wm = new WindowManager(this.core, this.#log);
    this.#encoder = new StreamEncoder(opts.width, opts.height, { ...DEFAULT_ENCODER, fps: opts.refreshHz }, this.#log);
    this.input = new InputRouter(this.core, this.wm, this.#log);
    if (!this.setKeymap(opts.keymap)) throw new Error(`unknown keyboard layout ${JSON.stringify(opts.keymap)}`);
    this.core.setPaused(opts.pauseWhenDetached);
  }

  get socketPath(): string {
    return `${this.#opts.runtimeDir}/${this.core.socket}`;
  }

  get attached(): boolean {
    return this.#link !== null;
  }

  setKeymap(k: KeymapMsg): boolean {
    return this.core.setKeymap({ layout: k.layout, variant: k.variant, model: k.model, options: k.options });
  }

  #wake(): void {
    if (this.core.closed) return;
    let cursorChanged = false;
    for (const e of this.core.events()) {
      if (e.type === 'cursor') cursorChanged = true;
      else this.wm.handle(e);
    }
    if (this.#link) {
      if (cursorChanged) this.#link.send({ type: 'cursor', body: cursorMsg(this.core.cursor()) });
      this.#sendWindowsIfChanged(this.#link);
      this.#link.pump();
    } else {
      this.wm.takeChanged();
      // Standalone: nobody consumes frames; drop them so damage does not pile up.
      this.core.takeFrame();
    }
  }

  /** A parent attaches (the first, or a new one after the previous went away). */
  attach(stream: Duplex): void {
    if (this.#link) {
      this.#log.info('a new parent replaces the attached one');
      this.#link.close();
    }
    const link = new FrameLink(stream, this.core, this.#encoder, this.#log);
    this.#link = link;
    link.onMessage = (m) => this.#onParent(m, link);
    link.onClose = () => {
      if (this.#link !== link) return;
      this.#link = null;
      // Whoever was typing is gone: release everything they held.
      this.input.releaseAll();
      this.core.setPaused(this.#opts.pauseWhenDetached);
      this.#log.info('parent detached');
      this.emit('detached');
    };
    const m = this.core.outputMode();
    link.start(
      {
        version: IPC_VERSION,
        pid: process.pid,
        socket: this.core.socket,
        runtimeDir: this.#opts.runtimeDir,
        width: m.width,
        height: m.height,
        refreshMhz: m.refreshMhz,
        renderer: this.core.renderer,
        uid: process.getuid?.() ?? -1,
      },
      this.wm.windows(),
      cursorMsg(this.core.cursor()),
    );
    link.pump();
    this.#log.info('parent attached');
  }

  #sendWindowsIfChanged(link: FrameLink): void {
    if (this.wm.takeChanged()) link.send({ type: 'windows', body: { windows: this.wm.windows() } });
  }

  #onParent(m: ParentMessage, link: FrameLink): void {
    this.#handleParent(m, link);
    // Input can change focus or close windows without any client event following.
    this.#sendWindowsIfChanged(link);
  }

  #handleParent(m: ParentMessage, link: FrameLink): void {
    switch (m.type) {
      case 'key':
        this.input.key(m.code, m.pressed);
        break;
      case 'pointer-motion':
        this.input.pointerMotion(m.x, m.y);
        break;
      case 'pointer-button':
        this.input.pointerButton(m.button, m.pressed);
        break;
      case 'pointer-axis':
        this.input.pointerAxis(m.horizontal, m.delta, m.discrete);
        break;
      case 'detached':
        this.input.releaseAll();
        this.#link?.detached();
        break;
      case 'resize':
        this.resize(m.width, m.height, m.refreshMhz / 1000);
        break;
      case 'keymap':
        if (!this.setKeymap(m.keymap)) link.send({ type: 'error', body: { message: `unknown keyboard layout ${JSON.stringify(m.keymap)}` } });
        break;
      case 'request-stats': {
        const s = this.core.stats();
        const cpu = process.cpuUsage();
        link.send({
          type: 'stats',
          body: {
            ...s,
            ...link.encodeStats,
            encoder: this.#encoder.encoderName,
            framesSent: link.framesSent,
            bytesSent: link.bytesSent,
            cpuUserUs: cpu.user,
            cpuSystemUs: cpu.system,
            rssBytes: process.memoryUsage.rss(),
          },
        });
        break;
      }
      case 'error':
        this.#log.warn({ message: m.body.message }, 'parent reported an error');
        break;
      case 'frame-ack':
      case 'trace':
      case 'ping':
      case 'request-full':
        break; // the frame link handles these
    }
  }

  resize(width: number, height: number, refreshHz: number): boolean {
    const ok = this.core.setOutputMode(width, height, Math.round(refreshHz * 1000));
    if (!ok) {
      this.#log.warn({ width, height, refreshHz }, 'output mode rejected');
      return false;
    }
    this.wm.outputResized();
    this.#log.info({ width, height, refreshHz }, 'output resized');
    return true;
  }

  /** Starts the session command as this (already unprivileged) process's user. */
  spawnCommand(): ChildProcess | null {
    const cmd = this.#opts.command;
    if (cmd.length === 0) return null;
    const u = this.#opts.user;
    const base: NodeJS.ProcessEnv = u
      ? {
          HOME: u.home,
          USER: u.name,
          LOGNAME: u.name,
          SHELL: u.shell,
          PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
          LANG: process.env.LANG ?? 'C.UTF-8',
        }
      : { ...process.env };
    delete base.DISPLAY;
    delete base.XAUTHORITY;
    // the compositor's own, for the Xwayland it starts
    delete base.WLR_XWAYLAND;
    delete base.WAYDESK_XWAYLAND;
    delete base.WAYDESK_XAUTHORITY;
    const env: NodeJS.ProcessEnv = {
      ...base,
      XDG_RUNTIME_DIR: this.#opts.runtimeDir,
      WAYLAND_DISPLAY: this.core.socket,
      XDG_SESSION_TYPE: 'wayland',
      XDG_CURRENT_DESKTOP: 'waydesk',
    };
    const x11 = this.core.xwaylandDisplay;
    if (x11 && this.#opts.xauthority) {
      env.DISPLAY = x11;
      env.XAUTHORITY = this.#opts.xauthority;
    }
    const [file, ...args] = cmd as [string, ...string[]];
    const child = spawn(file, args, { env, cwd: u?.home ?? process.cwd(), stdio: ['ignore', 2, 2] });
    this.#child = child;
    child.on('error', (err) => {
      this.#log.error({ command: cmd, err: err.message }, 'session command could not start: check that it is installed and on PATH');
      this.emit('command-exit', 127, null);
    });
    child.on('exit', (code, signal) => {
      this.#child = null;
      const level = code === 0 ? 'info' : 'warn';
      this.#log[level]({ command: cmd, code, signal }, signal ? `session command killed by ${signal}` : 'session command exited');
      this.emit('command-exit', code, signal);
    });
    this.#log.info({ command: cmd, pid: child.pid }, 'session command started');
    return child;
  }

  get childPid(): number | undefined {
    return this.#child?.pid;
  }

  async close(): Promise<void> {
    this.#link?.close();
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    }
    this.core.close();
    this.#encoder.close();
  }
}
