import type { CompositorCore, CoreEvent, Rect, SizeHints } from '@waydesk/native-compositor';
import { MAX_NAME, type WindowInfo } from '@waydesk/protocol/compositor-ipc';
import { arrangeLayers, type LayerSpec } from './layer-layout.js';
import type { Logger } from './log.js';

interface View {
  id: number;
  appId: string | null;
  title: string | null;
  parent: number;
  hints: SizeHints;
  mapped: boolean;
  floating: boolean;
  fullscreen: boolean;
  minimized: boolean;
  x: number;
  y: number;
  width: number;
  height: number;
}

interface Layer extends LayerSpec {
  mapped: boolean;
  keyboardInteractive: number;
}

const LAYER_TOP = 2;
const KEYBOARD_EXCLUSIVE = 1;

/**
 * Window management policy for a thin-client desktop: every ordinary window is maximized
 * to the area panels leave; dialogs and fixed-size windows float, centred on their parent;
 * click focuses; Alt+Tab cycles most-recently-used; a resize of the output reconfigures all.
 */
export class WindowManager {
  readonly #core: CompositorCore;
  readonly #log: Logger;
  readonly #views = new Map<number, View>();
  readonly #layers = new Map<number, Layer>();
  /** Most recently focused first. */
  #mru: number[] = [];
  #focused = 0;
  #usable: Rect;
  #cycling: number[] | null = null;
  #cycleIndex = 0;
  #changed = false;

  constructor(core: CompositorCore, log: Logger) {
    this.#core = core;
    this.#log = log;
    const m = core.outputMode();
    this.#usable = { x: 0, y: 0, width: m.width, height: m.height };
    core.setToplevelDefault(m.width, m.height);
  }

  /** True once since the last call if the window list a parent would show changed. */
  takeChanged(): boolean {
    const c = this.#changed;
    this.#changed = false;
    return c;
  }

  get focused(): number {
    return this.#focused;
  }

  windows(): WindowInfo[] {
    const out: WindowInfo[] = [];
    for (const v of this.#views.values()) {
      if (!v.mapped) continue;
      out.push({
        id: v.id,
        // A client may name itself at any length; the link carries a bounded name.
        appId: v.appId?.slice(0, MAX_NAME) ?? null,
        title: v.title?.slice(0, MAX_NAME) ?? null,
        focused: v.id === this.#focused,
        floating: v.floating,
        minimized: v.minimized,
        x: v.x,
        y: v.y,
        width: v.width,
        height: v.height,
      });
    }
    return out;
  }

  handle(e: CoreEvent): void {
    switch (e.type) {
      case 'toplevel-new': {
        const v: View = {
          id: e.id,
          appId: e.appId,
          title: e.title,
          parent: e.parent,
          hints: e.hints,
          mapped: false,
          floating: false,
          fullscreen: false,
          minimized: false,
          x: 0,
          y: 0,
          width: 0,
          height: 0,
        };
        v.floating = this.#wantsFloating(v);
        this.#views.set(v.id, v);
        this.#configure(v);
        break;
      }
      case 'toplevel-map': {
        const v = this.#views.get(e.id);
        if (!v) return;
        v.mapped = true;
        if (v.minimized) {
          // shown again by the client itself (an X11 window mapped anew)
          v.minimized = false;
          this.#core.setMinimized(v.id, false);
        }
        v.appId = e.appId;
        v.title = e.title;
        v.parent = e.parent;
        v.hints = e.hints;
        v.width = e.width;
        v.height = e.height;
        const floating = this.#wantsFloating(v);
        if (floating !== v.floating) {
          v.floating = floating;
          this.#configure(v);
        }
        this.#place(v);
        this.#log.info({ id: v.id, appId: v.appId, floating: v.floating, width: v.width, height: v.height }, 'window opened');
        this.focus(v.id);
        break;
      }
      case 'toplevel-size': {
        const v = this.#views.get(e.id);
        if (!v) return;
        v.width = e.width;
        v.height = e.height;
        if (v.floating) this.#place(v);
        this.#changed = true;
        break;
      }
      case 'toplevel-parent': {
        // Toolkits (GTK, weston's) may name the parent only after the window is on screen.
        const v = this.#views.get(e.id);
        if (!v) return;
        v.parent = e.parent;
        const floating = this.#wantsFloating(v);
        if (floating !== v.floating) {
          v.floating = floating;
          this.#configure(v);
          if (v.mapped) this.#place(v);
        }
        this.#changed = true;
        break;
      }
      case 'toplevel-title': {
        const v = this.#views.get(e.id);
        if (!v) return;
        v.appId = e.appId;
        v.title = e.title;
        this.#changed = true;
        break;
      }
      case 'toplevel-unmap':
      case 'toplevel-destroy': {
        const v = this.#views.get(e.id);
        if (!v) return;
        if (e.type === 'toplevel-destroy') this.#views.delete(e.id);
        else v.mapped = false;
        this.#mru = this.#mru.filter((id) => id !== e.id);
        if (this.#cycling) this.#cycling = this.#cycling.filter((id) => id !== e.id);
        if (this.#focused === e.id) {
          this.#focused = 0;
          const parent = this.#views.get(v.parent);
          this.focus(parent?.mapped ? parent.id : this.#topmost());
        }
        if (e.type === 'toplevel-unmap') this.#log.info({ id: v.id, appId: v.appId }, 'window closed');
        this.#changed = true;
        break;
      }
      case 'toplevel-request': {
        const v = this.#views.get(e.id);
        if (!v) return;
        if (e.request === 'fullscreen') {
          v.fullscreen = e.value !== 0;
          this.#configure(v);
          if (v.mapped) this.#place(v);
        } else if (e.request === 'maximize') {
          // Already as large as the desktop allows; xdg-shell still wants a configure in reply.
          this.#configure(v);
        } else if (e.request === 'minimize') {
          // the window's own button or a panel's; a panel's "unminimize" brings it back
          if (e.value !== 0) this.#minimize(v);
          else if (v.minimized) this.focus(v.id);
        } else if (e.request === 'close') {
          // a panel's close button: the window is asked, as its own close button would (it may ask to save first)
          this.#log.info({ id: v.id, appId: v.appId }, 'a panel asked a window to close');
          this.#core.closeView(v.id);
        }
        break;
      }
      case 'activate':
        if (this.#views.get(e.id)?.mapped) this.focus(e.id);
        break;
      case 'layer-commit': {
        const prev = this.#layers.get(e.id);
        this.#layers.set(e.id, {
          id: e.id,
          layer: e.layer,
          anchor: e.anchor,
          exclusiveZone: e.exclusiveZone,
          margin: e.margin,
          desiredWidth: e.desiredWidth,
          desiredHeight: e.desiredHeight,
          keyboardInteractive: e.keyboardInteractive,
          mapped: prev?.mapped ?? false,
        });
        this.arrange();
        break;
      }
      case 'layer-map': {
        const l = this.#layers.get(e.id);
        if (!l) return;
        l.mapped = true;
        if (l.keyboardInteractive === KEYBOARD_EXCLUSIVE && l.layer >= LAYER_TOP) this.#core.focus(l.id);
        break;
      }
      case 'layer-unmap':
      case 'layer-destroy': {
        const l = this.#layers.get(e.id);
        if (!l) return;
        if (e.type === 'layer-destroy') this.#layers.delete(e.id);
        else l.mapped = false;
        if (l.keyboardInteractive === KEYBOARD_EXCLUSIVE) {
          const f = this.#focused;
          this.#focused = 0;
          this.focus(f || this.#topmost());
        }
        this.arrange();
        break;
      }
      case 'cursor':
        break;
    }
  }

  /** Lays out panels and, if the area they leave changed, every maximized window. */
  arrange(): void {
    const m = this.#core.outputMode();
    const output = { x: 0, y: 0, width: m.width, height: m.height };
    const { boxes, usable } = arrangeLayers(output, [...this.#layers.values()]);
    for (const [id, box] of boxes) this.#core.configureLayer(id, box);
    const changed =
      usable.x !== this.#usable.x ||
      usable.y !== this.#usable.y ||
      usable.width !== this.#usable.width ||
      usable.height !== this.#usable.height;
    this.#usable = usable;
    if (!changed) return;
    this.#core.setToplevelDefault(usable.width, usable.height);
    for (const v of this.#views.values()) {
      if (v.floating && !v.fullscreen) {
        if (v.mapped) this.#place(v);
        continue;
      }
      this.#configure(v);
      if (v.mapped) this.#place(v);
    }
  }

  /** The output changed size (a terminal with another screen attached). */
  outputResized(): void {
    // Force re-configuration even if panels leave the same relative area.
    this.#usable = { x: -1, y: -1, width: 0, height: 0 };
    this.arrange();
  }

  focus(id: number): void {
    const v = id ? this.#views.get(id) : undefined;
    if (id && !v?.mapped) return;
    // An exclusive launcher or lock surface keeps the keyboard until it goes away.
    for (const l of this.#layers.values()) {
      if (l.mapped && l.keyboardInteractive === KEYBOARD_EXCLUSIVE && l.layer >= LAYER_TOP) {
        this.#focused = id;
        return;
      }
    }
    if (v?.minimized) {
      v.minimized = false;
      this.#core.setMinimized(v.id, false);
      this.#log.info({ id: v.id, appId: v.appId }, 'window restored');
    }
    this.#focused = id;
    if (v) {
      this.#core.raise(v.id);
      // Dialogs stay above the window they belong to.
      for (const child of this.#views.values()) {
        if (child.parent === v.id && child.mapped) this.#core.raise(child.id);
      }
      if (!this.#cycling) this.#mru = [v.id, ...this.#mru.filter((x) => x !== v.id)];
    }
    this.#core.focus(id);
    this.#changed = true;
  }

  /** Click-to-focus: a press on a window focuses and raises it; on a panel, only if it asks. */
  pointerPressed(x: number, y: number): void {
    const id = this.#core.viewAt(x, y);
    if (!id) return;
    if (this.#views.has(id)) {
      if (id !== this.#focused) this.focus(id);
      return;
    }
    const l = this.#layers.get(id);
    if (l && l.keyboardInteractive !== 0) this.#core.focus(id);
  }

  /** Alt+Tab (backwards with Shift): walk the MRU list while Alt is held. */
  cycle(backwards: boolean): void {
    if (!this.#cycling) {
      this.#cycling = this.#mru.filter((id) => this.#views.get(id)?.mapped);
      this.#cycleIndex = 0;
    }
    const n = this.#cycling.length;
    if (n < 2) return;
    this.#cycleIndex = (this.#cycleIndex + (backwards ? n - 1 : 1)) % n;
    const id = this.#cycling[this.#cycleIndex];
    if (id !== undefined) this.focus(id);
  }

  /** Alt released: the window the user landed on becomes the most recent. */
  endCycle(): void {
    if (!this.#cycling) return;
    this.#cycling = null;
    if (this.#focused) this.#mru = [this.#focused, ...this.#mru.filter((x) => x !== this.#focused)];
  }

  /** Hidden until Alt+Tab or a panel brings it back; the focus goes to the next window. */
  #minimize(v: View): void {
    if (v.minimized || !v.mapped) return;
    v.minimized = true;
    this.#core.setMinimized(v.id, true);
    this.#log.info({ id: v.id, appId: v.appId }, 'window minimized');
    // the most recently used window that is still shown comes forward
    this.#mru = [...this.#mru.filter((x) => x !== v.id), v.id];
    if (this.#focused === v.id || this.#focused === 0) {
      this.#focused = 0;
      this.focus(this.#topmost());
    }
    this.#changed = true;
  }

  closeFocused(): void {
    if (this.#focused) this.#core.closeView(this.#focused);
  }

  #wantsFloating(v: View): boolean {
    const h = v.hints;
    const fixed = h.minWidth > 0 && h.minWidth === h.maxWidth && h.minHeight > 0 && h.minHeight === h.maxHeight;
    return v.parent !== 0 || fixed;
  }

  #configure(v: View): void {
    const m = this.#core.outputMode();
    if (v.fullscreen) {
      this.#core.configure(v.id, m.width, m.height, { fullscreen: true });
    } else if (v.floating) {
      // Let the client choose, within the desktop.
      const w = v.width > this.#usable.width ? this.#usable.width : 0;
      const h = v.height > this.#usable.height ? this.#usable.height : 0;
      this.#core.configure(v.id, w, h);
    } else {
      this.#core.configure(v.id, this.#usable.width, this.#usable.height, { maximized: true });
    }
  }

  #place(v: View): void {
    if (v.fullscreen) {
      v.x = 0;
      v.y = 0;
    } else if (!v.floating) {
      v.x = this.#usable.x;
      v.y = this.#usable.y;
    } else {
      const parent = this.#views.get(v.parent);
      const over = parent?.mapped ? { x: parent.x, y: parent.y, width: parent.width, height: parent.height } : this.#usable;
      const u = this.#usable;
      v.x = Math.round(over.x + (over.width - v.width) / 2);
      v.y = Math.round(over.y + (over.height - v.height) / 2);
      // Keep the title area reachable: clamp into the usable area.
      v.x = Math.max(u.x, Math.min(v.x, u.x + u.width - v.width));
      v.y = Math.max(u.y, Math.min(v.y, u.y + u.height - v.height));
    }
    this.#core.setPosition(v.id, v.x, v.y);
    this.#changed = true;
  }

  #topmost(): number {
    return this.#mru.find((id) => this.#views.get(id)?.mapped && !this.#views.get(id)?.minimized) ?? 0;
  }
}
