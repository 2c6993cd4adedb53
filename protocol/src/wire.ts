/**
 * The terminal protocol: what a terminal (headless, DRM/KMS or browser) and the
 * session-manager say to each other. One WebSocket binary message = one message:
 * u8 type, then the payload. Control messages are JSON; frames, cursor and input binary.
 *
 * Versioned: the terminal's hello names the version it speaks; the server answers with an
 * error and closes when it cannot serve it. Every field is checked; anything malformed,
 * unknown or oversized is an error and a closed connection.
 */
import { decodeCursorBody, decodeFrameBody, encodeCursorBody, encodeFrameBody, type CursorMsg, type FrameMsg } from './frame-format.js';
import { MAX_OUTPUT, MIN_OUTPUT } from './limits.js';

// 2: compact frame header, 16-bit sequence numbers, 2-byte keys, stream-compressed tiles.
// 3: an H.264 frame says which part of the output its picture covers (its video box).
// 4: a terminal authenticates (auth with a token, or login with a user's password) before
//    anything but hello and ping is accepted.
// 5: card events (a terminal's smartcard reader) and the server's card challenge.
export const WIRE_VERSION = 5;
/** A terminal sends small messages; anything bigger is refused before it is parsed. */
export const MAX_TERMINAL_MESSAGE = 64 * 1024;
export const MAX_SERVER_MESSAGE = MAX_OUTPUT.width * MAX_OUTPUT.height * 4 + 1024 * 1024;

/**
 * WebSocket close codes the server ends a connection with; a terminal decides from the code
 * whether to reconnect. 1008 and 1009 are RFC 6455's; the 4000s are this protocol's own.
 */
export const CloseCode = {
  /** A malformed, oversized or out-of-order message. */
  Protocol: 1008,
  /** No token, or a wrong one: retrying with the same token cannot help. */
  Unauthorized: 4001,
  /** Another terminal attached this desktop: reconnecting would take it back, so a terminal waits for its user. */
  TakenOver: 4002,
  /** The session is over (its user logged out): a terminal shows that and waits for a new login. */
  SessionEnded: 4003,
} as const;

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
  Auth: 12,
  Login: 13,
  Card: 14,
  // server -> terminal
  Welcome: 32,
  Frame: 33,
  Cursor: 34,
  ServerPing: 35,
  ServerPong: 36,
  Error: 37,
  CardChallenge: 38,
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
  /** Ask for per-stage times in every frame (FrameTrace): for measuring, 28 bytes a frame. */
  trace?: boolean;
  /** A netbooted terminal: the version of the image it runs (its /etc/waydesk/image-version). */
  image?: string;
}

/** The single-user mode's per-run secret, as printed in the server's address (`#token=…`). */
export interface AuthBody {
  token: string;
}

/** Longer than any token: a bigger one is malformed, anything shorter is only wrong. */
const MAX_TOKEN = 256;

/** A user's password login (servers that log users in; the single-user server takes its token instead). */
export interface LoginBody {
  user: string;
  /** Sent once over the pinned TLS connection, handed to PAM, never stored or logged. */
  password: string;
}

export const MAX_USER_NAME = 64;
export const MAX_PASSWORD = 4096;

export interface WelcomeBody {
  version: number;
  width: number;
  height: number;
  /** The server's CLOCK_MONOTONIC, for the terminal's clock offset estimate. */
  serverTimeUs: number;
  /**
   * What follows is the server's greeter, not a session: a terminal that brought credentials
   * has used them (its session moved on or ended) and must not present them again by itself.
   */
  greeter?: boolean;
  /**
   * With a greeter, to a netbooted terminal whose image is not the one the server serves: the
   * version it serves. Nobody's session is open on the terminal, so it boots the new one now.
   */
  imageUpdate?: string;
}

/** What an image version looks like ("0.1.0+cad012e9d8f2"). */
const IMAGE_VERSION = /^[A-Za-z0-9.+_-]{1,64}$/;

export type CursorBody = CursorMsg;

/**
 * What a terminal's card reader saw. Nothing of a card leaves the terminal but what identifies
 * it (its ATR, the UID the reader reports, a PIV card's authentication certificate) and its
 * answer to the server's challenge.
 */
export type CardBody =
  /** ready: a reader is there; none: no reader; unavailable: the PC/SC service is not running. */
  | { event: 'reader'; state: 'ready' | 'none' | 'unavailable' }
  /** Hex ATR and UID (null: the card does not answer FF CA); the certificate is DER in base64. */
  | { event: 'inserted'; atr: string; uid: string | null; certificate: string | null }
  /** A card is in the reader but could not be read (why, in words). */
  | { event: 'unreadable'; why: string }
  | { event: 'removed' }
  /** The card's signature (DER, base64) of the last challenge. */
  | { event: 'signed'; signature: string }
  /** The card wants its PIN before it signs (or the PIN sent was wrong): how many tries it has left, if it says; blocked: none. */
  | { event: 'pin-needed'; triesLeft: number | null; blocked: boolean };

/**
 * A fresh challenge for the PIV card in the terminal's reader to sign with its authentication
 * key (base64), with the PIN the user typed at the greeter when the card asked for one: the
 * terminal gives it to the card (VERIFY) and keeps it no longer.
 */
export interface CardChallengeBody {
  challenge: string;
  pin?: string;
}

/** A PIV PIN: 6 to 8 characters (digits on most cards); the card pads it. */
export const PIV_PIN = /^[\x20-\x7e]{6,8}$/;

/** Bytes: an ATR is at most 33, a UID at most 10 (more is allowed, a little). */
export const MAX_ATR = 33;
export const MAX_UID = 32;
/** A PIV authentication certificate, DER; real ones are 0.5–2 KB. */
export const MAX_CERTIFICATE = 4096;
/** An ECDSA P-256 signature is about 72 bytes DER. */
const MAX_SIGNATURE = 256;
/** The server's challenge: a SHA-256 digest. */
export const CARD_CHALLENGE_BYTES = 32;
const HEX = /^(?:[0-9a-f]{2})*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const base64Max = (bytes: number): number => 4 * Math.ceil(bytes / 3);

function cardBody(o: Record<string, unknown>): CardBody {
  switch (o.event) {
    case 'reader':
      need(o.state === 'ready' || o.state === 'none' || o.state === 'unavailable', 'card: reader state must be ready, none or unavailable');
      return { event: 'reader', state: o.state };
    case 'inserted':
      need(typeof o.atr === 'string' && o.atr.length >= 2 && o.atr.length <= 2 * MAX_ATR && HEX.test(o.atr), `card: atr must be 1-${MAX_ATR} bytes of lowercase hex`);
      need(o.uid === null || (typeof o.uid === 'string' && o.uid.length >= 2 && o.uid.length <= 2 * MAX_UID && HEX.test(o.uid)), `card: uid must be null or 1-${MAX_UID} bytes of lowercase hex`);
      need(
        o.certificate === null || (typeof o.certificate === 'string' && o.certificate.length >= 4 && o.certificate.length <= base64Max(MAX_CERTIFICATE) && BASE64.test(o.certificate)),
        `card: certificate must be null or at most ${MAX_CERTIFICATE} bytes of base64`,
      );
      return { event: 'inserted', atr: o.atr, uid: o.uid, certificate: o.certificate };
    case 'unreadable':
      need(typeof o.why === 'string' && o.why.length <= 200, 'card: why must be a string of at most 200 characters');
      return { event: 'unreadable', why: o.why };
    case 'removed':
      return { event: 'removed' };
    case 'pin-needed':
      need(o.triesLeft === null || isInt(o.triesLeft, 0, 15), 'card: triesLeft must be null or 0..15');
      need(typeof o.blocked === 'boolean', 'card: blocked must be true or false');
      return { event: 'pin-needed', triesLeft: o.triesLeft, blocked: o.blocked };
    case 'signed':
      need(typeof o.signature === 'string' && o.signature.length >= 4 && o.signature.length <= base64Max(MAX_SIGNATURE) && BASE64.test(o.signature), `card: signature must be at most ${MAX_SIGNATURE} bytes of base64`);
      return { event: 'signed', signature: o.signature };
    default:
      throw new WireError('card: event must be reader, inserted, unreadable, removed, signed or pin-needed');
  }
}

export interface StatsBody {
  framesDecoded: number;
  decodeUsTotal: number;
  bytesReceived: number;
}

export type TerminalMessage =
  | { type: 'hello'; body: HelloBody }
  | { type: 'auth'; body: AuthBody }
  | { type: 'login'; body: LoginBody }
  | { type: 'card'; body: CardBody }
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
  /** Answers a terminal's ping with the server's CLOCK_MONOTONIC (µs) when it answered. */
  | { type: 'pong'; id: number; timeUs: number }
  | { type: 'error'; message: string }
  | { type: 'card-challenge'; body: CardChallengeBody };

export class WireError extends Error {
  override name = 'WireError';
}

function need(cond: unknown, what: string): asserts cond {
  if (!cond) throw new WireError(what);
}

// Plain Uint8Array and DataView (no Node Buffer): browsers load this very file.
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

function withType(type: number, payload: Uint8Array | Uint8Array[]): Uint8Array {
  const parts = Array.isArray(payload) ? payload : [payload];
  let n = 1;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  out[0] = type;
  let o = 1;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A payload of n bytes and a little-endian view on it. */
function payload(n: number): [Uint8Array, DataView] {
  const b = new Uint8Array(n);
  return [b, new DataView(b.buffer)];
}

function view(p: Uint8Array): DataView {
  return new DataView(p.buffer, p.byteOffset, p.byteLength);
}

function json(type: number, body: unknown): Uint8Array {
  return withType(type, utf8.encode(JSON.stringify(body)));
}

function parseJson(p: Uint8Array, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(fromUtf8.decode(p));
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
  need(
    isInt(d.width, MIN_OUTPUT.width, MAX_OUTPUT.width) && isInt(d.height, MIN_OUTPUT.height, MAX_OUTPUT.height),
    `${what}: display size must be ${MIN_OUTPUT.width}x${MIN_OUTPUT.height}..${MAX_OUTPUT.width}x${MAX_OUTPUT.height}`,
  );
  need(isInt(d.refreshMhz, 1000, 240000), `${what}: refreshMhz must be 1000..240000`);
  return { width: d.width, height: d.height, refreshMhz: d.refreshMhz };
}

function ping(type: number, id: number, timeUs: number): Uint8Array {
  const [p, v] = payload(12);
  v.setUint32(0, id >>> 0, true);
  v.setFloat64(4, timeUs, true);
  return withType(type, p);
}

export function encodeTerminalMessage(m: TerminalMessage): Uint8Array {
  switch (m.type) {
    case 'hello':
      return json(WireType.Hello, m.body);
    case 'auth':
      return json(WireType.Auth, m.body);
    case 'login':
      return json(WireType.Login, m.body);
    case 'card':
      return json(WireType.Card, m.body);
    case 'key': {
      // The evdev code (below 0x300) and, in the top bit, pressed: a key is 3 bytes each way.
      const [p, v] = payload(2);
      v.setUint16(0, (m.code & 0x7fff) | (m.pressed ? 0x8000 : 0), true);
      return withType(WireType.Key, p);
    }
    case 'pointer-motion': {
      const [p, v] = payload(16);
      v.setFloat64(0, m.x, true);
      v.setFloat64(8, m.y, true);
      return withType(WireType.PointerMotion, p);
    }
    case 'pointer-button': {
      const [p, v] = payload(5);
      v.setUint32(0, m.button >>> 0, true);
      v.setUint8(4, m.pressed ? 1 : 0);
      return withType(WireType.PointerButton, p);
    }
    case 'pointer-axis': {
      const [p, v] = payload(13);
      v.setUint8(0, m.horizontal ? 1 : 0);
      v.setFloat64(1, m.delta, true);
      v.setInt32(9, m.discrete | 0, true);
      return withType(WireType.PointerAxis, p);
    }
    case 'frame-ack': {
      const [p, v] = payload(2);
      v.setUint16(0, m.seq & 0xffff, true);
      return withType(WireType.FrameAck, p);
    }
    case 'keyframe-request':
      return Uint8Array.of(WireType.KeyframeRequest);
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

export function decodeTerminalMessage(data: Uint8Array): TerminalMessage {
  need(data.length >= 1, 'empty message');
  need(data.length <= MAX_TERMINAL_MESSAGE, `message of ${data.length} bytes exceeds ${MAX_TERMINAL_MESSAGE}`);
  const type = data[0]!;
  const p = data.subarray(1);
  const v = view(p);
  switch (type) {
    case WireType.Hello: {
      const o = parseJson(p, 'hello');
      need(isInt(o.version, 1, 1000), 'hello: version must be an integer');
      need(typeof o.terminalId === 'string' && /^[A-Za-z0-9:._-]{1,64}$/.test(o.terminalId), 'hello: terminalId must be 1-64 of [A-Za-z0-9:._-]');
      need(o.kind === 'headless' || o.kind === 'drm' || o.kind === 'browser', 'hello: kind must be headless, drm or browser');
      need(Array.isArray(o.displays) && o.displays.length >= 1 && o.displays.length <= 8, 'hello: 1 to 8 displays');
      need(Array.isArray(o.codecs) && o.codecs.every((c) => c === 'tiles' || c === 'h264'), 'hello: codecs are tiles and h264');
      need(Array.isArray(o.input) && o.input.every((c) => c === 'keyboard' || c === 'pointer'), 'hello: input is keyboard and pointer');
      need(o.trace === undefined || typeof o.trace === 'boolean', 'hello: trace must be true or false');
      need(o.image === undefined || (typeof o.image === 'string' && IMAGE_VERSION.test(o.image)), 'hello: image must be 1-64 of [A-Za-z0-9.+_-]');
      const body: HelloBody = {
        version: o.version,
        terminalId: o.terminalId,
        kind: o.kind,
        displays: (o.displays as unknown[]).map((d) => display(d, 'hello')),
        codecs: o.codecs as HelloBody['codecs'],
        input: o.input as HelloBody['input'],
      };
      if (o.trace === true) body.trace = true;
      if (o.image !== undefined) body.image = o.image as string;
      return { type: 'hello', body };
    }
    case WireType.Auth: {
      const o = parseJson(p, 'auth');
      // Any string up to the bound: a mistyped or cut-off token is a wrong token (the terminal is told
      // so and stops), not a malformed message.
      need(typeof o.token === 'string' && o.token.length <= MAX_TOKEN, `auth: token must be a string of at most ${MAX_TOKEN} characters`);
      return { type: 'auth', body: { token: o.token } };
    }
    case WireType.Login: {
      const o = parseJson(p, 'login');
      need(typeof o.user === 'string' && o.user.length >= 1 && o.user.length <= MAX_USER_NAME, `login: user must be 1-${MAX_USER_NAME} characters`);
      need(typeof o.password === 'string' && o.password.length <= MAX_PASSWORD, `login: password must be a string of at most ${MAX_PASSWORD} characters`);
      return { type: 'login', body: { user: o.user, password: o.password } };
    }
    case WireType.Card:
      return { type: 'card', body: cardBody(parseJson(p, 'card')) };
    case WireType.Key: {
      need(p.length === 2, 'key: expected 2 bytes');
      const code = v.getUint16(0, true) & 0x7fff;
      need(code > 0 && code < 0x300, `key: evdev code ${code} is outside 1..767`);
      return { type: 'key', code, pressed: (p[1]! & 0x80) !== 0 };
    }
    case WireType.PointerMotion: {
      need(p.length === 16, 'pointer-motion: expected 16 bytes');
      const x = v.getFloat64(0, true);
      const y = v.getFloat64(8, true);
      need(Number.isFinite(x) && Number.isFinite(y) && Math.abs(x) < 1e5 && Math.abs(y) < 1e5, 'pointer-motion: coordinates out of range');
      return { type: 'pointer-motion', x, y };
    }
    case WireType.PointerButton: {
      need(p.length === 5, 'pointer-button: expected 5 bytes');
      const button = v.getUint32(0, true);
      need(button >= 0x100 && button <= 0x151, `pointer-button: ${button} is not a button code`);
      return { type: 'pointer-button', button, pressed: p[4] !== 0 };
    }
    case WireType.PointerAxis: {
      need(p.length === 13, 'pointer-axis: expected 13 bytes');
      const delta = v.getFloat64(1, true);
      need(Number.isFinite(delta) && Math.abs(delta) < 1e4, 'pointer-axis: delta out of range');
      const discrete = v.getInt32(9, true);
      need(Math.abs(discrete) < 1000, 'pointer-axis: discrete out of range');
      return { type: 'pointer-axis', horizontal: p[0] !== 0, delta, discrete };
    }
    case WireType.FrameAck:
      need(p.length === 2, 'frame-ack: expected 2 bytes');
      return { type: 'frame-ack', seq: v.getUint16(0, true) };
    case WireType.KeyframeRequest:
      need(p.length === 0, 'keyframe-request: expected no payload');
      return { type: 'keyframe-request' };
    case WireType.Resize:
      return { type: 'resize', display: display(parseJson(p, 'resize'), 'resize') };
    case WireType.Ping:
    case WireType.Pong: {
      need(p.length === 12, 'ping: expected 12 bytes');
      const timeUs = v.getFloat64(4, true);
      need(Number.isFinite(timeUs), 'ping: time must be finite');
      return { type: type === WireType.Ping ? 'ping' : 'pong', id: v.getUint32(0, true), timeUs };
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

export function encodeServerMessage(m: ServerMessage): Uint8Array {
  switch (m.type) {
    case 'welcome':
      return json(WireType.Welcome, m.body);
    case 'frame':
      return withType(WireType.Frame, encodeFrameBody(m.body));
    case 'cursor':
      return withType(WireType.Cursor, encodeCursorBody(m.body));
    case 'ping':
      return ping(WireType.ServerPing, m.id, m.timeUs);
    case 'pong':
      return ping(WireType.ServerPong, m.id, m.timeUs);
    case 'error':
      return json(WireType.Error, { message: m.message });
    case 'card-challenge':
      return json(WireType.CardChallenge, m.body);
  }
}

export function decodeServerMessage(data: Uint8Array): ServerMessage {
  need(data.length >= 1, 'empty message');
  need(data.length <= MAX_SERVER_MESSAGE, 'message too large');
  const type = data[0]!;
  const p = data.subarray(1);
  const v = view(p);
  switch (type) {
    case WireType.Welcome: {
      const o = parseJson(p, 'welcome');
      need(isInt(o.version, 1, 1000) && isInt(o.width, 1, MAX_OUTPUT.width) && isInt(o.height, 1, MAX_OUTPUT.height) && typeof o.serverTimeUs === 'number', 'welcome: bad fields');
      need(o.greeter === undefined || typeof o.greeter === 'boolean', 'welcome: greeter must be a boolean');
      need(o.imageUpdate === undefined || (typeof o.imageUpdate === 'string' && IMAGE_VERSION.test(o.imageUpdate)), 'welcome: imageUpdate must be an image version');
      return {
        type: 'welcome',
        body: { version: o.version, width: o.width, height: o.height, serverTimeUs: o.serverTimeUs, ...(o.greeter ? { greeter: true } : {}), ...(o.greeter && o.imageUpdate ? { imageUpdate: o.imageUpdate as string } : {}) },
      };
    }
    case WireType.Frame: {
      const f = decodeFrameBody(p);
      if (typeof f === 'string') throw new WireError(`frame: ${f}`);
      return { type: 'frame', body: f };
    }
    case WireType.Cursor: {
      const c = decodeCursorBody(p);
      if (typeof c === 'string') throw new WireError(`cursor: ${c}`);
      return { type: 'cursor', body: c };
    }
    case WireType.ServerPing:
    case WireType.ServerPong:
      need(p.length === 12, 'ping: expected 12 bytes');
      return { type: type === WireType.ServerPing ? 'ping' : 'pong', id: v.getUint32(0, true), timeUs: v.getFloat64(4, true) };
    case WireType.Error: {
      const o = parseJson(p, 'error');
      return { type: 'error', message: String(o.message ?? '') };
    }
    case WireType.CardChallenge: {
      const o = parseJson(p, 'card-challenge');
      need(typeof o.challenge === 'string' && o.challenge.length === base64Max(CARD_CHALLENGE_BYTES) && BASE64.test(o.challenge), `card-challenge: challenge must be ${CARD_CHALLENGE_BYTES} bytes of base64`);
      need(o.pin === undefined || (typeof o.pin === 'string' && PIV_PIN.test(o.pin)), 'card-challenge: pin must be 6-8 printable characters');
      return { type: 'card-challenge', body: { challenge: o.challenge, ...(o.pin !== undefined ? { pin: o.pin as string } : {}) } };
    }
    default:
      throw new WireError(`unknown message type ${type}`);
  }
}
