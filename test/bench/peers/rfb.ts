// A small RFB 3.8 client for measuring VNC servers: security None, 32-bit pixels, one encoding,
// one incremental update request always outstanding. Payloads are sized and skipped, not decoded.
import net from 'node:net';

export const Encoding = { Raw: 0, CopyRect: 1, Tight: 7, ZRLE: 16, JpegQuality0: -32, CompressLevel0: -256, DesktopSize: -223, LastRect: -224, Cursor: -239 } as const;

class Reader {
  #chunks: Buffer[] = [];
  #len = 0;
  #wait: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | null = null;
  #error: Error | null = null;

  push(b: Buffer): void {
    this.#chunks.push(b);
    this.#len += b.length;
    this.#serve();
  }
  fail(e: Error): void {
    this.#error = e;
    this.#wait?.reject(e);
    this.#wait = null;
  }
  #serve(): void {
    if (!this.#wait || this.#len < this.#wait.n) return;
    const { n, resolve } = this.#wait;
    this.#wait = null;
    resolve(this.#take(n));
  }
  #take(n: number): Buffer {
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.#chunks = rest.length ? [rest] : [];
    this.#len -= n;
    return out;
  }
  read(n: number): Promise<Buffer> {
    if (this.#error) return Promise.reject(this.#error);
    if (n === 0) return Promise.resolve(Buffer.alloc(0));
    if (this.#len >= n) return Promise.resolve(this.#take(n));
    return new Promise((resolve, reject) => (this.#wait = { n, resolve, reject }));
  }
}

export class RfbClient {
  readonly #sock: net.Socket;
  readonly #r = new Reader();
  bytesDown = 0;
  bytesUp = 0;
  width = 0;
  height = 0;
  updates = 0;
  onUpdate: (bytes: number) => void = () => {};
  #closed = false;

  private constructor(sock: net.Socket) {
    this.#sock = sock;
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => {
      this.bytesDown += d.length;
      this.#r.push(d);
    });
    sock.on('close', () => {
      this.#closed = true;
      this.#r.fail(new Error('VNC connection closed'));
    });
    sock.on('error', () => {});
  }

  static async connect(port: number, encodings: number[]): Promise<RfbClient> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const c = new RfbClient(sock);
    await c.#handshake(encodings);
    void c.#loop().catch(() => {});
    return c;
  }

  #write(b: Buffer): void {
    this.bytesUp += b.length;
    this.#sock.write(b);
  }

  async #handshake(encodings: number[]): Promise<void> {
    const version = (await this.#r.read(12)).toString('latin1');
    if (!version.startsWith('RFB 003.')) throw new Error(`not an RFB server: ${JSON.stringify(version)}`);
    this.#write(Buffer.from('RFB 003.008\n'));
    const n = (await this.#r.read(1))[0]!;
    if (n === 0) throw new Error('the VNC server refused the connection');
    const types = [...(await this.#r.read(n))];
    if (!types.includes(1)) throw new Error(`the VNC server wants authentication (types ${types.join(',')})`);
    this.#write(Buffer.of(1));
    if ((await this.#r.read(4)).readUInt32BE(0) !== 0) throw new Error('VNC security handshake failed');
    this.#write(Buffer.of(1)); // shared
    const init = await this.#r.read(24);
    this.width = init.readUInt16BE(0);
    this.height = init.readUInt16BE(2);
    await this.#r.read(init.readUInt32BE(20));
    // 32 bits per pixel, depth 24, little endian, true colour, BGRX
    const pf = Buffer.alloc(20);
    pf[0] = 0;
    pf.writeUInt8(32, 4);
    pf.writeUInt8(24, 5);
    pf.writeUInt8(0, 6);
    pf.writeUInt8(1, 7);
    pf.writeUInt16BE(255, 8);
    pf.writeUInt16BE(255, 10);
    pf.writeUInt16BE(255, 12);
    pf.writeUInt8(16, 14);
    pf.writeUInt8(8, 15);
    pf.writeUInt8(0, 16);
    this.#write(pf);
    const se = Buffer.alloc(4 + encodings.length * 4);
    se[0] = 2;
    se.writeUInt16BE(encodings.length, 2);
    encodings.forEach((e, i) => se.writeInt32BE(e, 4 + i * 4));
    this.#write(se);
    this.#request(false);
  }

  #request(incremental: boolean): void {
    const b = Buffer.alloc(10);
    b[0] = 3;
    b[1] = incremental ? 1 : 0;
    b.writeUInt16BE(this.width, 6);
    b.writeUInt16BE(this.height, 8);
    this.#write(b);
  }

  /** A key press and release by X keysym, as a VNC viewer sends it. */
  keysym(sym: number, down: boolean): void {
    const b = Buffer.alloc(8);
    b[0] = 4;
    b[1] = down ? 1 : 0;
    b.writeUInt32BE(sym >>> 0, 4);
    this.#write(b);
  }

  async #compactLen(): Promise<number> {
    let len = 0;
    for (let i = 0; i < 3; i++) {
      const b = (await this.#r.read(1))[0]!;
      len |= (b & (i === 2 ? 0xff : 0x7f)) << (7 * i);
      if (i < 2 && !(b & 0x80)) break;
    }
    return len;
  }

  async #skipTight(w: number, h: number): Promise<void> {
    const control = (await this.#r.read(1))[0]!;
    const kind = control >> 4;
    if (kind === 8) {
      await this.#r.read(3); // fill with one 24-bit pixel
      return;
    }
    if (kind === 9) {
      await this.#r.read(await this.#compactLen()); // JPEG
      return;
    }
    let filter = 0;
    if (control & 0x40) filter = (await this.#r.read(1))[0]!;
    let size = w * h * 3;
    if (filter === 1) {
      const colours = (await this.#r.read(1))[0]! + 1;
      await this.#r.read(colours * 3);
      size = colours === 2 ? Math.ceil(w / 8) * h : w * h;
    }
    if (size < 12) await this.#r.read(size);
    else await this.#r.read(await this.#compactLen());
  }

  async #loop(): Promise<void> {
    for (;;) {
      const type = (await this.#r.read(1))[0]!;
      if (type === 0) {
        const start = this.bytesDown;
        const head = await this.#r.read(3);
        const n = head.readUInt16BE(1);
        for (let i = 0; i < n; i++) {
          const rh = await this.#r.read(12);
          const w = rh.readUInt16BE(4), h = rh.readUInt16BE(6);
          const enc = rh.readInt32BE(8);
          if (enc === Encoding.LastRect) break;
          if (enc === Encoding.Raw) await this.#r.read(w * h * 4);
          else if (enc === Encoding.CopyRect) await this.#r.read(4);
          else if (enc === Encoding.ZRLE) await this.#r.read((await this.#r.read(4)).readUInt32BE(0));
          else if (enc === Encoding.Tight) await this.#skipTight(w, h);
          else if (enc === Encoding.DesktopSize) {
            this.width = w;
            this.height = h;
          } else if (enc === Encoding.Cursor) await this.#r.read(w * h * 4 + Math.ceil(w / 8) * h);
          else throw new Error(`unexpected encoding ${enc}`);
        }
        this.updates++;
        this.onUpdate(this.bytesDown - start);
        this.#request(true);
      } else if (type === 1) {
        const h = await this.#r.read(5);
        await this.#r.read(h.readUInt16BE(3) * 6);
      } else if (type === 2) {
        // bell
      } else if (type === 3) {
        const h = await this.#r.read(7);
        await this.#r.read(h.readUInt32BE(3));
      } else {
        throw new Error(`unexpected RFB message ${type}`);
      }
    }
  }

  close(): void {
    if (!this.#closed) this.#sock.destroy();
  }
}
