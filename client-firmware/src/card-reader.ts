// The terminal's smartcard reader, through PC/SC (pcscd and the `smartcard` N-API binding; this
// is the only module that imports it). The binding's monitor does not recover when pcscd is
// missing at start or restarts: this wrapper notices (an error from the monitor, or no context),
// stops it, says the reader is unavailable, and starts again every second until pcscd answers.
// On insertion it reads what identifies the card (ATR, the reader's UID, a PIV card's
// authentication certificate) and keeps the card open to sign the server's challenge.
import { EventEmitter } from 'node:events';
import type { Logger } from './log.js';
import { MAX_CERTIFICATE } from '@waydesk/protocol/wire';

/** What the terminal tells the server of a card in its reader. */
export interface CardSeen {
  atr: Buffer;
  /** What `FF CA 00 00 00` answered (the card's UID, as the reader reports it), or null. */
  uid: Buffer | null;
  /** The PIV authentication certificate (slot 9A, DER), or null: not a PIV card, or none in the slot. */
  certificate: Buffer | null;
}

export type ReaderState = 'ready' | 'none' | 'unavailable';

export interface CardReaderEvents {
  state: [ReaderState];
  inserted: [CardSeen];
  unreadable: [string];
  removed: [];
}

/** The card will not sign without its PIN, or the PIN given was wrong (tries left, as the card says), or it is blocked. */
export class PinNeeded extends Error {
  override name = 'PinNeeded';
  constructor(
    readonly triesLeft: number | null,
    readonly blocked: boolean,
  ) {
    super(blocked ? "the card's PIN is blocked" : 'the card wants its PIN');
  }
}

/** What the terminal needs of a reader (the PC/SC one below, or none). */
export interface CardSource extends EventEmitter<CardReaderEvents> {
  readonly state: ReaderState;
  /**
   * Signs a 32-byte challenge with the PIV card's authentication key (GENERAL AUTHENTICATE, 9A,
   * ECC P-256), after giving the card its PIN if there is one. PinNeeded: the card wants it.
   */
  sign(challenge: Buffer, pin?: string): Promise<Buffer>;
  start(): void;
  stop(): void;
}

interface PcscCard {
  readonly atr: Buffer | null;
  transmit(command: Buffer | number[], options?: { maxRecvLength?: number }): Promise<Buffer>;
  disconnect(disposition?: number): void;
}
interface PcscReader {
  readonly name: string;
  connect(shareMode?: number, protocol?: number): Promise<PcscCard>;
}
interface PcscContext {
  listReaders(): PcscReader[];
  close(): void;
}
interface PcscMonitor {
  start(cb: (e: { type: string; reader: string; state: number; atr: Buffer | null }) => void): void;
  stop(): void;
}
interface Binding {
  Context: new () => PcscContext;
  ReaderMonitor: new () => PcscMonitor;
  SCARD_STATE_PRESENT: number;
}

const RETRY_MS = 1000;
const PIV_SELECT = Buffer.from('00a4040009a00000030800001000', 'hex');
const GET_UID = Buffer.from('ffca000000', 'hex');
/** GET DATA for the PIV authentication certificate object (5FC105). */
const GET_CERT = Buffer.from('00cb3fff055c035fc10500', 'hex');
/** Enough for any certificate object, its tags, and the status word. */
const MAX_ANSWER = MAX_CERTIFICATE + 64;

function ok(r: Buffer): boolean {
  return r.length >= 2 && r[r.length - 2] === 0x90 && r[r.length - 1] === 0x00;
}

/** Sends an APDU and follows 61 xx (GET RESPONSE) until the card has said all, within bounds. */
async function exchange(card: PcscCard, apdu: Buffer): Promise<Buffer> {
  let r = await card.transmit(apdu, { maxRecvLength: 258 });
  let data = r.subarray(0, -2);
  while (r.length >= 2 && r[r.length - 2] === 0x61) {
    if (data.length > MAX_ANSWER) throw new Error('the card answers more than a certificate takes');
    r = await card.transmit(Buffer.from([0x00, 0xc0, 0x00, 0x00, r[r.length - 1]!]), { maxRecvLength: 258 });
    data = Buffer.concat([data, r.subarray(0, -2)]);
  }
  return Buffer.concat([data, r.subarray(-2)]);
}

/** Reads BER-TLV at `at`: its tag's first byte, value, and where the next one starts. */
function tlvAt(b: Buffer, at: number): { tag: number; value: Buffer; next: number } | null {
  if (at + 2 > b.length) return null;
  let i = at;
  const tag = b[i++]!;
  if ((tag & 0x1f) === 0x1f) while (i < b.length && b[i++]! & 0x80) {}
  let len = b[i++]!;
  if (len === 0x81) len = b[i++]!;
  else if (len === 0x82) {
    len = (b[i]! << 8) | b[i + 1]!;
    i += 2;
  } else if (len > 0x82) return null;
  if (i + len > b.length) return null;
  return { tag, value: b.subarray(i, i + len), next: i + len };
}

/** The certificate (tag 70) inside a PIV certificate object (53 { 70 cert, 71 info, FE lrc }). */
export function certificateOf(object: Buffer): Buffer | null {
  const outer = tlvAt(object, 0);
  if (!outer || outer.tag !== 0x53) return null;
  for (let at = 0; at < outer.value.length; ) {
    const t = tlvAt(outer.value, at);
    if (!t) return null;
    if (t.tag === 0x70) return t.value.length > 0 && t.value.length <= MAX_CERTIFICATE ? Buffer.from(t.value) : null;
    at = t.next;
  }
  return null;
}

/**
 * One reader of the PC/SC service: `readerName` picks it (a reader whose name starts with it);
 * without it, the first reader there is.
 */
export class PcscCardReader extends EventEmitter<CardReaderEvents> implements CardSource {
  readonly #log: Logger;
  readonly #want: string | undefined;
  #binding: Binding | null = null;
  #monitor: PcscMonitor | null = null;
  #context: PcscContext | null = null;
  #retry: NodeJS.Timeout | null = null;
  #state: ReaderState = 'unavailable';
  #reader: string | null = null;
  #card: PcscCard | null = null;
  /** Bumps on every insertion and removal: a slow read of a card that left is dropped. */
  #generation = 0;
  #stopped = true;
  /** A card is in (as last seen): its removal is told once. */
  #cardIn = false;

  constructor(o: { readerName?: string; log: Logger }) {
    super();
    this.#want = o.readerName;
    this.#log = o.log;
  }

  get state(): ReaderState {
    return this.#state;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    void this.#open();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    this.#close();
  }

  async #load(): Promise<Binding> {
    // loaded on first use: a terminal without a reader (or without libpcsclite) still runs
    this.#binding ??= ((await import('smartcard')) as { default?: Binding } & Binding).default ?? ((await import('smartcard')) as unknown as Binding);
    return this.#binding;
  }

  #setState(s: ReaderState): void {
    if (s === this.#state) return;
    this.#state = s;
    this.#log.info({ reader: this.#reader ?? this.#want ?? null, state: s }, s === 'ready' ? 'card reader ready' : s === 'none' ? 'no card reader' : 'the PC/SC service is not available');
    this.emit('state', s);
  }

  #matches(name: string): boolean {
    return this.#want === undefined || name.startsWith(this.#want);
  }

  async #open(): Promise<void> {
    if (this.#stopped) return;
    let b: Binding;
    try {
      b = await this.#load();
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'the PC/SC binding does not load: no card reader on this terminal');
      this.#setState('unavailable');
      return;
    }
    if (this.#stopped) return;
    try {
      this.#context = new b.Context();
      const m = new b.ReaderMonitor();
      m.start((e) => setImmediate(() => this.#event(m, e)));
      this.#monitor = m;
      // the monitor names readers that are there already; none at all is a state of its own
      if (!this.#context.listReaders().some((r) => this.#matches(r.name))) this.#setState('none');
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'PC/SC is not there yet');
      this.#lost();
    }
  }

  /** pcscd went away (or never came): start over in a while. */
  #lost(): void {
    this.#close();
    this.#setState('unavailable');
    if (this.#stopped || this.#retry) return;
    this.#retry = setTimeout(() => {
      this.#retry = null;
      void this.#open();
    }, RETRY_MS);
  }

  #close(): void {
    const m = this.#monitor;
    this.#monitor = null;
    try {
      m?.stop();
    } catch {
      // already stopped
    }
    try {
      this.#card?.disconnect();
    } catch {
      // gone with pcscd
    }
    this.#card = null;
    try {
      this.#context?.close();
    } catch {
      // gone with pcscd
    }
    this.#context = null;
    // a card nobody can see any more counts as taken out: its session must not stay open on trust
    if (this.#cardIn) {
      this.#cardIn = false;
      this.#generation++;
      this.emit('removed');
    }
    this.#reader = null;
  }

  #event(m: PcscMonitor, e: { type: string; reader: string; state: number; atr: Buffer | null }): void {
    if (m !== this.#monitor || this.#stopped) return;
    const present = (e.state & (this.#binding?.SCARD_STATE_PRESENT ?? 0x20)) !== 0;
    switch (e.type) {
      case 'error':
        // the monitor goes on by itself after a passing error (a card read while pcscd polls);
        // only a service that is gone (our context with it) needs starting over
        try {
          this.#context?.listReaders();
          this.#log.debug({ err: e.reader }, 'a passing PC/SC error');
          return;
        } catch {
          this.#log.warn({ err: e.reader }, 'the PC/SC service went away; trying again');
          return this.#lost();
        }
      case 'reader-attached':
        if (!this.#matches(e.reader) || (this.#reader !== null && this.#reader !== e.reader)) return;
        this.#reader = e.reader;
        this.#setState('ready');
        if (present) void this.#inserted(e.reader);
        return;
      case 'reader-detached':
        if (e.reader !== this.#reader) return;
        this.#removed();
        this.#reader = null;
        this.#setState('none');
        return;
      case 'card-inserted':
        if (e.reader === this.#reader) void this.#inserted(e.reader);
        return;
      case 'card-removed':
        if (e.reader === this.#reader) this.#removed();
        return;
    }
  }

  #removed(): void {
    this.#generation++;
    try {
      this.#card?.disconnect();
    } catch {
      // pulled out: nothing to let go of
    }
    this.#card = null;
    if (!this.#cardIn) return;
    this.#cardIn = false;
    this.emit('removed');
  }

  async #inserted(readerName: string): Promise<void> {
    const gen = ++this.#generation;
    this.#cardIn = true;
    try {
      const reader = this.#context?.listReaders().find((r) => r.name === readerName);
      if (!reader) throw new Error('the reader went away');
      const card = await reader.connect();
      if (gen !== this.#generation) return void card.disconnect();
      this.#card = card;
      const uidAnswer = await card.transmit(GET_UID, { maxRecvLength: 258 });
      const uid = ok(uidAnswer) && uidAnswer.length > 2 ? Buffer.from(uidAnswer.subarray(0, -2)) : null;
      let certificate: Buffer | null = null;
      if (ok(await exchange(card, PIV_SELECT))) {
        const object = await exchange(card, GET_CERT);
        if (ok(object)) certificate = certificateOf(object.subarray(0, -2));
      }
      if (gen !== this.#generation) return;
      this.emit('inserted', { atr: Buffer.from(card.atr ?? []), uid, certificate });
    } catch (err) {
      if (gen !== this.#generation) return;
      this.#log.warn({ err: (err as Error).message }, 'a card is in the reader but could not be read');
      this.emit('unreadable', (err as Error).message.slice(0, 200));
    }
  }

  async sign(challenge: Buffer, pin?: string): Promise<Buffer> {
    const card = this.#card;
    if (!card) throw new Error('no card in the reader');
    if (pin !== undefined) {
      // VERIFY the PIV application PIN (key reference 80), padded with FF to 8 bytes
      const padded = Buffer.alloc(8, 0xff);
      Buffer.from(pin, 'latin1').copy(padded, 0, 0, 8);
      const v = await card.transmit(Buffer.concat([Buffer.from([0x00, 0x20, 0x00, 0x80, 0x08]), padded]), { maxRecvLength: 258 });
      const [sw1, sw2] = [v[v.length - 2], v[v.length - 1]];
      if (sw1 === 0x63 && (sw2! & 0xf0) === 0xc0) throw new PinNeeded(sw2! & 0x0f, (sw2! & 0x0f) === 0);
      if (sw1 === 0x69 && sw2 === 0x83) throw new PinNeeded(0, true);
      if (!ok(v)) throw new Error(`the card refused its PIN (status ${v.subarray(-2).toString('hex')})`);
    }
    // 7C { 82 00 (the response goes here), 81 the challenge }
    const inner = Buffer.concat([Buffer.from([0x82, 0x00, 0x81, challenge.length]), challenge]);
    const apdu = Buffer.concat([Buffer.from([0x00, 0x87, 0x11, 0x9a, inner.length + 2, 0x7c, inner.length]), inner, Buffer.from([0x00])]);
    const r = await exchange(card, apdu);
    // security status not satisfied: the key wants the PIN first
    if (r.length === 2 && r[0] === 0x69 && r[1] === 0x82) throw new PinNeeded(null, false);
    if (!ok(r)) throw new Error(`the card refused to sign (status ${r.subarray(-2).toString('hex')})`);
    const outer = tlvAt(r.subarray(0, -2), 0);
    const sig = outer?.tag === 0x7c ? tlvAt(outer.value, 0) : null;
    if (!sig || sig.tag !== 0x82) throw new Error('the card answered without a signature');
    return Buffer.from(sig.value);
  }
}
