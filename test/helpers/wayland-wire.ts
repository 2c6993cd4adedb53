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
