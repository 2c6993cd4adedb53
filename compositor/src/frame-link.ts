import type { Duplex } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
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
import type { CompositorCore } from '@waydesk/native-compositor';
import { Codec, SEQ_MODULO, type FrameTrace } from '@waydesk/protocol/frame-format';
import type { Logger } from './log.js';
import type { Encoded, StreamEncoder } from './stream-encoder.js';

/** Frames on the link not yet acknowledged; beyond this the compositor stops composing. */
const MAX_IN_FLIGHT = 2;
/** Bytes queued in the socket beyond which we wait for 'drain' before sending more. */
const HIGH_WATER = 4 * 1024 * 1024;
/** Quiet time after the last lossy frame before its regions are sent again exactly. */
const REFINE_AFTER_MS = 200;
/**
 * How long a desktop no terminal shows keeps what it keeps for one (the picture's copy, the
 * output's buffers, what the receiver had): a session moving between terminals, or a
 * terminal's short outage, does not pay for drawing it all again.
 */
export const RELEASE_UNVIEWED_MS = 10_000;

/**
 * A full garbage collection, now: the released pictures are Buffers outside V8's heap, which an
 * idle process would otherwise keep until some allocation, maybe never, triggers a collection.
 */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

export interface EncodeStats {
  framesTiles: number;
  framesH264: number;
  bytesTiles: number;
  bytesH264: number;
  totalEncodeUs: number;
}

interface FrameTimes {
  commitUs: number;
  commitLastUs: number;
  composeUs: number;
  captureUs: number;
}

/** Times for a frame made from the picture as it is (refinement, whole picture), not from a client's commit. */
function unstamped(t: number): FrameTimes {
  return { commitUs: t, commitLastUs: t, composeUs: t, captureUs: t };
}

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
  readonly #encoder: StreamEncoder;
  readonly #log: Logger;
  #refineTimer: NodeJS.Timeout | null = null;
  #refineDue = false;
  /** The parent was out of credits since the last frame: that frame waited for the network. */
  #held = false;
  readonly encodeStats: EncodeStats = { framesTiles: 0, framesH264: 0, bytesTiles: 0, bytesH264: 0, totalEncodeUs: 0 };
  readonly #reader = new MessageReader(MAX_CONTROL_BYTES);
  readonly #inFlight = new Set<number>();
  #seq = 0;
  /** Frames carry their per-stage times (the parent asked for them). */
  #trace = false;
  /** The oldest input not yet seen in a frame: when it was read and when it reached the client. */
  #input: { inputUs: number; deliveredUs: number } | null = null;
  #waitingDrain = false;
  /** A whole picture was asked for and waits for the socket to drain. */
  #fullDue = false;
  #closed = false;
  #releaseTimer: NodeJS.Timeout | null = null;
  /** The picture's buffers are released (nobody looked for a while). */
  #released = false;
  /** They are being made again: the whole picture is being drawn, the full frame waits for it. */
  #restoring = false;
  #framesSent = 0;
  #bytesSent = 0;
  onMessage: (m: ParentMessage) => void = () => {};
  onClose: () => void = () => {};

  constructor(stream: Duplex, core: CompositorCore, encoder: StreamEncoder, log: Logger) {
    this.#stream = stream;
    this.#core = core;
    this.#encoder = encoder;
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
    // a link made while the picture is released (the server restarted meanwhile) keeps it so
    // until a terminal asks for the picture
    if (this.#core.hasPicture) this.sendFull();
    else this.#released = true;
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

  /**
   * The parent lost track and wants the whole picture. It waits for the socket to drain, and
   * requests made meanwhile are one: a parent that asks and does not read gets one picture
   * queued, not one per request.
   */
  requestFull(): void {
    if (this.#releaseTimer) clearTimeout(this.#releaseTimer);
    this.#releaseTimer = null;
    this.#fullDue = true;
    if (this.#released) {
      if (!this.#core.restorePicture()) {
        // out of memory: stay released, and the next request tries again
        this.#fullDue = false;
        this.#log.error('could not make the picture again (out of memory?)');
        return;
      }
      this.#released = false;
      this.#restoring = true;
      this.#log.info('a terminal attached: drawing the whole picture again');
    }
    this.pump();
  }

  /** No terminal shows the desktop: after a while, the memory kept for one is given back. */
  detached(): void {
    if (this.#releaseTimer) clearTimeout(this.#releaseTimer);
    this.#releaseTimer = setTimeout(() => this.#release(), RELEASE_UNVIEWED_MS);
    this.#releaseTimer.unref();
  }

  #release(): void {
    this.#releaseTimer = null;
    if (this.#closed || this.#released || this.#restoring) return;
    this.#released = true;
    // clients get no frame callbacks: what nobody sees is not drawn
    this.#core.setPaused(true);
    this.#encoder.releaseViewer();
    this.#core.releasePicture();
    setImmediate(collectGarbage);
    this.#log.info({ afterMs: RELEASE_UNVIEWED_MS }, 'no terminal for a while: released the picture buffers');
  }

  /** Sends what the core has, or pauses the core when the parent is behind. */
  pump(): void {
    if (this.#closed || this.#released) return;
    if (this.#restoring) {
      this.#core.setPaused(false);
      // the whole picture is drawn again at the next frame; until then there is nothing to send
      if (!this.#core.takeFrame()) return;
      this.#restoring = false;
    }
    if (this.#fullDue && !this.#waitingDrain) {
      this.#fullDue = false;
      this.sendFull();
    }
    if (!this.#canSend()) {
      this.#core.setPaused(true);
      this.#held = true;
      return;
    }
    this.#core.setPaused(false);
    const f = this.#core.takeFrame();
    if (f) {
      const t0 = nowUs();
      const e = this.#encoder.encode(this.#core.picture(), f.rects, t0 / 1000, this.#held);
      this.#held = false;
      if (e) {
        this.#sendEncoded(e, { commitUs: f.commitUs, commitLastUs: f.commitLastUs, composeUs: f.composeUs, captureUs: f.captureUs }, false, t0);
        if (e.codec === Codec.H264) this.#armRefine();
      }
    } else if (this.#refineDue) {
      this.#refineDue = false;
      const t0 = nowUs();
      const e = this.#encoder.refinement(this.#core.picture());
      if (e) this.#sendEncoded(e, unstamped(t0), false, t0);
    }
    if (!this.#canSend()) this.#core.setPaused(true);
  }

  #armRefine(): void {
    if (this.#refineTimer) clearTimeout(this.#refineTimer);
    this.#refineTimer = setTimeout(() => {
      this.#refineTimer = null;
      this.#refineDue = true;
      this.pump();
    }, REFINE_AFTER_MS);
  }

  /** The whole picture, exact (attach, or the parent lost track and asked for it). */
  sendFull(): void {
    // A parent asking for the whole picture starts over: frames still in flight are superseded.
    this.#inFlight.clear();
    // Damage not yet sent is contained in the whole picture.
    this.#core.takeFrame();
    const t0 = nowUs();
    this.#sendEncoded(this.#encoder.full(this.#core.picture()), unstamped(t0), true, t0);
  }

  #sendEncoded(
    e: Encoded,
    at: FrameTimes,
    full: boolean,
    encodeStartUs: number,
  ): void {
    const seq = (this.#seq = (this.#seq + 1) % SEQ_MODULO);
    this.#inFlight.add(seq);
    this.#framesSent++;
    const sentUs = nowUs();
    const st = this.encodeStats;
    st.totalEncodeUs += sentUs - encodeStartUs;
    if (e.codec === Codec.H264) {
      st.framesH264++;
      st.bytesH264 += e.payload.length;
    } else {
      st.framesTiles++;
      st.bytesTiles += e.payload.length;
    }
    let trace: FrameTrace | undefined;
    if (this.#trace) {
      // An input belongs to the first frame holding a client commit made after it was delivered:
      // the frame's first commit if that is late enough, else (coalesced) its newest.
      const input = this.#input && at.commitLastUs >= this.#input.deliveredUs ? this.#input : null;
      if (input) this.#input = null;
      const commitUs = input && at.commitUs < input.deliveredUs ? at.commitLastUs : at.commitUs;
      trace = { inputUs: input?.inputUs ?? 0, deliveredUs: input?.deliveredUs ?? 0, commitUs, composeUs: at.composeUs, captureUs: at.captureUs, sentUs };
    }
    this.send({
      type: 'frame',
      body: {
        seq,
        width: e.width,
        height: e.height,
        full,
        keyframe: e.keyframe,
        codec: e.codec,
        rects: e.rects,
        payload: e.payload,
        ...(e.video ? { video: e.video } : {}),
        ...(trace ? { trace } : {}),
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
        } else if (m.type === 'ping') {
          this.send({ type: 'pong', id: m.id });
        } else if (m.type === 'request-full') {
          this.requestFull();
        } else if (m.type === 'trace') {
          this.#trace = m.on;
        } else if (this.#trace && (m.type === 'key' || m.type === 'pointer-button')) {
          const inputUs = nowUs();
          this.onMessage(m);
          // the oldest input not yet seen in a frame: a key's press, not its release
          this.#input ??= { inputUs, deliveredUs: nowUs() };
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
    if (this.#releaseTimer) clearTimeout(this.#releaseTimer);
    this.#releaseTimer = null;
    if (this.#refineTimer) clearTimeout(this.#refineTimer);
    this.onClose();
  }
}

export { IPC_VERSION };
