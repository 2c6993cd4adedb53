import { EventEmitter } from 'node:events';
import { FrameError, FramePainter } from './frame-painter.js';
import type { FrameMsg } from '@waydesk/protocol/frame-format';
import {
  CloseCode,
  WIRE_VERSION,
  WireError,
  decodeServerMessage,
  encodeTerminalMessage,
  type CursorBody,
  type Display,
  type TerminalMessage,
} from '@waydesk/protocol/wire';
import { PinNeeded, type CardSeen, type CardSource } from './card-reader.js';
import { PinError, connectWebSocket, type ServerChannel } from './connection.js';
import type { Logger } from './log.js';

export interface TerminalOptions {
  url: string;
  fingerprint: string;
  /**
   * The single-user server's secret, as its printed address carries it (`#token=…`), or a user's
   * login. None: the server's greeter asks whoever sits at the terminal.
   */
  credentials?: { token: string } | { user: string; password: string };
  terminalId: string;
  display: Display;
  kind: 'headless' | 'drm';
  log: Logger;
  /** Ask for per-stage times in every frame (for benchmarks; 28 bytes a frame). */
  trace?: boolean;
  /** The terminal's card reader: its events go to the server, which may ask the card to sign. */
  cards?: CardSource;
  /**
   * Ping the server this often even when nobody is at the terminal, to notice within seconds
   * that it stopped answering (a pulled cable): a screen must not show a frozen picture as
   * live. Off by default: an idle desktop then puts nothing on the wire.
   */
  heartbeatMs?: number;
  /** A netbooted terminal: the version of the image it runs, told in its hello. */
  image?: string;
}

export interface TerminalEvents {
  /** `retrying` false: the terminal waits for its user (`reconnect()`), as after a takeover. */
  status: [TerminalStatus];
  frame: [FrameMsg, FrameInfo];
  cursor: [CursorBody];
  'server-error': [string];
  /** At the greeter, the server serves another image than this terminal's: boot that one. */
  'image-update': [string];
}

/**
 * Where the terminal stands, for its screen: `unreachable` (no connection yet, retrying),
 * `certificate` (the server's certificate is not the pinned one), `lost` (the connection
 * dropped; retrying), `silent` (connected, but the server has not answered for SILENT_MS: a
 * pulled cable; `connected` again when it answers), `refused` (closed for good: taken over,
 * refused, session ended).
 */
export interface TerminalStatus {
  connected: boolean;
  retrying: boolean;
  state: 'connected' | 'greeter' | 'unreachable' | 'certificate' | 'lost' | 'silent' | 'refused';
  message: string;
}

/** When a frame arrived and when its pixels were in the picture (CLOCK_MONOTONIC µs). */
export interface FrameInfo {
  receivedUs: number;
  paintedUs: number;
  decodeUs: number;
}

function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

const BACKOFF_MIN_MS = 250;
/**
 * Retries come every half second for the first 15 s without the server, then every 2 s: a
 * restarted server (it adopts the desktops) is found again within half a second of listening,
 * and one that stays away is not hammered. Terminals are few and the LAN is cheap.
 */
const RETRY_FAST_MS = 500;
const FAST_FOR_MS = 15_000;
const BACKOFF_MAX_MS = 2000;
/** A connection that lasted this long was not a refusal loop: the back-off starts over. */
const STABLE_MS = 10_000;
/** With a heartbeat: a server unheard this long after a ping is "silent"… */
export const SILENT_MS = 3000;
/** …and this long, gone: the connection is dropped and made again (the session waits at the server). */
const GONE_MS = 30_000;

/**
 * The terminal: connects (pinning the server's certificate), says hello, decodes frames into
 * its picture, keeps the cursor to draw locally, sends input, and reconnects with backoff
 * whenever the connection drops, showing the same picture again after it returns.
 */
export class Terminal extends EventEmitter<TerminalEvents> {
  readonly painter = new FramePainter();
  cursor: CursorBody | null = null;
  /** The server shows its greeter here (no session). */
  atGreeter = false;
  framesDecoded = 0;
  decodeUsTotal = 0;
  bytesReceived = 0;
  bytesSent = 0;
  /** Server clock minus ours (µs), from the ping with the shortest round trip lately. */
  clockOffsetUs = 0;
  rttUs = 0;
  readonly #pings = new Map<number, number>();
  #samples: Array<{ rtt: number; offset: number }> = [];
  #pingTimer: NodeJS.Timeout | null = null;
  #pingId = 0;
  #lastPingUs = 0;
  readonly #o: TerminalOptions;
  #ws: ServerChannel | null = null;
  #stopped = false;
  /** A whole picture was asked for and has not come yet. */
  #awaitingWhole = false;
  #backoff = BACKOFF_MIN_MS;
  /** When the server was last lost (null: connected for a while, or never lost). */
  #offlineSince: number | null = null;
  #retry: NodeJS.Timeout | null = null;
  #stable: NodeJS.Timeout | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  /** When the server last sent anything, and whether it is "silent" now. */
  #heardUs = 0;
  #silent = false;

  /** The card in the reader, as last read: told again on every connection (a restarted server). */
  #card: CardSeen | null = null;

  constructor(o: TerminalOptions) {
    super();
    this.#o = { ...o };
    const cards = o.cards;
    if (cards) {
      cards.on('state', (state) => this.send({ type: 'card', body: { event: 'reader', state } }));
      cards.on('inserted', (c) => {
        this.#card = c;
        this.#sendCard(c);
      });
      cards.on('unreadable', (why) => {
        this.#card = null;
        this.send({ type: 'card', body: { event: 'unreadable', why } });
      });
      cards.on('removed', () => {
        this.#card = null;
        this.send({ type: 'card', body: { event: 'removed' } });
      });
    }
  }

  #sendCard(c: CardSeen): void {
    this.send({ type: 'card', body: { event: 'inserted', atr: c.atr.toString('hex'), uid: c.uid?.toString('hex') ?? null, certificate: c.certificate?.toString('base64') ?? null } });
  }

  /** The server asks the card to prove itself: the PIV card signs, and only the signature goes back. */
  async #challenge(challenge: string, pin: string | undefined): Promise<void> {
    const cards = this.#o.cards;
    if (!cards) return;
    try {
      const signature = await cards.sign(Buffer.from(challenge, 'base64'), pin);
      this.send({ type: 'card', body: { event: 'signed', signature: signature.toString('base64') } });
    } catch (err) {
      if (err instanceof PinNeeded) {
        this.send({ type: 'card', body: { event: 'pin-needed', triesLeft: err.triesLeft, blocked: err.blocked } });
        return;
      }
      this.#o.log.warn({ err: (err as Error).message }, 'the card did not sign the challenge');
      this.send({ type: 'card', body: { event: 'unreadable', why: (err as Error).message.slice(0, 200) } });
    }
  }

  get connected(): boolean {
    return this.#ws !== null;
  }

  start(): void {
    this.#stopped = false;
    void this.#connect();
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    let ws: ServerChannel;
    try {
      ws = await connectWebSocket(this.#o.url, this.#o.fingerprint);
    } catch (err) {
      const message = (err as Error).message;
      const pin = err instanceof PinError;
      this.emit('status', { connected: false, retrying: true, state: pin ? 'certificate' : 'unreachable', message: pin ? message : `server unreachable (${message}); retrying` });
      this.#o.log.warn({ err: message, retryMs: this.#backoff }, pin ? 'certificate pin mismatch' : 'cannot reach the server');
      this.#scheduleRetry();
      return;
    }
    if (this.#stopped) {
      ws.close(1000, 'terminal stopping');
      return;
    }
    this.#ws = ws;
    // The back-off starts over only once this connection has proved itself: a server that
    // accepts and then refuses at once is not hammered every 250 ms.
    this.#stable = setTimeout(() => {
      this.#backoff = BACKOFF_MIN_MS;
      this.#offlineSince = null;
    }, STABLE_MS);
    this.#stable.unref();
    ws.onMessage((data) => this.#onMessage(data));
    ws.onClose((code, reason) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      if (this.#stable) clearTimeout(this.#stable);
      if (this.#heartbeat) clearInterval(this.#heartbeat);
      this.#heartbeat = null;
      // Reconnecting would take the desktop back from the terminal its user just moved to, or
      // present the same wrong token again: wait for the user instead.
      if (code === CloseCode.TakenOver || code === CloseCode.Unauthorized || code === CloseCode.SessionEnded) {
        this.emit('status', { connected: false, retrying: false, state: 'refused', message: reason || (code === CloseCode.TakenOver ? 'taken over by another terminal' : 'the server refused this terminal') });
        return;
      }
      this.emit('status', { connected: false, retrying: true, state: 'lost', message: `disconnected${reason ? `: ${reason}` : ''}; retrying` });
      this.#scheduleRetry();
    });
    this.send({
      type: 'hello',
      body: {
        version: WIRE_VERSION,
        terminalId: this.#o.terminalId,
        kind: this.#o.kind,
        displays: [this.#o.display],
        codecs: ['tiles', 'h264'],
        input: ['keyboard', 'pointer'],
        ...(this.#o.trace ? { trace: true } : {}),
        ...(this.#o.image ? { image: this.#o.image } : {}),
      },
    });
    const c = this.#o.credentials;
    if (c) this.send('token' in c ? { type: 'auth', body: { token: c.token } } : { type: 'login', body: { user: c.user, password: c.password } });
    if (this.#o.cards) {
      this.send({ type: 'card', body: { event: 'reader', state: this.#o.cards.state } });
      if (this.#card) this.#sendCard(this.#card);
    }
    this.emit('status', { connected: true, retrying: false, state: 'connected', message: 'connected' });
    this.#heardUs = nowUs();
    this.#silent = false;
    if (this.#o.heartbeatMs) {
      if (this.#heartbeat) clearInterval(this.#heartbeat);
      this.#heartbeat = setInterval(() => this.#beat(), this.#o.heartbeatMs);
    }
    this.#ping();
  }

  /**
   * A few pings right after connecting estimate the clock offset; after that only while the
   * user is active, so an idle desktop puts nothing on the wire (TCP keepalive watches the link).
   */
  #ping(burst = 4): void {
    if (this.#pingTimer) clearTimeout(this.#pingTimer);
    this.#pingTimer = null;
    if (!this.#ws) return;
    const id = (this.#pingId = (this.#pingId + 1) >>> 0);
    this.#lastPingUs = nowUs();
    this.#pings.set(id, this.#lastPingUs);
    if (this.#pings.size > 16) this.#pings.delete(this.#pings.keys().next().value!);
    this.send({ type: 'ping', id, timeUs: this.#lastPingUs });
    if (burst > 1) {
      this.#pingTimer = setTimeout(() => this.#ping(burst - 1), 250);
      this.#pingTimer.unref();
    }
  }

  /** A ping, and a look at how long the server has said nothing. */
  #beat(): void {
    const ws = this.#ws;
    if (!ws) return;
    const quietMs = (nowUs() - this.#heardUs) / 1000;
    if (quietMs >= GONE_MS) {
      this.#o.log.warn({ quietMs }, 'the server has not answered for a long time; connecting again');
      ws.terminate();
      return;
    }
    if (quietMs >= SILENT_MS && !this.#silent) {
      this.#silent = true;
      this.#o.log.warn({ quietMs }, 'the server does not answer');
      this.emit('status', { connected: true, retrying: true, state: 'silent', message: 'the server does not answer' });
    }
    this.#ping(1);
  }

  #activity(): void {
    if (nowUs() - this.#lastPingUs > 10_000_000) this.#ping(1);
  }

  #pong(id: number, serverUs: number): void {
    const sent = this.#pings.get(id);
    if (sent === undefined) return;
    this.#pings.delete(id);
    const now = nowUs();
    this.#samples.push({ rtt: now - sent, offset: serverUs - (sent + now) / 2 });
    if (this.#samples.length > 8) this.#samples.shift();
    const best = this.#samples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    this.rttUs = best.rtt;
    this.clockOffsetUs = best.offset;
  }

  #scheduleRetry(): void {
    if (this.#stopped || this.#retry) return;
    const now = Date.now();
    this.#offlineSince ??= now;
    const delay = now - this.#offlineSince < FAST_FOR_MS ? Math.min(this.#backoff, RETRY_FAST_MS) : this.#backoff;
    this.#retry = setTimeout(() => {
      this.#retry = null;
      void this.#connect();
    }, delay);
    this.#backoff = Math.min(BACKOFF_MAX_MS, this.#backoff * 2);
  }

  #onMessage(data: Uint8Array): void {
    const receivedUs = nowUs();
    this.bytesReceived += data.length;
    this.#heardUs = receivedUs;
    if (this.#silent) {
      this.#silent = false;
      this.#o.log.info('the server answers again');
      this.emit('status', { connected: true, retrying: false, state: 'connected', message: 'the server answers again' });
    }
    let m;
    try {
      m = decodeServerMessage(data);
    } catch (err) {
      this.#o.log.warn({ err: err instanceof WireError ? err.message : String(err) }, 'malformed message from the server; reconnecting');
      this.#ws?.close(1008, 'malformed message');
      return;
    }
    switch (m.type) {
      case 'frame': {
        const t0 = nowUs();
        if (m.body.full) this.#awaitingWhole = false;
        try {
          this.painter.paint(m.body);
        } catch (err) {
          if (!(err instanceof FrameError)) throw err;
          this.send({ type: 'frame-ack', seq: m.body.seq });
          // Frames already on their way fail the same way: one request is enough.
          if (!this.#awaitingWhole) {
            this.#awaitingWhole = true;
            this.#o.log.warn({ err: err.message }, 'lost the picture; asking for a whole one');
            this.send({ type: 'keyframe-request' });
          }
          return;
        }
        const paintedUs = nowUs();
        const decodeUs = paintedUs - t0;
        this.framesDecoded++;
        this.decodeUsTotal += decodeUs;
        this.send({ type: 'frame-ack', seq: m.body.seq });
        this.emit('frame', m.body, { decodeUs, receivedUs, paintedUs });
        break;
      }
      case 'cursor':
        this.cursor = m.body;
        this.emit('cursor', m.body);
        break;
      case 'ping':
        this.send({ type: 'pong', id: m.id, timeUs: m.timeUs });
        break;
      case 'error':
        this.#o.log.warn({ message: m.message }, 'the server reported an error');
        this.emit('server-error', m.message);
        break;
      case 'pong':
        this.#pong(m.id, m.timeUs);
        break;
      case 'card-challenge':
        void this.#challenge(m.body.challenge, m.body.pin);
        break;
      case 'welcome':
        if (m.body.greeter) {
          // Presented again after a reconnect, stored credentials would take back a session its
          // user moved elsewhere, or start one after they logged out: from here on, the greeter.
          if (this.#o.credentials) delete this.#o.credentials;
          this.atGreeter = true;
          this.emit('status', { connected: true, retrying: false, state: 'greeter', message: 'at the greeter' });
          if (m.body.imageUpdate) this.emit('image-update', m.body.imageUpdate);
        } else {
          this.atGreeter = false;
        }
        break;
    }
  }

  send(m: TerminalMessage): void {
    if (!this.#ws) return;
    const data = encodeTerminalMessage(m);
    this.bytesSent += data.length;
    this.#ws.send(data);
  }

  key(code: number, pressed: boolean): void {
    this.send({ type: 'key', code, pressed });
    this.#activity();
  }
  pointerMotion(x: number, y: number): void {
    this.send({ type: 'pointer-motion', x, y });
  }
  pointerButton(button: number, pressed: boolean): void {
    this.send({ type: 'pointer-button', button, pressed });
  }

  /** Connects again after the terminal stopped retrying (its user wants the desktop back here). */
  reconnect(): void {
    if (this.#ws || this.#retry || this.#stopped) return;
    this.#backoff = BACKOFF_MIN_MS;
    void this.#connect();
  }

  /** Drops the connection as a pulled cable would (tests, and a terminal going to sleep). */
  dropConnection(): void {
    this.#ws?.terminate();
  }

  get transport(): string | null {
    return this.#ws?.transport ?? null;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#pingTimer) clearTimeout(this.#pingTimer);
    if (this.#retry) clearTimeout(this.#retry);
    if (this.#stable) clearTimeout(this.#stable);
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#retry = null;
    const ws = this.#ws;
    this.#ws = null;
    ws?.close(1000, 'terminal stopping');
    this.painter.close();
  }
}
