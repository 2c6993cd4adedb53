/**
 * The link between a compositor process and its parent (the session-manager, a test, a bench).
 * One definition used by both ends.
 *
 * Framing: u32 LE length of what follows, u8 message type, payload. Control messages carry
 * JSON; frames, cursor images and input are binary because they are hot or large.
 * Every length is checked before anything is allocated.
 */

import { decodeCursorBody, decodeFrameBody, encodeCursorBody, encodeFrameBody, SEQ_MODULO, type CursorMsg, type FrameMsg } from './frame-format.js';

export type { CursorMsg, FrameMsg };

export const IPC_VERSION = 3;

import { MAX_OUTPUT, MIN_OUTPUT } from './limits.js';

export { MAX_OUTPUT, MIN_OUTPUT };
/** A full BGRX frame of the largest output plus headers; nothing on the link may be bigger. */
export const MAX_MESSAGE_BYTES = MAX_OUTPUT.width * MAX_OUTPUT.height * 4 + 64 * 1024;
/** Messages towards the compositor are small; a bigger one is an error, not a frame. */
export const MAX_CONTROL_BYTES = 16 * 1024;

export const MsgType = {
  // compositor -> parent
  Hello: 1,
  Frame: 2,
  Cursor: 3,
  Windows: 4,
  Stats: 5,
  Error: 6,
  Pong: 7,
  // parent -> compositor
  FrameAck: 20,
  Key: 21,
  PointerMotion: 22,
  PointerButton: 23,
  PointerAxis: 24,
  /** No terminal shows the desktop: held keys and buttons are let go, and what is kept for a viewer may go. */
  Detached: 25,
  Resize: 26,
  Keymap: 27,
  RequestFull: 28,
  RequestStats: 29,
  Trace: 30,
  Ping: 31,
} as const;
export type MsgTypeValue = (typeof MsgType)[keyof typeof MsgType];

export interface HelloMsg {
  version: number;
  pid: number;
  socket: string;
  runtimeDir: string;
  width: number;
  height: number;
  refreshMhz: number;
  renderer: string;
  uid: number;
}

export interface WindowInfo {
  id: number;
  appId: string | null;
  title: string | null;
  focused: boolean;
  floating: boolean;
  /** Hidden by a panel's or the window's own minimize; Alt+Tab or a panel brings it back. */
  minimized: boolean;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface WindowsMsg {
  windows: WindowInfo[];
}

export interface StatsMsg {
  framesCaptured: number;
  framesUnchanged: number;
  framesSent: number;
  lastRenderUs: number;
  lastCaptureUs: number;
  totalRenderUs: number;
  totalCaptureUs: number;
  damagePxReported: number;
  damagePxRefined: number;
  bytesSent: number;
  /** 'libx264', 'h264_vaapi', or 'none' before the first lossy frame. */
  encoder: string;
  framesTiles: number;
  framesH264: number;
  bytesTiles: number;
  bytesH264: number;
  totalEncodeUs: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  rssBytes: number;
}

export interface ErrorMsg {
  message: string;
}

export interface KeymapMsg {
  layout: string;
  variant?: string;
  model?: string;
  options?: string;
}

export type CompositorMessage =
  | { type: 'hello'; body: HelloMsg }
  | { type: 'frame'; body: FrameMsg }
  | { type: 'cursor'; body: CursorMsg }
  | { type: 'windows'; body: WindowsMsg }
  | { type: 'stats'; body: StatsMsg }
  | { type: 'error'; body: ErrorMsg }
  /** Answers the parent's ping at once: the parent's heartbeat, so a hung compositor is noticed. */
  | { type: 'pong'; id: number };

export type ParentMessage =
  | { type: 'frame-ack'; seq: number }
  | { type: 'key'; code: number; pressed: boolean }
  | { type: 'pointer-motion'; x: number; y: number }
  | { type: 'pointer-button'; button: number; pressed: boolean }
  | { type: 'pointer-axis'; horizontal: boolean; delta: number; discrete: number }
  | { type: 'detached' }
  | { type: 'resize'; width: number; height: number; refreshMhz: number }
  | { type: 'keymap'; keymap: KeymapMsg }
  | { type: 'request-full' }
  | { type: 'request-stats' }
  /** Frames carry their per-stage times (FrameTrace) while on. */
  | { type: 'trace'; on: boolean }
  | { type: 'ping'; id: number }
  | { type: 'error'; body: ErrorMsg };

export class IpcProtocolError extends Error {
  override name = 'IpcProtocolError';
}

function header(type: number, payloadBytes: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b.writeUInt32LE(payloadBytes + 1, 0);
  b.writeUInt8(type, 4);
  return b;
}

function json(type: number, body: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(body));
  return Buffer.concat([header(type, payload.length), payload]);
}

/** Encodes a frame as a list of buffers so the payload is written without another copy. */
export function encodeFrame(f: FrameMsg): Buffer[] {
  const body = encodeFrameBody(f).map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  return [header(MsgType.Frame, body.reduce((n, b) => n + b.length, 0)), ...body];
}

export function encodeCursor(c: CursorMsg): Buffer {
  const body = encodeCursorBody(c).map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  return Buffer.concat([header(MsgType.Cursor, body.reduce((n, b) => n + b.length, 0)), ...body]);
}

export function encodeCompositorMessage(m: CompositorMessage): Buffer[] {
  switch (m.type) {
    case 'hello':
      return [json(MsgType.Hello, m.body)];
    case 'frame':
      return encodeFrame(m.body);
    case 'cursor':
      return [encodeCursor(m.body)];
    case 'windows':
      return [json(MsgType.Windows, m.body)];
    case 'stats':
      return [json(MsgType.Stats, m.body)];
    case 'error':
      return [json(MsgType.Error, m.body)];
    case 'pong':
      return [u32(MsgType.Pong, m.id)];
  }
}

function u32(type: number, v: number): Buffer {
  const b = Buffer.allocUnsafe(9);
  b.writeUInt32LE(5, 0);
  b.writeUInt8(type, 4);
  b.writeUInt32LE(v >>> 0, 5);
  return b;
}

export function encodeParentMessage(m: ParentMessage): Buffer {
  switch (m.type) {
    case 'frame-ack': {
      const b = header(MsgType.FrameAck, 4);
      const p = Buffer.allocUnsafe(4);
      p.writeUInt32LE(m.seq >>> 0, 0);
      return Buffer.concat([b, p]);
    }
    case 'key': {
      const p = Buffer.allocUnsafe(5);
      p.writeUInt32LE(m.code >>> 0, 0);
      p.writeUInt8(m.pressed ? 1 : 0, 4);
      return Buffer.concat([header(MsgType.Key, 5), p]);
    }
    case 'pointer-motion': {
      const p = Buffer.allocUnsafe(16);
      p.writeDoubleLE(m.x, 0);
      p.writeDoubleLE(m.y, 8);
      return Buffer.concat([header(MsgType.PointerMotion, 16), p]);
    }
    case 'pointer-button': {
      const p = Buffer.allocUnsafe(5);
      p.writeUInt32LE(m.button >>> 0, 0);
      p.writeUInt8(m.pressed ? 1 : 0, 4);
      return Buffer.concat([header(MsgType.PointerButton, 5), p]);
    }
    case 'pointer-axis': {
      const p = Buffer.allocUnsafe(13);
      p.writeUInt8(m.horizontal ? 1 : 0, 0);
      p.writeDoubleLE(m.delta, 1);
      p.writeInt32LE(m.discrete | 0, 9);
      return Buffer.concat([header(MsgType.PointerAxis, 13), p]);
    }
    case 'detached':
      return header(MsgType.Detached, 0);
    case 'resize': {
      const p = Buffer.allocUnsafe(12);
      p.writeUInt32LE(m.width >>> 0, 0);
      p.writeUInt32LE(m.height >>> 0, 4);
      p.writeUInt32LE(m.refreshMhz >>> 0, 8);
      return Buffer.concat([header(MsgType.Resize, 12), p]);
    }
    case 'keymap':
      return json(MsgType.Keymap, m.keymap);
    case 'request-full':
      return header(MsgType.RequestFull, 0);
    case 'request-stats':
      return header(MsgType.RequestStats, 0);
    case 'trace':
      return Buffer.concat([header(MsgType.Trace, 1), Buffer.of(m.on ? 1 : 0)]);
    case 'ping':
      return u32(MsgType.Ping, m.id);
    case 'error':
      return json(MsgType.Error, m.body);
  }
}

function need(cond: boolean, what: string): void {
  if (!cond) throw new IpcProtocolError(what);
}

function parseJson(payload: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new IpcProtocolError(`${what}: payload is not valid JSON`);
  }
  need(typeof v === 'object' && v !== null && !Array.isArray(v), `${what}: payload must be a JSON object`);
  return v as Record<string, unknown>;
}

/** Longest string field on the link (a window title is cut to it by the compositor). */
export const MAX_NAME = 256;

function str(o: Record<string, unknown>, k: string, what: string, optional = false): string | undefined {
  const v = o[k];
  if (v === undefined && optional) return undefined;
  need(typeof v === 'string' && v.length <= MAX_NAME, `${what}: '${k}' must be a string of at most ${MAX_NAME} characters`);
  return v as string;
}

export function decodeParentMessage(type: number, p: Buffer): ParentMessage {
  switch (type) {
    case MsgType.FrameAck:
      need(p.length === 4, 'frame-ack: expected 4 bytes');
      need(p.readUInt32LE(0) < SEQ_MODULO, 'frame-ack: sequence above 65535');
      return { type: 'frame-ack', seq: p.readUInt32LE(0) };
    case MsgType.Key: {
      need(p.length === 5, 'key: expected 5 bytes');
      const code = p.readUInt32LE(0);
      need(code > 0 && code < 0x300, `key: evdev code ${code} is outside 1..767`);
      return { type: 'key', code, pressed: p.readUInt8(4) !== 0 };
    }
    case MsgType.PointerMotion: {
      need(p.length === 16, 'pointer-motion: expected 16 bytes');
      const x = p.readDoubleLE(0);
      const y = p.readDoubleLE(8);
      need(Number.isFinite(x) && Number.isFinite(y), 'pointer-motion: coordinates must be finite');
      return { type: 'pointer-motion', x, y };
    }
    case MsgType.PointerButton: {
      need(p.length === 5, 'pointer-button: expected 5 bytes');
      const button = p.readUInt32LE(0);
      // Linux input button codes: BTN_MISC (0x100) .. BTN_GEAR_UP (0x151)
      need(button >= 0x100 && button <= 0x151, `pointer-button: ${button} is not a button code`);
      return { type: 'pointer-button', button, pressed: p.readUInt8(4) !== 0 };
    }
    case MsgType.PointerAxis: {
      need(p.length === 13, 'pointer-axis: expected 13 bytes');
      const delta = p.readDoubleLE(1);
      need(Number.isFinite(delta) && Math.abs(delta) < 1e6, 'pointer-axis: delta out of range');
      return { type: 'pointer-axis', horizontal: p.readUInt8(0) !== 0, delta, discrete: p.readInt32LE(9) };
    }
    case MsgType.Detached:
      need(p.length === 0, 'detached: expected no payload');
      return { type: 'detached' };
    case MsgType.Resize: {
      need(p.length === 12, 'resize: expected 12 bytes');
      const width = p.readUInt32LE(0);
      const height = p.readUInt32LE(4);
      const refreshMhz = p.readUInt32LE(8);
      need(
        width >= MIN_OUTPUT.width && height >= MIN_OUTPUT.height && width <= MAX_OUTPUT.width && height <= MAX_OUTPUT.height,
        `resize: ${width}x${height} is outside ${MIN_OUTPUT.width}x${MIN_OUTPUT.height}..${MAX_OUTPUT.width}x${MAX_OUTPUT.height}`,
      );
      need(refreshMhz >= 1000 && refreshMhz <= 240000, `resize: refresh ${refreshMhz} mHz is outside 1..240 Hz`);
      return { type: 'resize', width, height, refreshMhz };
    }
    case MsgType.Keymap: {
      const o = parseJson(p, 'keymap');
      const keymap: KeymapMsg = { layout: str(o, 'layout', 'keymap') as string };
      for (const k of ['variant', 'model', 'options'] as const) {
        const v = str(o, k, 'keymap', true);
        if (v !== undefined) keymap[k] = v;
      }
      return { type: 'keymap', keymap };
    }
    case MsgType.RequestFull:
      need(p.length === 0, 'request-full: expected no payload');
      return { type: 'request-full' };
    case MsgType.RequestStats:
      need(p.length === 0, 'request-stats: expected no payload');
      return { type: 'request-stats' };
    case MsgType.Ping:
      need(p.length === 4, 'ping: expected 4 bytes');
      return { type: 'ping', id: p.readUInt32LE(0) };
    case MsgType.Trace:
      need(p.length === 1, 'trace: expected 1 byte');
      return { type: 'trace', on: p.readUInt8(0) !== 0 };
    case MsgType.Error: {
      const o = parseJson(p, 'error');
      return { type: 'error', body: { message: String(o.message ?? '') } };
    }
    default:
      throw new IpcProtocolError(`unknown message type ${type}`);
  }
}

function int(o: Record<string, unknown>, k: string, lo: number, hi: number, what: string): number {
  const v = o[k];
  need(typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi, `${what}: '${k}' must be an integer in ${lo}..${hi}`);
  return v as number;
}

function num(o: Record<string, unknown>, k: string, what: string): number {
  const v = o[k];
  need(typeof v === 'number' && Number.isFinite(v) && v >= 0, `${what}: '${k}' must be a finite number, at least 0`);
  return v as number;
}

/** Socket names and runtime directories: plain paths, never used to delete or kill anything. */
const SOCKET_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const ABS_PATH = /^\/[A-Za-z0-9._\/-]{0,250}$/;

function helloMsg(o: Record<string, unknown>): HelloMsg {
  const w = 'hello';
  const socket = str(o, 'socket', w) as string;
  need(SOCKET_NAME.test(socket), 'hello: socket must be a plain name');
  const runtimeDir = str(o, 'runtimeDir', w) as string;
  need(ABS_PATH.test(runtimeDir) && !runtimeDir.split('/').includes('..'), 'hello: runtimeDir must be an absolute path');
  return {
    version: int(o, 'version', 1, 1000, w),
    pid: int(o, 'pid', 1, 2 ** 22, w),
    socket,
    runtimeDir,
    width: int(o, 'width', MIN_OUTPUT.width, MAX_OUTPUT.width, w),
    height: int(o, 'height', MIN_OUTPUT.height, MAX_OUTPUT.height, w),
    refreshMhz: int(o, 'refreshMhz', 1000, 240000, w),
    renderer: str(o, 'renderer', w) as string,
    uid: int(o, 'uid', -1, 2 ** 32 - 1, w),
  };
}

/** At most this many windows are reported; a desktop with more is refused as broken. */
const MAX_WINDOWS = 1024;

function windowsMsg(o: Record<string, unknown>): WindowsMsg {
  const list = o.windows;
  need(Array.isArray(list) && list.length <= MAX_WINDOWS, `windows: 'windows' must be a list of at most ${MAX_WINDOWS}`);
  return {
    windows: (list as unknown[]).map((v) => {
      need(typeof v === 'object' && v !== null && !Array.isArray(v), 'windows: each window must be an object');
      const x = v as Record<string, unknown>;
      const w = 'windows';
      const optStr = (k: string): string | null => (x[k] === null ? null : (str(x, k, w) as string));
      need(
        typeof x.focused === 'boolean' && typeof x.floating === 'boolean' && typeof x.minimized === 'boolean',
        'windows: focused, floating and minimized must be true or false',
      );
      return {
        id: int(x, 'id', 0, 2 ** 32 - 1, w),
        appId: optStr('appId'),
        title: optStr('title'),
        focused: x.focused as boolean,
        floating: x.floating as boolean,
        minimized: x.minimized as boolean,
        x: int(x, 'x', -(2 ** 20), 2 ** 20, w),
        y: int(x, 'y', -(2 ** 20), 2 ** 20, w),
        width: int(x, 'width', 0, 2 ** 20, w),
        height: int(x, 'height', 0, 2 ** 20, w),
      };
    }),
  };
}

const STATS_NUMBERS = [
  'framesCaptured', 'framesUnchanged', 'framesSent', 'lastRenderUs', 'lastCaptureUs', 'totalRenderUs', 'totalCaptureUs',
  'damagePxReported', 'damagePxRefined', 'bytesSent', 'framesTiles', 'framesH264', 'bytesTiles', 'bytesH264', 'totalEncodeUs',
  'cpuUserUs', 'cpuSystemUs', 'rssBytes',
] as const satisfies ReadonlyArray<keyof StatsMsg>;

function statsMsg(o: Record<string, unknown>): StatsMsg {
  const out: Record<string, unknown> = { encoder: str(o, 'encoder', 'stats') };
  for (const k of STATS_NUMBERS) out[k] = num(o, k, 'stats');
  return out as unknown as StatsMsg;
}

/**
 * What a compositor says is checked like what a terminal says: the compositor runs as its user,
 * and a user's desktop is not trusted with the daemon's memory or decisions.
 */
export function decodeCompositorMessage(type: number, p: Buffer): CompositorMessage {
  switch (type) {
    case MsgType.Hello:
      return { type: 'hello', body: helloMsg(parseJson(p, 'hello')) };
    case MsgType.Frame: {
      const f = decodeFrameBody(p);
      if (typeof f === 'string') throw new IpcProtocolError(`frame: ${f}`);
      return { type: 'frame', body: f };
    }
    case MsgType.Cursor: {
      const c = decodeCursorBody(p);
      if (typeof c === 'string') throw new IpcProtocolError(`cursor: ${c}`);
      return { type: 'cursor', body: c };
    }
    case MsgType.Windows:
      return { type: 'windows', body: windowsMsg(parseJson(p, 'windows')) };
    case MsgType.Stats:
      return { type: 'stats', body: statsMsg(parseJson(p, 'stats')) };
    case MsgType.Error:
      return { type: 'error', body: { message: String(parseJson(p, 'error').message ?? '').slice(0, 1024) } };
    case MsgType.Pong:
      need(p.length === 4, 'pong: expected 4 bytes');
      return { type: 'pong', id: p.readUInt32LE(0) };
    default:
      throw new IpcProtocolError(`unknown message type ${type}`);
  }
}

/**
 * Splits a byte stream into messages. Rejects a length above `maxBytes` before buffering it,
 * so a hostile or broken peer cannot make us allocate.
 */
export class MessageReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  readonly #maxBytes: number;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Feeds bytes; returns the complete messages (type + payload) now available. */
  push(chunk: Buffer): Array<{ type: number; payload: Buffer }> {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const out: Array<{ type: number; payload: Buffer }> = [];
    for (;;) {
      if (this.#buffered < 4) break;
      const head = this.#peek(4);
      const len = head.readUInt32LE(0);
      if (len < 1 || len > this.#maxBytes) {
        throw new IpcProtocolError(`message length ${len} is outside 1..${this.#maxBytes}`);
      }
      if (this.#buffered < 4 + len) break;
      const whole = this.#take(4 + len);
      out.push({ type: whole.readUInt8(4), payload: whole.subarray(5) });
    }
    return out;
  }

  #peek(n: number): Buffer {
    if (this.#chunks[0]!.length >= n) return this.#chunks[0]!;
    const joined = Buffer.concat(this.#chunks);
    this.#chunks = [joined];
    return joined;
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length === n) {
      this.#chunks.shift();
      this.#buffered -= n;
      return first;
    }
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      this.#buffered -= n;
      return first.subarray(0, n);
    }
    const joined = Buffer.concat(this.#chunks);
    this.#chunks = joined.length > n ? [joined.subarray(n)] : [];
    this.#buffered -= n;
    return joined.subarray(0, n);
  }
}
