import type { Duplex } from 'node:stream';
import {
  IPC_VERSION,
  IpcProtocolError,
  MAX_CONTROL_BYTES,
  MessageReader,
  decodeParentMessage,
  encodeCompositorMessage,
  type CompositorMessage,
  type CursorMsg,
  type HelloMsg,
  type ParentMessage,
  type WindowInfo,
} from '@waydesk/protocol/compositor-ipc';
import type { CompositorCore, RawFrame } from '@waydesk/native/compositor';
import type { Logger } from './log.js';

/** Frames on the link not yet acknowledged; beyond this the compositor stops composing. */
const MAX_IN_FLIGHT = 2;
/** Bytes queued in the socket beyond which we wait for 'drain' before sending more. */
const HIGH_WATER = 4 * 1024 * 1024;

/** CLOCK_MONOTONIC in microseconds: the clock the core stamps frames with, shared by all processes. */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * The compositor's end of the link to its parent: frames out with credit-based backpressure
 * (when the parent is behind, the core pauses and damage coalesces instead of queueing),
 * input and control in. A malformed message closes the link with an error; the session
 * itself keeps running and a new parent may attach.
 */
export class FrameLink {
  readonly #stream: Duplex;
  readonly #core: CompositorCore;
  readonly #log: Logger;
  readonly #reader = new MessageReader(MAX_CONTROL_BYTES);
  readonly #inFlight = new Set<number>();
  #seq = 0;
  #waitingDrain = false;
  #closed = false;
  #framesSent = 0;
  #bytesSent = 0;
  onMessage: (m: ParentMessage) => void = () => {};
  onClose: () => void = () => {};

  constructor(stream: Duplex, core: CompositorCore, log: Logger) {
    this.#stream = stream;
    this.#core = core;
    this.#log = log;
    if ('setNoDelay' in stream && typeof stream.setNoDelay === 'function') stream.setNoDelay(true);
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('drain', () => {
      this.#waitingDrain = false;
      this.pump();
    });
    stream.on('error', (err: Error) => this.#log.warn({ err: err.message }, 'frame link error'));
    stream.on('close', () => this.#finish());
    stream.on('end', () => this.#finish());
  }

  get closed(): boolean {
    return this.#closed;
  }
  get framesSent(): number {
    return this.#framesSent;
  }
  get bytesSent(): number {
    return this.#bytesSent;
  }

  start(hello: HelloMsg, windows: WindowInfo[], cursor: CursorMsg): void {
    this.send({ type: 'hello', body: hello });
    this.send({ type: 'windows', body: { windows } });
    this.send({ type: 'cursor', body: cursor });
    this.sendFull();
  }

  send(m: CompositorMessage): void {
    if (this.#closed) return;
    const parts = encodeCompositorMessage(m);
    this.#stream.cork();
    let ok = true;
    for (const p of parts) {
      ok = this.#stream.write(p);
      this.#bytesSent += p.length;
    }
    this.#stream.uncork();
    if (!ok || this.#stream.writableLength > HIGH_WATER) this.#waitingDrain = true;
  }

  #canSend(): boolean {
    return !this.#closed && !this.#waitingDrain && this.#inFlight.size < MAX_IN_FLIGHT;
  }

  /** Sends what the core has, or pauses the core when the parent is behind. */
  pump(): void {
    if (this.#closed) return;
    if (!this.#canSend()) {
      this.#core.setPaused(true);
      return;
    }
    this.#core.setPaused(false);
    const f = this.#core.takeFrame();
    if (f) this.#sendFrame(f, false);
    if (!this.#canSend()) this.#core.setPaused(true);
  }

  /** The whole picture (attach, or the parent asked for a keyframe). */
  sendFull(): void {
    const snap = this.#core.snapshot();
    // Damage not yet sent is contained in the snapshot.
    this.#core.takeFrame();
    const t = nowUs();
    this.#sendFrame(
      {
        seq: 0,
        firstDamageUs: t,
        captureUs: t,
        width: snap.width,
        height: snap.height,
        rects: Int32Array.from([0, 0, snap.width, snap.height]),
        pixels: snap.pixels,
      },
      true,
    );
  }

  #sendFrame(f: RawFrame, full: boolean): void {
    const seq = (this.#seq = (this.#seq + 1) >>> 0);
    this.#inFlight.add(seq);
    this.#framesSent++;
    this.send({
      type: 'frame',
      body: {
        seq,
        firstDamageUs: f.firstDamageUs,
        captureUs: f.captureUs,
        sentUs: nowUs(),
        width: f.width,
        height: f.height,
        full,
        rects: f.rects,
        pixels: f.pixels,
      },
    });
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    try {
      for (const { type, payload } of this.#reader.push(chunk)) {
        const m = decodeParentMessage(type, payload);
        if (m.type === 'frame-ack') {
          this.#inFlight.delete(m.seq);
          this.pump();
        } else {
          this.onMessage(m);
        }
      }
    } catch (err) {
      const message = err instanceof IpcProtocolError ? err.message : `internal error: ${(err as Error).message}`;
      this.#log.warn({ err: message }, 'closing frame link after a bad message');
      this.send({ type: 'error', body: { message } });
      this.close();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#stream.end();
    this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onClose();
  }
}

export { IPC_VERSION };
