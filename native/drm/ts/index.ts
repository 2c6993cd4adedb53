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
interface RawSeat {
  openDevice(path: string): { id: number; fd: number };
  closeDevice(id: number): void;
  ackDisable(): boolean;
  switchSession(n: number): boolean;
  name(): { name: string; enabledAtOpen: boolean };
  close(): void;
}
interface Binding {
  /** enabled null: the seat (seatd) is gone and its devices with it */
  Seat: new (onChange: (enabled: boolean | null) => void) => RawSeat;
  Output: new (fd: number, modeIndex: number, onFlip: () => void) => RawOutput;
  InputDevice: new (fd: number, onEvents: (e: Int32Array) => void, onGone: () => void) => RawInput;
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

/** Opens a device for the terminal: the seat's way, or (as root, without a seat) directly. */
export interface DeviceOpener {
  open(devicePath: string): { fd: number; close(): void };
}

/** Root's way: open(2) itself. */
export const directly: DeviceOpener = {
  open(devicePath) {
    const fd = fs.openSync(devicePath, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    return { fd, close: () => fs.closeSync(fd) };
  },
};

/**
 * The terminal's seat (libseat: seatd, or logind where it runs): devices are opened by it, so
 * the terminal need not be root, and are taken away ('disable': stop using them, then
 * `ackDisable`) and given back ('enable': open them again) when the seat goes to another
 * session and returns.
 */
export class Seat extends EventEmitter<{ enable: []; disable: []; gone: [] }> implements DeviceOpener {
  readonly #s: RawSeat;
  readonly name: string;
  /** The seat is ours now. */
  active: boolean;

  constructor() {
    super();
    this.#s = new (load().Seat)((enabled) => {
      if (enabled === null) {
        this.active = false;
        this.emit('gone');
        return;
      }
      this.active = enabled;
      this.emit(enabled ? 'enable' : 'disable');
    });
    const n = this.#s.name();
    this.name = n.name;
    this.active = n.enabledAtOpen;
  }

  open(devicePath: string): { fd: number; close(): void } {
    const { id, fd } = this.#s.openDevice(devicePath);
    // libseat closes neither backend's fd (logind's fstat()s it in its close: after that)
    return {
      fd,
      close: () => {
        try {
          this.#s.closeDevice(id);
        } finally {
          fs.closeSync(fd);
        }
      },
    };
  }

  /** Says the devices are no longer used: the seat may go. */
  ackDisable(): void {
    this.#s.ackDisable();
  }

  /** Asks the seat to switch to another session (a VT number): 'disable' follows if it does. */
  switchSession(n: number): boolean {
    return this.#s.switchSession(n);
  }

  close(): void {
    this.#s.close();
  }
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
  readonly #device: { fd: number; close(): void };
  readonly info: ScreenInfo;
  readonly path: string;

  constructor(devicePath: string, opener: DeviceOpener = directly, modeIndex = -1) {
    super();
    this.path = devicePath;
    this.#device = opener.open(devicePath);
    try {
      this.#o = new (load().Output)(this.#device.fd, modeIndex, () => this.emit('flip'));
    } catch (err) {
      this.#device.close();
      throw err;
    }
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
    this.#device.close();
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
  readonly #device: { fd: number; close(): void };
  readonly info: InputInfo;
  readonly path: string;
  #closed = false;

  constructor(devicePath: string, opener: DeviceOpener = directly) {
    super();
    this.path = devicePath;
    this.#device = opener.open(devicePath);
    try {
      this.#d = new (load().InputDevice)(
        this.#device.fd,
        (e) => this.emit('events', e),
        () => {
          this.close();
          this.emit('gone');
        },
      );
    } catch (err) {
      this.#device.close();
      throw err;
    }
    this.info = this.#d.info();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#d.close();
    this.#device.close();
  }
}
