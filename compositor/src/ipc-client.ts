/**
 * The parent's end of the compositor link (session-manager, tests, benchmarks): decodes and
 * checks messages, acknowledges frames, sends input. It never decodes a picture: the daemon
 * relays frames untouched, and whoever wants pixels (a test) paints them itself.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  IpcProtocolError,
  MAX_MESSAGE_BYTES,
  MessageReader,
  decodeCompositorMessage,
  encodeParentMessage,
  type CursorMsg,
  type FrameMsg,
  type HelloMsg,
  type ParentMessage,
  type StatsMsg,
  type WindowInfo,
} from '@waydesk/protocol/compositor-ipc';

export interface CompositorLinkEvents {
  hello: [HelloMsg];
  frame: [FrameMsg];
  cursor: [CursorMsg];
  windows: [WindowInfo[]];
  stats: [StatsMsg];
  pong: [number];
  'remote-error': [string];
  error: [Error];
  close: [];
}

export class CompositorLink extends EventEmitter<CompositorLinkEvents> {
  readonly #stream: Duplex;
  readonly #reader = new MessageReader(MAX_MESSAGE_BYTES);
  hello: HelloMsg | null = null;
  windows: WindowInfo[] = [];
  cursor: CursorMsg | null = null;
  framesReceived = 0;
  bytesReceived = 0;
  /** When false the parent acknowledges frames itself (to model a slow consumer). */
  autoAck = true;
  #closed = false;

  constructor(stream: Duplex) {
    super();
    this.#stream = stream;
    if (stream instanceof net.Socket) stream.setNoDelay(true);
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('error', (err) => this.emit('error', err));
    stream.on('close', () => this.#finish());
  }

  /** Connects to a compositor's link socket; `make` builds the link (a subclass that paints, in tests). */
  static connect<T extends CompositorLink = CompositorLink>(path: string, make: (s: net.Socket) => T = (s) => new CompositorLink(s) as T): Promise<T> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(path);
      sock.once('connect', () => resolve(make(sock)));
      sock.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(m: ParentMessage): void {
    if (!this.#closed) this.#stream.write(encodeParentMessage(m));
  }

  key(code: number, pressed: boolean): void {
    this.send({ type: 'key', code, pressed });
  }

  ack(seq: number): void {
    this.send({ type: 'frame-ack', seq });
  }

  /** Resolves with the next message of a type, or rejects after `ms` or when the link closes first. */
  next<K extends keyof CompositorLinkEvents>(event: K, ms = 5000): Promise<CompositorLinkEvents[K]> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.off(event, on as never);
        this.off('close', closed);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${String(event)} from the compositor within ${ms} ms`));
      }, ms);
      const on = (...args: CompositorLinkEvents[K]): void => {
        done();
        resolve(args);
      };
      const closed = (): void => {
        done();
        reject(new Error(`the link closed before a ${String(event)} came`));
      };
      this.once(event, on as never);
      if (event !== 'close') {
        if (this.#closed) return closed();
        this.once('close', closed);
      }
    });
  }

  async stats(ms = 5000): Promise<StatsMsg> {
    const p = this.next('stats', ms);
    this.send({ type: 'request-stats' });
    return (await p)[0];
  }

  close(): void {
    this.#stream.end();
    this.#stream.destroy();
    this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.emit('close');
  }

  #onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    try {
      for (const { type, payload } of this.#reader.push(chunk)) {
        const m = decodeCompositorMessage(type, payload);
        switch (m.type) {
          case 'hello':
            this.hello = m.body;
            this.emit('hello', m.body);
            break;
          case 'frame':
            this.framesReceived++;
            if (this.autoAck) this.ack(m.body.seq);
            this.emit('frame', m.body);
            break;
          case 'cursor':
            this.cursor = m.body;
            this.emit('cursor', m.body);
            break;
          case 'windows':
            this.windows = m.body.windows;
            this.emit('windows', m.body.windows);
            break;
          case 'stats':
            this.emit('stats', m.body);
            break;
          case 'error':
            this.emit('remote-error', m.body.message);
            break;
          case 'pong':
            this.emit('pong', m.id);
            break;
        }
      }
    } catch (err) {
      const e = err instanceof IpcProtocolError ? err : new IpcProtocolError(String(err));
      this.emit('error', e);
      this.close();
    }
  }
}
