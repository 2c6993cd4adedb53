/**
 * The terminal protocol: what a terminal (headless, DRM/KMS or browser) and the
 * session-manager say to each other. One WebSocket binary message = one message:
 * u8 type, then the payload. Control messages are JSON; frames, cursor and input binary.
 *
 * Versioned: the terminal's hello names the version it speaks; the server answers with an
 * error and closes when it cannot serve it. Every field is checked; anything malformed,
 * unknown or oversized is an error and a closed connection.
 */
import { decodeFrameBody, encodeFrameBody, type FrameMsg } from './frame-format.js';

export const WIRE_VERSION = 1;
/** A terminal sends small messages; anything bigger is refused before it is parsed. */
export const MAX_TERMINAL_MESSAGE = 64 * 1024;
export const MAX_SERVER_MESSAGE = 7680 * 4320 * 4 + 1024 * 1024;

export const WireType = {
  // terminal -> server
  Hello: 1,
  Key: 2,
  PointerMotion: 3,
  PointerButton: 4,
  PointerAxis: 5,
  FrameAck: 6,
  KeyframeRequest: 7,
  Resize: 8,
  Ping: 9,
  Pong: 10,
  Stats: 11,
  // server -> terminal
  Welcome: 32,
  Frame: 33,
  Cursor: 34,
  ServerPing: 35,
  ServerPong: 36,
  Error: 37,
} as const;

export interface Display {
  width: number;
  height: number;
  refreshMhz: number;
}

export interface HelloBody {
  version: number;
  /** Stable id of the terminal (its MAC address, or a browser's random id). */
  terminalId: string;
  kind: 'headless' | 'drm' | 'browser';
  displays: Display[];
  codecs: Array<'tiles' | 'h264'>;
  input: Array<'keyboard' | 'pointer'>;
}

export interface WelcomeBody {
  version: number;
  width: number;
  height: number;
  /** The server's CLOCK_MONOTONIC, for the terminal's clock offset estimate. */
  serverTimeUs: number;
}

export interface CursorBody {
  mode: 0 | 1 | 2;
  width: number;
  height: number;
  hotspotX: number;
  hotspotY: number;
  pixels: Uint8Array | null;
}

export interface StatsBody {
  framesDecoded: number;
  decodeUsTotal: number;
  bytesReceived: number;
}

export type TerminalMessage =
  | { type: 'hello'; body: HelloBody }
  | { type: 'key'; code: number; pressed: boolean }
  | { type: 'pointer-motion'; x: number; y: number }
  | { type: 'pointer-button'; button: number; pressed: boolean }
  | { type: 'pointer-axis'; horizontal: boolean; delta: number; discrete: number }
  | { type: 'frame-ack'; seq: number }
  | { type: 'keyframe-request' }
  | { type: 'resize'; display: Display }
  | { type: 'ping'; id: number; timeUs: number }
  | { type: 'pong'; id: number; timeUs: number }
  | { type: 'stats'; body: StatsBody };

export type ServerMessage =
  | { type: 'welcome'; body: WelcomeBody }
  | { type: 'frame'; body: FrameMsg }
  | { type: 'cursor'; body: CursorBody }
  | { type: 'ping'; id: number; timeUs: number }
  | { type: 'pong'; id: number; timeUs: number }
  | { type: 'error'; message: string };

export class WireError extends Error {
  override name = 'WireError';
}

function need(cond: unknown, what: string): asserts cond {
  if (!cond) throw new WireError(what);
}

function withType(type: number, payload: Buffer | Buffer[]): Buffer {
  const parts = Array.isArray(payload) ? payload : [payload];
  return Buffer.concat([Buffer.of(type), ...parts]);
}

function json(type: number, body: unknown): Buffer {
  return withType(type, Buffer.from(JSON.stringify(body)));
}

function parseJson(p: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(p.toString('utf8'));
  } catch {
    throw new WireError(`${what}: not valid JSON`);
  }
  need(typeof v === 'object' && v !== null && !Array.isArray(v), `${what}: must be a JSON object`);
  return v as Record<string, unknown>;
}

function isInt(v: unknown, lo: number, hi: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

function display(v: unknown, what: string): Display {
  need(typeof v === 'object' && v !== null, `${what}: display must be an object`);
  const d = v as Record<string, unknown>;
  need(isInt(d.width, 64, 7680) && isInt(d.height, 64, 4320), `${what}: display size must be 64x64..7680x4320`);
  need(isInt(d.refreshMhz, 1000, 240000), `${what}: refreshMhz must be 1000..240000`);
  return { width: d.width, height: d.height, refreshMhz: d.refreshMhz };
}

function ping(type: number, id: number, timeUs: number): Buffer {
  const p = Buffer.allocUnsafe(12);
  p.writeUInt32LE(id >>> 0, 0);
  p.writeDoubleLE(timeUs, 4);
  return withType(type, p);
}

export function encodeTerminalMessage(m: TerminalMessage): Buffer {
  switch (m.type) {
    case 'hello':
      return json(WireType.Hello, m.body);
    case 'key': {
      const p = Buffer.allocUnsafe(5);
      p.writeUInt32LE(m.code >>> 0, 0);
      p.writeUInt8(m.pressed ? 1 : 0, 4);
      return withType(WireType.Key, p);
    }
    case 'pointer-motion': {
      const p = Buffer.allocUnsafe(16);
      p.writeDoubleLE(m.x, 0);
      p.writeDoubleLE(m.y, 8);
      return withType(WireType.PointerMotion, p);
    }
    case 'pointer-button': {
      const p = Buffer.allocUnsafe(5);
      p.writeUInt32LE(m.button >>> 0, 0);
      p.writeUInt8(m.pressed ? 1 : 0, 4);
      return withType(WireType.PointerButton, p);
    }
    case 'pointer-axis': {
      const p = Buffer.allocUnsafe(13);
      p.writeUInt8(m.horizontal ? 1 : 0, 0);
      p.writeDoubleLE(m.delta, 1);
      p.writeInt32LE(m.discrete | 0, 9);
      return withType(WireType.PointerAxis, p);
    }
    case 'frame-ack': {
      const p = Buffer.allocUnsafe(4);
      p.writeUInt32LE(m.seq >>> 0, 0);
      return withType(WireType.FrameAck, p);
    }
    case 'keyframe-request':
      return Buffer.of(WireType.KeyframeRequest);
    case 'resize':
      return json(WireType.Resize, m.display);
    case 'ping':
      return ping(WireType.Ping, m.id, m.timeUs);
    case 'pong':
      return ping(WireType.Pong, m.id, m.timeUs);
    case 'stats':
      return json(WireType.Stats, m.body);
  }
}

export function decodeTerminalMessage(data: Buffer): TerminalMessage {
  need(data.length >= 1, 'empty message');
  need(data.length <= MAX_TERMINAL_MESSAGE, `message of ${data.length} bytes exceeds ${MAX_TERMINAL_MESSAGE}`);
  const type = data[0]!;
  const p = data.subarray(1);
  switch (type) {
    case WireType.Hello: {
      const o = parseJson(p, 'hello');
      need(isInt(o.version, 1, 1000), 'hello: version must be an integer');
      need(typeof o.terminalId === 'string' && /^[A-Za-z0-9:._-]{1,64}$/.test(o.terminalId), 'hello: terminalId must be 1-64 of [A-Za-z0-9:._-]');
      need(o.kind === 'headless' || o.kind === 'drm' || o.kind === 'browser', 'hello: kind must be headless, drm or browser');
      need(Array.isArray(o.displays) && o.displays.length >= 1 && o.displays.length <= 8, 'hello: 1 to 8 displays');
      need(Array.isArray(o.codecs) && o.codecs.every((c) => c === 'tiles' || c === 'h264'), 'hello: codecs are tiles and h264');
      need(Array.isArray(o.input) && o.input.every((c) => c === 'keyboard' || c === 'pointer'), 'hello: input is keyboard and pointer');
      return {
        type: 'hello',
        body: {
          version: o.version,
          terminalId: o.terminalId,
          kind: o.kind,
          displays: (o.displays as unknown[]).map((d) => display(d, 'hello')),
          codecs: o.codecs as HelloBody['codecs'],
          input: o.input as HelloBody['input'],
        },
      };
    }
    case WireType.Key: {
      need(p.length === 5, 'key: expected 5 bytes');
      const code = p.readUInt32LE(0);
      need(code > 0 && code < 0x300, `key: evdev code ${code} is outside 1..767`);
      return { type: 'key', code, pressed: p[4] !== 0 };
    }
    case WireType.PointerMotion: {
      need(p.length === 16, 'pointer-motion: expected 16 bytes');
      const x = p.readDoubleLE(0);
      const y = p.readDoubleLE(8);
      need(Number.isFinite(x) && Number.isFinite(y) && Math.abs(x) < 1e5 && Math.abs(y) < 1e5, 'pointer-motion: coordinates out of range');
      return { type: 'pointer-motion', x, y };
    }
    case WireType.PointerButton: {
      need(p.length === 5, 'pointer-button: expected 5 bytes');
      const button = p.readUInt32LE(0);
      need(button >= 0x100 && button <= 0x151, `pointer-button: ${button} is not a button code`);
      return { type: 'pointer-button', button, pressed: p[4] !== 0 };
    }
    case WireType.PointerAxis: {
      need(p.length === 13, 'pointer-axis: expected 13 bytes');
      const delta = p.readDoubleLE(1);
      need(Number.isFinite(delta) && Math.abs(delta) < 1e4, 'pointer-axis: delta out of range');
      const discrete = p.readInt32LE(9);
      need(Math.abs(discrete) < 1000, 'pointer-axis: discrete out of range');
      return { type: 'pointer-axis', horizontal: p[0] !== 0, delta, discrete };
    }
    case WireType.FrameAck:
      need(p.length === 4, 'frame-ack: expected 4 bytes');
      return { type: 'frame-ack', seq: p.readUInt32LE(0) };
    case WireType.KeyframeRequest:
      need(p.length === 0, 'keyframe-request: expected no payload');
      return { type: 'keyframe-request' };
    case WireType.Resize:
      return { type: 'resize', display: display(parseJson(p, 'resize'), 'resize') };
    case WireType.Ping:
    case WireType.Pong: {
      need(p.length === 12, 'ping: expected 12 bytes');
      const timeUs = p.readDoubleLE(4);
      need(Number.isFinite(timeUs), 'ping: time must be finite');
      return { type: type === WireType.Ping ? 'ping' : 'pong', id: p.readUInt32LE(0), timeUs };
    }
    case WireType.Stats: {
      const o = parseJson(p, 'stats');
      need(isInt(o.framesDecoded, 0, 2 ** 48) && typeof o.decodeUsTotal === 'number' && isInt(o.bytesReceived, 0, 2 ** 53), 'stats: bad fields');
      return { type: 'stats', body: { framesDecoded: o.framesDecoded, decodeUsTotal: o.decodeUsTotal, bytesReceived: o.bytesReceived } };
    }
    default:
      throw new WireError(`unknown message type ${type}`);
  }
}

export function encodeServerMessage(m: ServerMessage): Buffer {
  switch (m.type) {
    case 'welcome':
      return json(WireType.Welcome, m.body);
    case 'frame':
      return withType(WireType.Frame, encodeFrameBody(m.body));
    case 'cursor': {
      const c = m.body;
      const fixed = Buffer.allocUnsafe(12);
      fixed.writeUInt32LE(c.mode, 0);
      fixed.writeUInt16LE(c.width, 4);
      fixed.writeUInt16LE(c.height, 6);
      fixed.writeInt16LE(c.hotspotX, 8);
      fixed.writeInt16LE(c.hotspotY, 10);
      return withType(WireType.Cursor, [fixed, c.pixels ? Buffer.from(c.pixels.buffer, c.pixels.byteOffset, c.pixels.byteLength) : Buffer.alloc(0)]);
    }
    case 'ping':
      return ping(WireType.ServerPing, m.id, m.timeUs);
    case 'pong':
      return ping(WireType.ServerPong, m.id, m.timeUs);
    case 'error':
      return json(WireType.Error, { message: m.message });
  }
}

export function decodeServerMessage(data: Buffer): ServerMessage {
  need(data.length >= 1, 'empty message');
  need(data.length <= MAX_SERVER_MESSAGE, 'message too large');
  const type = data[0]!;
  const p = data.subarray(1);
  switch (type) {
    case WireType.Welcome: {
      const o = parseJson(p, 'welcome');
      need(isInt(o.version, 1, 1000) && isInt(o.width, 1, 7680) && isInt(o.height, 1, 4320) && typeof o.serverTimeUs === 'number', 'welcome: bad fields');
      return { type: 'welcome', body: { version: o.version, width: o.width, height: o.height, serverTimeUs: o.serverTimeUs } };
    }
    case WireType.Frame: {
      const f = decodeFrameBody(p);
      if (typeof f === 'string') throw new WireError(`frame: ${f}`);
      return { type: 'frame', body: f };
    }
    case WireType.Cursor: {
      need(p.length >= 12, 'cursor: truncated');
      const mode = p.readUInt32LE(0);
      const width = p.readUInt16LE(4);
      const height = p.readUInt16LE(6);
      need(mode <= 2 && width <= 256 && height <= 256 && p.length === 12 + width * height * 4, 'cursor: bad image');
      return {
        type: 'cursor',
        body: { mode: mode as 0 | 1 | 2, width, height, hotspotX: p.readInt16LE(8), hotspotY: p.readInt16LE(10), pixels: width * height ? p.subarray(12) : null },
      };
    }
    case WireType.ServerPing:
    case WireType.ServerPong:
      need(p.length === 12, 'ping: expected 12 bytes');
      return { type: type === WireType.ServerPing ? 'ping' : 'pong', id: p.readUInt32LE(0), timeUs: p.readDoubleLE(4) };
    case WireType.Error: {
      const o = parseJson(p, 'error');
      return { type: 'error', message: String(o.message ?? '') };
    }
    default:
      throw new WireError(`unknown message type ${type}`);
  }
}
