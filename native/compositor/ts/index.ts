// The one typed wrapper over the wlroots compositor binding. Nothing else imports the .node file.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';
import path from 'node:path';
import { MAX_OUTPUT } from '@waydesk/protocol/limits';

export interface CoreOptions {
  /** Socket name inside $XDG_RUNTIME_DIR; empty picks wayland-N. */
  socket?: string;
  width: number;
  height: number;
  refreshMhz: number;
  /** Force the pixman (CPU) renderer; otherwise wlroots picks gles2 where a render node works. */
  pixman: boolean;
  /** Offer an X11 display, served by Xwayland from the first X11 client on ($WLR_XWAYLAND names it). */
  xwayland?: boolean;
}

export const EventType = {
  ToplevelNew: 1,
  ToplevelMap: 2,
  ToplevelUnmap: 3,
  ToplevelDestroy: 4,
  ToplevelTitle: 5,
  ToplevelSize: 6,
  ToplevelRequest: 7,
  Activate: 8,
  LayerCommit: 9,
  LayerMap: 10,
  LayerUnmap: 11,
  LayerDestroy: 12,
  Cursor: 13,
  ToplevelParent: 14,
} as const;


export interface SizeHints {
  minWidth: number;
  minHeight: number;
  maxWidth: number;
  maxHeight: number;
}

export type CoreEvent =
  | { type: 'toplevel-new'; id: number; parent: number; appId: string | null; title: string | null; hints: SizeHints }
  | {
      type: 'toplevel-map';
      id: number;
      parent: number;
      appId: string | null;
      title: string | null;
      width: number;
      height: number;
      hints: SizeHints;
    }
  | { type: 'toplevel-unmap'; id: number }
  | { type: 'toplevel-destroy'; id: number }
  | { type: 'toplevel-title'; id: number; appId: string | null; title: string | null }
  | { type: 'toplevel-size'; id: number; width: number; height: number }
  | { type: 'toplevel-parent'; id: number; parent: number }
  /** close comes from a panel (wlr-foreign-toplevel-management), the others from the window or a panel. */
  | { type: 'toplevel-request'; id: number; request: (typeof requests)[number]; value: number }
  | { type: 'activate'; id: number }
  | {
      type: 'layer-commit';
      id: number;
      namespace: string | null;
      layer: number;
      anchor: number;
      exclusiveZone: number;
      margin: { top: number; right: number; bottom: number; left: number };
      desiredWidth: number;
      desiredHeight: number;
      keyboardInteractive: number;
    }
  | { type: 'layer-map'; id: number }
  | { type: 'layer-unmap'; id: number }
  | { type: 'layer-destroy'; id: number }
  | { type: 'cursor' };

export interface RawFrame {
  seq: number;
  /** CLOCK_MONOTONIC microseconds of the oldest and newest damage coalesced into this frame. */
  firstDamageUs: number;
  captureUs: number;
  /** The first toplevel or layer commit that went into this frame. */
  commitUs: number;
  /** The newest one. */
  commitLastUs: number;
  /** Composing of the newest picture in this frame began. */
  composeUs: number;
  width: number;
  height: number;
  /** x, y, width, height per rectangle; their pixels are in picture(). */
  rects: Int32Array;
}

/** The core's copy of the whole picture (BGRX, stride width*4), in place: read it, do not keep it. */
export interface Picture {
  width: number;
  height: number;
  pixels: Buffer;
}

export interface CursorState {
  /** 0: no client cursor (the terminal draws its default arrow), 1: client image, 2: hidden. */
  mode: 0 | 1 | 2;
  width: number;
  height: number;
  hotspotX: number;
  hotspotY: number;
  x: number;
  y: number;
  /** Premultiplied ARGB8888 (BGRA bytes), or null. */
  pixels: Buffer | null;
}

export interface CoreStats {
  framesCaptured: number;
  framesUnchanged: number;
  lastRenderUs: number;
  lastCaptureUs: number;
  totalRenderUs: number;
  totalCaptureUs: number;
  damagePxReported: number;
  damagePxRefined: number;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

interface RawEvent {
  type: number;
  id: number;
  parent: number;
  i: Int32Array;
  s0: string | null;
  s1: string | null;
}

interface Binding {
  close(): void;
  socket(): string;
  renderer(): string;
  xwaylandDisplay(): string | null;
  nextEvents(): RawEvent[];
  outputMode(): { width: number; height: number; refreshMhz: number };
  setOutputMode(w: number, h: number, refreshMhz: number): boolean;
  configure(id: number, w: number, h: number, maximized: boolean, fullscreen: boolean): boolean;
  setPosition(id: number, x: number, y: number): boolean;
  setToplevelDefault(w: number, h: number): void;
  raise(id: number): boolean;
  setMinimized(id: number, minimized: boolean): boolean;
  closeView(id: number): boolean;
  focus(id: number): boolean;
  viewAt(x: number, y: number): number;
  geometry(id: number): Rect | null;
  configureLayer(id: number, x: number, y: number, w: number, h: number): boolean;
  setKeymap(rules: string, model: string, layout: string, variant: string, options: string): boolean;
  key(code: number, pressed: boolean, timeMs: number): { syms: number[]; mods: number };
  keyForward(code: number, pressed: boolean, timeMs: number): void;
  pointerMotion(x: number, y: number, timeMs: number): void;
  pointerButton(button: number, pressed: boolean, timeMs: number): void;
  pointerAxis(horizontal: boolean, delta: number, discrete: number, timeMs: number): void;
  cursor(): CursorState;
  setPaused(paused: boolean): void;
  releasePicture(): void;
  restorePicture(): boolean;
  takeFrame(): RawFrame | null;
  picture(): Picture | null;
  stats(): CoreStats;
}

type BindingCtor = new (options: CoreOptions & { maxWidth: number; maxHeight: number }, onWake: (frame: boolean) => void) => Binding;

const here = path.dirname(fileURLToPath(import.meta.url));
interface RawModule {
  Compositor: BindingCtor;
  peerCredentials(fd: number): PeerCredentials;
  exitWithParent(parentPid: number): boolean;
}
let mod: RawModule | undefined;

function loadModule(): RawModule {
  if (mod) return mod;
  const require = createRequire(import.meta.url);
  const file = path.join(here, '..', 'build', 'Release', 'waydesk_compositor.node');
  try {
    mod = require(file) as RawModule;
  } catch (err) {
    throw new Error(
      `cannot load the compositor addon (${file}): ${(err as Error).message}. ` +
        'Build it with `npm run build` (needs libwlroots-dev; see book/src/install.md).',
    );
  }
  return mod;
}

function loadBinding(): BindingCtor {
  return loadModule().Compositor;
}

/** Who is at the other end of a connected Unix socket, as the kernel saw it connect. */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** The kernel's record of a Unix socket's peer (SO_PEERCRED). Throws for a socket without a descriptor. */
export function peerCredentials(sock: Socket): PeerCredentials {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the socket has no file descriptor to ask the kernel about');
  return loadModule().peerCredentials(fd);
}

/**
 * Asks the kernel for SIGTERM when `parentPid` (this process's parent) ends, so a desktop never
 * runs on unsupervised. Returns false if the parent is already gone.
 */
export function exitWithParent(parentPid: number): boolean {
  return loadModule().exitWithParent(parentPid);
}

const requests = ['maximize', 'fullscreen', 'minimize', 'move', 'resize', 'close'] as const;

function hints(i: Int32Array): SizeHints {
  return { minWidth: i[4] ?? 0, minHeight: i[5] ?? 0, maxWidth: i[6] ?? 0, maxHeight: i[7] ?? 0 };
}

function convert(e: RawEvent): CoreEvent | null {
  const i = e.i;
  const n = (k: number): number => i[k] ?? 0;
  switch (e.type) {
    case EventType.ToplevelNew:
      return { type: 'toplevel-new', id: e.id, parent: e.parent, appId: e.s0, title: e.s1, hints: hints(i) };
    case EventType.ToplevelMap:
      return {
        type: 'toplevel-map',
        id: e.id,
        parent: e.parent,
        appId: e.s0,
        title: e.s1,
        width: n(2),
        height: n(3),
        hints: hints(i),
      };
    case EventType.ToplevelUnmap:
      return { type: 'toplevel-unmap', id: e.id };
    case EventType.ToplevelDestroy:
      return { type: 'toplevel-destroy', id: e.id };
    case EventType.ToplevelTitle:
      return { type: 'toplevel-title', id: e.id, appId: e.s0, title: e.s1 };
    case EventType.ToplevelParent:
      return { type: 'toplevel-parent', id: e.id, parent: e.parent };
    case EventType.ToplevelSize:
      return { type: 'toplevel-size', id: e.id, width: n(0), height: n(1) };
    case EventType.ToplevelRequest: {
      const request = requests[n(0) - 1];
      return request ? { type: 'toplevel-request', id: e.id, request, value: n(1) } : null;
    }
    case EventType.Activate:
      return { type: 'activate', id: e.id };
    case EventType.LayerCommit:
      return {
        type: 'layer-commit',
        id: e.id,
        namespace: e.s0,
        layer: n(0),
        anchor: n(1),
        exclusiveZone: n(2),
        margin: { top: n(3), right: n(4), bottom: n(5), left: n(6) },
        desiredWidth: n(7),
        desiredHeight: n(8),
        keyboardInteractive: n(9),
      };
    case EventType.LayerMap:
      return { type: 'layer-map', id: e.id };
    case EventType.LayerUnmap:
      return { type: 'layer-unmap', id: e.id };
    case EventType.LayerDestroy:
      return { type: 'layer-destroy', id: e.id };
    case EventType.Cursor:
      return { type: 'cursor' };
    default:
      return null;
  }
}

/**
 * A running wlroots compositor inside this Node process. Events and frames are delivered
 * through `onWake` after the Wayland event loop was dispatched, never from inside wlroots.
 */
export class CompositorCore {
  readonly #b: Binding;
  #closed = false;

  constructor(options: CoreOptions, onWake: (core: CompositorCore, frameReady: boolean) => void) {
    const Ctor = loadBinding();
    this.#b = new Ctor({ ...options, maxWidth: MAX_OUTPUT.width, maxHeight: MAX_OUTPUT.height }, (frame) => onWake(this, frame));
  }

  get socket(): string {
    return this.#b.socket();
  }
  get renderer(): string {
    return this.#b.renderer();
  }
  /** The X11 display (":1") when Xwayland is offered, else null. */
  get xwaylandDisplay(): string | null {
    return this.#b.xwaylandDisplay();
  }
  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#b.close();
  }

  events(): CoreEvent[] {
    const out: CoreEvent[] = [];
    for (const raw of this.#b.nextEvents()) {
      const e = convert(raw);
      if (e) out.push(e);
    }
    return out;
  }

  outputMode(): { width: number; height: number; refreshMhz: number } {
    return this.#b.outputMode();
  }
  setOutputMode(width: number, height: number, refreshMhz: number): boolean {
    return this.#b.setOutputMode(width, height, refreshMhz);
  }
  configure(id: number, width: number, height: number, state: { maximized?: boolean; fullscreen?: boolean } = {}): boolean {
    return this.#b.configure(id, width, height, state.maximized ?? false, state.fullscreen ?? false);
  }
  setPosition(id: number, x: number, y: number): boolean {
    return this.#b.setPosition(id, x, y);
  }
  /** The size new ordinary windows are maximized to in their first configure (see core.h). */
  setToplevelDefault(width: number, height: number): void {
    this.#b.setToplevelDefault(width, height);
  }
  raise(id: number): boolean {
    return this.#b.raise(id);
  }
  /** Hides (or shows again) a window and its popups; panels' lists say it is minimized. */
  setMinimized(id: number, minimized: boolean): boolean {
    return this.#b.setMinimized(id, minimized);
  }
  closeView(id: number): boolean {
    return this.#b.closeView(id);
  }
  focus(id: number): boolean {
    return this.#b.focus(id);
  }
  viewAt(x: number, y: number): number {
    return this.#b.viewAt(x, y);
  }
  geometry(id: number): Rect | null {
    return this.#b.geometry(id);
  }
  configureLayer(id: number, rect: Rect): boolean {
    return this.#b.configureLayer(id, rect.x, rect.y, rect.width, rect.height);
  }
  setKeymap(k: { rules?: string; model?: string; layout?: string; variant?: string; options?: string }): boolean {
    return this.#b.setKeymap(k.rules ?? '', k.model ?? '', k.layout ?? '', k.variant ?? '', k.options ?? '');
  }
  /** Updates keyboard state; returns what the key means so policy can match bindings. */
  key(code: number, pressed: boolean, timeMs: number): { syms: number[]; mods: number } {
    return this.#b.key(code, pressed, timeMs);
  }
  keyForward(code: number, pressed: boolean, timeMs: number): void {
    this.#b.keyForward(code, pressed, timeMs);
  }
  pointerMotion(x: number, y: number, timeMs: number): void {
    this.#b.pointerMotion(x, y, timeMs);
  }
  pointerButton(button: number, pressed: boolean, timeMs: number): void {
    this.#b.pointerButton(button, pressed, timeMs);
  }
  pointerAxis(horizontal: boolean, delta: number, discrete: number, timeMs: number): void {
    this.#b.pointerAxis(horizontal, delta, discrete, timeMs);
  }
  cursor(): CursorState {
    return this.#b.cursor();
  }
  setPaused(paused: boolean): void {
    this.#b.setPaused(paused);
  }
  /**
   * Nobody looks at the picture: its CPU copy and the output's render buffers go (about three
   * pictures' worth), until restorePicture, which has the whole picture drawn again at the next
   * frame (takeFrame then returns all of it). picture() throws in between.
   */
  releasePicture(): void {
    this.#b.releasePicture();
  }
  get hasPicture(): boolean {
    return this.#b.picture() !== null;
  }
  restorePicture(): boolean {
    return this.#b.restorePicture();
  }
  takeFrame(): RawFrame | null {
    return this.#b.takeFrame();
  }
  /**
   * The core's copy of the whole picture, updated in place inside the damage of every captured
   * frame: what takeFrame's rectangles refer to. After a resize it is a new Buffer (the old one
   * stays valid memory but is no longer updated), so fetch it again rather than keeping it.
   */
  picture(): Picture {
    const p = this.#b.picture();
    if (!p) throw new Error('the compositor has no picture (closed, or out of memory at the last resize)');
    return p;
  }
  stats(): CoreStats {
    return this.#b.stats();
  }
}

/** xkb modifier bits as wlroots reports them (enum wlr_keyboard_modifier). */
export const Modifier = { Shift: 1, Caps: 2, Ctrl: 4, Alt: 8, Mod2: 16, Mod3: 32, Logo: 64, Mod5: 128 } as const;

/** Loads the addon now, e.g. before dropping root makes the file unreadable. */
export function preloadCompositorBinding(): void {
  loadBinding();
}
