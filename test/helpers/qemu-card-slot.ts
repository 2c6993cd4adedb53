// A card reader in a QEMU guest: QEMU's usb-ccid reader with a ccid-card-passthru card, whose
// chardev speaks libcacard's VSCard protocol to us, the card's side. Header: type, reader id,
// length (u32 big-endian each), then the payload. We say Init and add the reader; an ATR inserts
// a card, CardRemove takes it out; QEMU sends each command APDU the guest's pcscd sends, and we
// answer with FakeCard's response. (QEMU answers card resets itself, and takes one answer of at
// most 374 bytes per APDU: FakeCard sends 256 bytes at a time.)
import net from 'node:net';
import { waitFor } from './compositor.js';
import type { FakeCard } from './fake-card.js';

const VSC = { Init: 1, Error: 2, ReaderAdd: 3, ATR: 5, CardRemove: 6, APDU: 7 } as const;
const MAGIC = Buffer.from('VSCD');
const VERSION = 2;
/** The reader usb-ccid takes a card in: T=0 only (its descriptor says so; libccid holds it to that). */
export const T0_ATR = Buffer.from('3b0441424344', 'hex');

/** The QEMU arguments for a USB CCID reader whose card is what this slot's socket says. */
export function ccidArgs(socket: string): string[] {
  return ['-device', 'qemu-xhci,id=usb0', '-device', 'usb-ccid,bus=usb0.0', '-chardev', `socket,id=ccid0,path=${socket},server=on,wait=off`, '-device', 'ccid-card-passthru,chardev=ccid0'];
}

export class QemuCardSlot {
  readonly #sock: net.Socket;
  #buf = Buffer.alloc(0);
  #card: FakeCard | null = null;
  /** Error replies (QEMU's acks: code 0 is success), in order. */
  readonly #acks: number[] = [];
  #initSeen = false;

  private constructor(sock: net.Socket) {
    this.#sock = sock;
    sock.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      while (this.#buf.length >= 12) {
        const type = this.#buf.readUInt32BE(0), len = this.#buf.readUInt32BE(8);
        if (this.#buf.length < 12 + len) break;
        const payload = this.#buf.subarray(12, 12 + len);
        this.#buf = this.#buf.subarray(12 + len);
        if (type === VSC.Init) this.#initSeen = true;
        else if (type === VSC.Error) this.#acks.push(payload.length >= 4 ? payload.readUInt32BE(0) : -1);
        else if (type === VSC.APDU) this.#send(VSC.APDU, this.#card ? this.#card.answer(Buffer.from(payload)) : Buffer.from([0x6f, 0x00]));
      }
    });
  }

  /** Connects to QEMU's chardev (retrying while QEMU starts) and adds the reader. */
  static async connect(socketPath: string): Promise<QemuCardSlot> {
    const sock = await waitFor(`QEMU's card socket ${socketPath}`, () =>
      new Promise<net.Socket | null>((resolve) => {
        const s = net.connect(socketPath, () => resolve(s));
        s.once('error', () => resolve(null));
      }), 15_000, 100);
    const slot = new QemuCardSlot(sock);
    const init = Buffer.alloc(12);
    MAGIC.copy(init, 0);
    init.writeUInt32BE(VERSION, 4);
    slot.#send(VSC.Init, init);
    await waitFor('QEMU to answer the card slot', () => slot.#initSeen, 10_000);
    await slot.#acked(VSC.ReaderAdd, Buffer.from('waydesk test slot'));
    return slot;
  }

  #send(type: number, payload: Buffer): void {
    const h = Buffer.alloc(12);
    h.writeUInt32BE(type, 0);
    h.writeUInt32BE(0, 4);
    h.writeUInt32BE(payload.length, 8);
    // one write per message: QEMU's reader of the socket is easily confused by halves
    this.#sock.write(Buffer.concat([h, payload]));
  }

  async #acked(type: number, payload: Buffer): Promise<void> {
    const n = this.#acks.length;
    this.#send(type, payload);
    await waitFor(`QEMU to take message ${type}`, () => this.#acks.length > n, 10_000);
    const code = this.#acks[n]!;
    if (code !== 0) throw new Error(`QEMU refused message ${type} (error ${code})`);
  }

  /** Puts the card in the reader (its ATR is QEMU's reader's own T=0 one). */
  async insert(card: FakeCard): Promise<void> {
    card.powerOn();
    this.#card = card;
    await this.#acked(VSC.ATR, T0_ATR);
  }

  async remove(): Promise<void> {
    await this.#acked(VSC.CardRemove, Buffer.alloc(0));
    this.#card = null;
  }

  close(): void {
    this.#sock.destroy();
  }
}
