import net from 'node:net';

/** Asks a running mpv (--input-ipc-server) for properties. */
export async function mpvProps(socket: string, names: string[]): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socket);
    const out: Record<string, number> = {};
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('mpv did not answer'));
    }, 3000);
    s.on('connect', () => {
      names.forEach((n, i) => s.write(JSON.stringify({ command: ['get_property', n], request_id: i + 1 }) + '\n'));
    });
    s.on('data', (d) => {
      buf += d.toString();
      for (;;) {
        const nl = buf.indexOf('\n');
        if (nl < 0) break;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = JSON.parse(line) as { request_id?: number; data?: number };
        if (m.request_id) out[names[m.request_id - 1]!] = Number(m.data ?? 0);
      }
      if (Object.keys(out).length === names.length) {
        clearTimeout(timer);
        s.destroy();
        resolve(out);
      }
    });
    s.on('error', reject);
  });
}

/** Frames mpv put on screen so far: decoded frames minus those it dropped. */
export async function mpvShown(socket: string): Promise<number> {
  const p = await mpvProps(socket, ['estimated-frame-number', 'frame-drop-count', 'decoder-frame-drop-count']);
  return (p['estimated-frame-number'] ?? 0) - (p['frame-drop-count'] ?? 0) - (p['decoder-frame-drop-count'] ?? 0);
}
