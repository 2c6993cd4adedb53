import net from 'node:net';

/**
 * The smallest real Wayland client: get_registry + sync on the raw wire, wait for the
 * callback's done event. Enough to exercise connect/disconnect without libwayland.
 */
export function registryRoundtrip(socketPath: string, timeoutMs = 5000): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    let buf = Buffer.alloc(0);
    let globals = 0;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('no wl_callback.done within timeout'));
    }, timeoutMs);
    sock.on('connect', () => {
      const msg = Buffer.alloc(24);
      // wl_display@1.get_registry(new_id 2): opcode 1, size 12
      msg.writeUInt32LE(1, 0);
      msg.writeUInt32LE((12 << 16) | 1, 4);
      msg.writeUInt32LE(2, 8);
      // wl_display@1.sync(new_id 3): opcode 0, size 12
      msg.writeUInt32LE(1, 12);
      msg.writeUInt32LE((12 << 16) | 0, 16);
      msg.writeUInt32LE(3, 20);
      sock.write(msg);
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 8) {
        const id = buf.readUInt32LE(0);
        const size = buf.readUInt32LE(4) >>> 16;
        if (size < 8 || buf.length < size) break;
        if (id === 2) globals++;
        if (id === 3) {
          clearTimeout(timer);
          sock.destroy();
          resolve(globals);
          return;
        }
        buf = buf.subarray(size);
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** A Wayland argument as it goes on the wire. */
export type WireArg = { u: number } | { s: string } | { o: number };

/**
 * A tiny Wayland client on the raw wire, for protocols no Debian client speaks in a scriptable
 * way (a panel's window list): bind globals, send requests, read events as bytes.
 */
export class WireClient {
  readonly globals = new Map<string, { name: number; version: number }>();
  #sock: net.Socket;
  #buf = Buffer.alloc(0);
  #nextId = 2;
  #syncs = new Map<number, () => void>();
  readonly #handlers = new Map<number, (opcode: number, body: Buffer) => void>();

  private constructor(sock: net.Socket) {
    this.#sock = sock;
    sock.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      while (this.#buf.length >= 8) {
        const id = this.#buf.readUInt32LE(0);
        const word = this.#buf.readUInt32LE(4);
        const size = word >>> 16;
        if (size < 8 || this.#buf.length < size) break;
        const body = this.#buf.subarray(8, size);
        this.#buf = this.#buf.subarray(size);
        const sync = this.#syncs.get(id);
        if (sync) {
          this.#syncs.delete(id);
          sync();
          continue;
        }
        this.#handlers.get(id)?.(word & 0xffff, Buffer.from(body));
      }
    });
  }

  static async connect(socketPath: string): Promise<WireClient> {
    const sock = net.connect(socketPath);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const c = new WireClient(sock);
    const registry = c.newId();
    c.on(registry, (op, body) => {
      if (op !== 0) return;
      const name = body.readUInt32LE(0);
      const [iface, at] = readString(body, 4);
      c.globals.set(iface, { name, version: body.readUInt32LE(at) });
    });
    c.send(1, 1, [{ u: registry }]);
    await c.roundtrip();
    return c;
  }

  newId(): number {
    return this.#nextId++;
  }

  on(id: number, handler: (opcode: number, body: Buffer) => void): void {
    this.#handlers.set(id, handler);
  }

  send(id: number, opcode: number, args: WireArg[]): void {
    const parts = args.map((a) => {
      if ('s' in a) {
        const bytes = Buffer.from(`${a.s}\0`);
        const out = Buffer.alloc(4 + Math.ceil(bytes.length / 4) * 4);
        out.writeUInt32LE(bytes.length, 0);
        bytes.copy(out, 4);
        return out;
      }
      const out = Buffer.alloc(4);
      out.writeUInt32LE('u' in a ? a.u : a.o, 0);
      return out;
    });
    const body = Buffer.concat(parts);
    const head = Buffer.alloc(8);
    head.writeUInt32LE(id, 0);
    head.writeUInt32LE(((8 + body.length) << 16) | opcode, 4);
    this.#sock.write(Buffer.concat([head, body]));
  }

  /** Binds a global by its interface name; the new object's id. */
  bind(iface: string, version: number): number {
    const g = this.globals.get(iface);
    if (!g) throw new Error(`the compositor has no ${iface}`);
    const id = this.newId();
    // wl_registry@2.bind(name, new_id: interface, version, id)
    this.send(2, 0, [{ u: g.name }, { s: iface }, { u: Math.min(version, g.version) }, { u: id }]);
    return id;
  }

  /** Resolves once the compositor has handled everything sent before it. */
  roundtrip(timeoutMs = 5000): Promise<void> {
    const id = this.newId();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no wl_callback.done')), timeoutMs);
      this.#syncs.set(id, () => {
        clearTimeout(t);
        resolve();
      });
      this.send(1, 0, [{ u: id }]);
    });
  }

  close(): void {
    this.#sock.destroy();
  }
}

/** A wire string at `at`: its text and where the next argument starts. */
export function readString(b: Buffer, at: number): [string, number] {
  const len = b.readUInt32LE(at);
  return [b.subarray(at + 4, at + 4 + Math.max(0, len - 1)).toString('utf8'), at + 4 + Math.ceil(len / 4) * 4];
}
