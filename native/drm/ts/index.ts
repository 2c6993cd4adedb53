// The typed wrapper of the DRM/evdev addon: the one module that loads it.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Mode {
  width: number;
  height: number;
  refreshMhz: number;
  preferred: boolean;
}

export interface ScreenInfo {
  /** e.g. "Virtual-1", "HDMI-A-1". */
  connector: string;
  /** The kernel driver: bochs-drm, virtio_gpu, i915, amdgpu, simpledrm… */
  driver: string;
  /** The monitor's size as its EDID says (0 when it does not). */
  mmWidth: number;
  mmHeight: number;
  /** The mode in use. */
  width: number;
  height: number;
  refreshMhz: number;
  /** The driver has a cursor plane (else the cursor is drawn into the picture). */
  hwCursor: boolean;
  modes: Mode[];
}

export interface InputInfo {
  name: string;
  keyboard: boolean;
  pointer: boolean;
  /** A tablet (QEMU's usb-tablet, a touch screen): x min, x max, y min, y max. */
  absolute?: Int32Array;
}

interface RawOutput {
  info(): ScreenInfo;
  present(picture: Buffer, width: number, height: number, rects: Int32Array | null): boolean;
  setCursor(argb: Buffer | null, width: number, height: number, hotX: number, hotY: number): boolean;
  moveCursor(x: number, y: number): boolean;
  release(): boolean;
  acquire(): void;
  close(): void;
}
interface RawInput {
  info(): InputInfo;
  close(): void;
}
interface Binding {
  Output: new (path: string, modeIndex: number, onFlip: () => void) => RawOutput;
  InputDevice: new (path: string, onEvents: (e: Int32Array) => void, onGone: () => void) => RawInput;
}

let binding: Binding | undefined;
function load(): Binding {
  if (binding) return binding;
  // dist/../build/Release: the netboot image keeps that layout for its bundled program too
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'build', 'Release', 'waydesk_drm.node');
  try {
    binding = createRequire(import.meta.url)(file) as Binding;
  } catch (err) {
    throw new Error(`cannot load the DRM addon (${file}): ${(err as Error).message}. Build it with \`npm run build\`.`);
  }
  return binding;
}

/** The DRM devices that can drive a screen (/dev/dri/card*), in order. */
export function drmCards(dir = '/dev/dri'): string[] {
  try {
    return fs
      .readdirSync(dir)
      .filter((n) => /^card\d+$/.test(n))
      .sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)))
      .map((n) => path.join(dir, n));
  } catch {
    return [];
  }
}

/**
 * One screen: a connector in its preferred mode, two buffers flipped on vblank. `present`
 * copies only the rectangles given (null: all) and returns false while the last flip is still
 * on its way; 'flip' says when the next one may go.
 */
export class Screen extends EventEmitter<{ flip: [] }> {
  readonly #o: RawOutput;
  readonly info: ScreenInfo;
  readonly path: string;

  constructor(devicePath: string, modeIndex = -1) {
    super();
    this.path = devicePath;
    this.#o = new (load().Output)(devicePath, modeIndex, () => this.emit('flip'));
    this.info = this.#o.info();
  }

  present(picture: Buffer, width: number, height: number, rects: Int32Array | null): boolean {
    return this.#o.present(picture, width, height, rects);
  }

  /** The cursor image (premultiplied BGRA), null to hide it. True: present to show it (software cursor). */
  setCursor(image: { pixels: Buffer; width: number; height: number; hotspotX: number; hotspotY: number } | null): boolean {
    return image ? this.#o.setCursor(image.pixels, image.width, image.height, image.hotspotX, image.hotspotY) : this.#o.setCursor(null, 0, 0, 0, 0);
  }

  /** True: present to show the move (software cursor). */
  moveCursor(x: number, y: number): boolean {
    return this.#o.moveCursor(Math.round(x), Math.round(y));
  }

  /** Gives the screen up (the seat went to someone else) and takes it back. */
  release(): boolean {
    return this.#o.release();
  }
  acquire(): void {
    this.#o.acquire();
  }

  close(): void {
    this.#o.close();
  }
}

/** evdev event types and codes the terminal reads (<linux/input-event-codes.h>). */
export const EV = { SYN: 0, KEY: 1, REL: 2, ABS: 3 } as const;
export const REL = { X: 0, Y: 1, WHEEL: 8, HWHEEL: 6 } as const;
export const ABS = { X: 0, Y: 1 } as const;
/** Key codes from here up are buttons (BTN_MISC); keyboards' keys are below. */
export const BTN_MISC = 0x100;

/**
 * One input device, grabbed (the console no longer sees it), read as it becomes readable:
 * 'events' carries (type, code, value) triples, 'gone' says it was unplugged.
 */
export class InputDevice extends EventEmitter<{ events: [Int32Array]; gone: [] }> {
  readonly #d: RawInput;
  readonly info: InputInfo;
  readonly path: string;

  constructor(devicePath: string) {
    super();
    this.path = devicePath;
    this.#d = new (load().InputDevice)(
      devicePath,
      (e) => this.emit('events', e),
      () => this.emit('gone'),
    );
    this.info = this.#d.info();
  }

  close(): void {
    this.#d.close();
  }
}
