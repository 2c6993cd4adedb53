import { EventEmitter } from 'node:events';
import type WebSocket from 'ws';
import { FrameError, FramePainter } from '@waydesk/native/frame-painter';
import type { FrameMsg } from '@waydesk/protocol/frame-format';
import {
  WIRE_VERSION,
  WireError,
  decodeServerMessage,
  encodeTerminalMessage,
  type CursorBody,
  type Display,
  type TerminalMessage,
} from '@waydesk/protocol/wire';
import { PinError, connectPinned } from './connection.js';
import type { Logger } from './log.js';

export interface TerminalOptions {
  url: string;
  fingerprint: string;
  terminalId: string;
  display: Display;
  kind: 'headless' | 'drm';
  log: Logger;
}

export interface TerminalEvents {
  status: [{ connected: boolean; message: string }];
  frame: [FrameMsg, { decodeUs: number; receivedUs: number }];
  cursor: [CursorBody];
  'server-error': [string];
}

function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5000;

/**
 * The terminal: connects (pinning the server's certificate), says hello, decodes frames into
 * its picture, keeps the cursor to draw locally, sends input, and reconnects with backoff
 * whenever the connection drops, showing the same picture again after it returns.
 */
export class Terminal extends EventEmitter<TerminalEvents> {
  readonly painter = new FramePainter();
  cursor: CursorBody | null = null;
  framesDecoded = 0;
  decodeUsTotal = 0;
  bytesReceived = 0;
  readonly #o: TerminalOptions;
  #ws: WebSocket | null = null;
  #stopped = false;
  #backoff = BACKOFF_MIN_MS;
  #retry: NodeJS.Timeout | null = null;

  constructor(o: TerminalOptions) {
    super();
    this.#o = o;
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
    let ws: WebSocket;
    try {
      ws = await connectPinned(this.#o.url, this.#o.fingerprint);
    } catch (err) {
      const message = (err as Error).message;
      const pin = err instanceof PinError;
      this.emit('status', { connected: false, message: pin ? message : `server unreachable (${message}); retrying` });
      this.#o.log.warn({ err: message, retryMs: this.#backoff }, pin ? 'certificate pin mismatch' : 'cannot reach the server');
      this.#scheduleRetry();
      return;
    }
    if (this.#stopped) {
      ws.close();
      return;
    }
    this.#ws = ws;
    this.#backoff = BACKOFF_MIN_MS;
    ws.on('message', (data: Buffer) => this.#onMessage(data));
    ws.on('close', (_code, reason) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.emit('status', { connected: false, message: `disconnected${reason.length ? `: ${reason.toString()}` : ''}; retrying` });
      this.#scheduleRetry();
    });
    ws.on('error', (err) => this.#o.log.warn({ err: err.message }, 'connection error'));
    this.send({
      type: 'hello',
      body: {
        version: WIRE_VERSION,
        terminalId: this.#o.terminalId,
        kind: this.#o.kind,
        displays: [this.#o.display],
        codecs: ['tiles', 'h264'],
        input: ['keyboard', 'pointer'],
      },
    });
    this.emit('status', { connected: true, message: 'connected' });
  }

  #scheduleRetry(): void {
    if (this.#stopped || this.#retry) return;
    this.#retry = setTimeout(() => {
      this.#retry = null;
      void this.#connect();
    }, this.#backoff);
    this.#backoff = Math.min(BACKOFF_MAX_MS, this.#backoff * 2);
  }

  #onMessage(data: Buffer): void {
    const receivedUs = nowUs();
    this.bytesReceived += data.length;
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
        try {
          this.painter.paint(m.body);
        } catch (err) {
          if (!(err instanceof FrameError)) throw err;
          this.#o.log.warn({ err: err.message }, 'lost the picture; asking for a whole one');
          this.send({ type: 'frame-ack', seq: m.body.seq });
          this.send({ type: 'keyframe-request' });
          return;
        }
        const decodeUs = nowUs() - t0;
        this.framesDecoded++;
        this.decodeUsTotal += decodeUs;
        this.send({ type: 'frame-ack', seq: m.body.seq });
        this.emit('frame', m.body, { decodeUs, receivedUs });
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
      case 'welcome':
      case 'pong':
        break;
    }
  }

  send(m: TerminalMessage): void {
    const ws = this.#ws;
    if (ws && ws.readyState === ws.OPEN) ws.send(encodeTerminalMessage(m));
  }

  key(code: number, pressed: boolean): void {
    this.send({ type: 'key', code, pressed });
  }
  pointerMotion(x: number, y: number): void {
    this.send({ type: 'pointer-motion', x, y });
  }
  pointerButton(button: number, pressed: boolean): void {
    this.send({ type: 'pointer-button', button, pressed });
  }

  /** Drops the connection as a pulled cable would (tests, and a terminal going to sleep). */
  dropConnection(): void {
    this.#ws?.terminate();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    const ws = this.#ws;
    this.#ws = null;
    ws?.close(1000, 'terminal stopping');
    this.painter.close();
  }
}
