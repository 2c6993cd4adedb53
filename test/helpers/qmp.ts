// QEMU's machine protocol (QMP) over its Unix socket: what a test does to a guest from outside,
// as a person at it would (look at its screen, type on its keyboard, pull its network cable).
import fs from 'node:fs';
import net from 'node:net';
import { keystrokes } from '../../protocol/src/us-keys.js';

export interface Picture {
  width: number;
  height: number;
  /** RGB, width*height*3. */
  rgb: Buffer;
}

export class Qmp {
  readonly #sock: net.Socket;
  #buf = '';
  readonly #waiting: Array<{ resolve: (v: unknown) => void; reject: (e: Error) => void }> = [];
  /** Asynchronous events QEMU sent (NIC_RX_FILTER_CHANGED and the like), newest last. */
  readonly events: Array<{ event: string; data?: unknown }> = [];

  private constructor(sock: net.Socket) {
    this.#sock = sock;
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.#buf += d;
      let nl;
      while ((nl = this.#buf.indexOf('\n')) >= 0) {
        const line = this.#buf.slice(0, nl).trim();
        this.#buf = this.#buf.slice(nl + 1);
        if (!line) continue;
        const m = JSON.parse(line) as { QMP?: unknown; event?: string; return?: unknown; error?: { class: string; desc: string } };
        if (m.QMP) continue;
        if (m.event) {
          this.events.push(m as { event: string });
          continue;
        }
        const w = this.#waiting.shift();
        if (!w) continue;
        if (m.error) w.reject(new Error(`QMP: ${m.error.class}: ${m.error.desc}`));
        else w.resolve(m.return);
      }
    });
  }

  static async connect(socketPath: string, timeoutMs = 10_000): Promise<Qmp> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        const sock = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(socketPath, () => resolve(s));
          s.once('error', reject);
        });
        const q = new Qmp(sock);
        await q.execute('qmp_capabilities');
        return q;
      } catch (err) {
        if (Date.now() > end) throw new Error(`cannot reach QEMU's QMP socket ${socketPath}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#sock.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    });
  }

  /** What the guest's display shows now (its framebuffer; a hardware cursor is not in it). */
  async screen(file: string): Promise<Picture> {
    await this.execute('screendump', { filename: file });
    return readPpm(fs.readFileSync(file));
  }

  /**
   * Types text on the guest's keyboard: each key's evdev code is its PC scancode for these
   * keys, which is what QMP's "number" key values are.
   */
  async type(text: string, gapMs = 15): Promise<void> {
    for (const k of keystrokes(text)) await this.key(k.code, k.pressed, gapMs);
  }

  /** On the keyboard QEMU routes input to: the one plugged in last. */
  async key(code: number, down: boolean, gapMs = 15): Promise<void> {
    await this.execute('input-send-event', { events: [{ type: 'key', data: { down, key: { type: 'number', data: code } } }] });
    if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
  }

  /** The guest's network cable, by the NIC's id. */
  async link(nic: string, up: boolean): Promise<void> {
    await this.execute('set_link', { name: nic, up });
  }

  close(): void {
    this.#sock.destroy();
  }
}

/** A binary PPM (P6, maxval 255), as QEMU's screendump writes it. */
export function readPpm(data: Buffer): Picture {
  const header = /^P6\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(data.subarray(0, 64).toString('latin1'));
  if (!header || header[3] !== '255') throw new Error('not a P6 PPM with maxval 255');
  const width = Number(header[1]), height = Number(header[2]);
  return { width, height, rgb: data.subarray(header[0].length, header[0].length + width * height * 3) };
}
