// What the server holds for a terminal is bounded by construction: a terminal that stops reading,
// asks for whole pictures without end, acknowledges frames it never got, resizes a thousand
// times a second, or opens hundreds of connections and says nothing.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { WIRE_VERSION, decodeServerMessage, encodeTerminalMessage, type Display } from '@waydesk/protocol/wire';
import { sleep, waitFor } from '../helpers/compositor.js';
import { startDevServer, startTerminal, type DevServer } from '../helpers/server.js';

const HD: Display = { width: 1920, height: 1080, refreshMhz: 60000 };

function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

function compositorOf(s: DevServer): number {
  return Number(fs.readFileSync(`/proc/${s.proc.pid}/task/${s.proc.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
}

function greeting(s: DevServer, display: Display = HD): Uint8Array[] {
  return [
    encodeTerminalMessage({ type: 'hello', body: { version: WIRE_VERSION, terminalId: 'bounds', kind: 'headless', displays: [display], codecs: ['tiles', 'h264'], input: ['keyboard', 'pointer'] } }),
    encodeTerminalMessage({ type: 'auth', body: { token: s.token } }),
  ];
}

function open(s: DevServer): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(s.url, { rejectUnauthorized: false, perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('a terminal that stops reading', () => {
  let s: DevServer;
  let dir: string;
  beforeAll(async () => {
    // An incompressible wallpaper: every whole picture is as big as a 1080p picture gets (~6 MB).
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-noise-'));
    fs.chmodSync(dir, 0o755);
    const png = path.join(dir, 'noise.png');
    execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', "nullsrc=s=1920x1080,geq=r='random(1)*255':g='random(2)*255':b='random(3)*255'", '-frames:v', '1', png]);
    fs.chmodSync(png, 0o644);
    s = await startDevServer(['swaybg', '-i', png, '-m', 'stretch']);
  });
  afterAll(async () => {
    await s?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is dropped after about two whole pictures wait for it, however many it asks for, and the memory is bounded', async () => {
    // the desktop's picture at rest, read by a terminal that does read
    const { terminal } = startTerminal(s);
    await waitFor('the noise wallpaper', () => terminal.painter.width === 1920 && terminal.painter.framebuffer.readUInt32LE(4 * (540 * 1920 + 960)) !== 0, 15_000);
    await sleep(1000);
    terminal.stop();
    await sleep(500);
    const server0 = rss(s.proc.pid!);
    const compositor = compositorOf(s);
    const compositor0 = rss(compositor);

    const ws = await open(s);
    const raw = (ws as unknown as { _socket: net.Socket })._socket;
    for (const m of greeting(s)) ws.send(m);
    // it stops reading, and asks for a whole picture every 20 ms (300 in all); requests that come
    // while one is on its way are one request, so it takes a while to ask for more than it reads
    raw.pause();
    let asked = 0;
    const flood = setInterval(() => {
      if (asked++ < 300) ws.send(encodeTerminalMessage({ type: 'keyframe-request' }));
    }, 20);
    let peakServer = 0;
    let peakCompositor = 0;
    try {
      await waitFor('the server to drop it', () => {
        peakServer = Math.max(peakServer, rss(s.proc.pid!));
        peakCompositor = Math.max(peakCompositor, rss(compositor));
        return /"reason":"it does not read what it is sent/.test(s.log());
      }, 30_000, 50);
    } finally {
      clearInterval(flood);
    }
    expect(s.log()).toMatch(/"reason":"it does not read what it is sent: \d+ bytes waiting, the limit is 13490176"/);
    ws.terminate();
    // 300 pictures would be 1.8 GB; what it held stays within 40 MB of where it was, at its peak
    console.log(`flood: ${asked} requests sent; server RSS +${((peakServer - server0) / 2 ** 20).toFixed(1)} MiB, compositor +${((peakCompositor - compositor0) / 2 ** 20).toFixed(1)} MiB at the peak`);
    expect(peakServer - server0).toBeLessThan(40 * 1024 * 1024);
    expect(peakCompositor - compositor0).toBeLessThan(40 * 1024 * 1024);
    expect(s.proc.exitCode).toBeNull();
  });
});

describe('acknowledgements and resizes', () => {
  let s: DevServer;
  beforeAll(async () => {
    s = await startDevServer(['weston-simple-shm']); // draws a new frame at the refresh rate, always
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('acks for frames never sent release nothing: the desktop waits for the ones it sent', async () => {
    const ws = await open(s);
    const seqs: number[] = [];
    ws.on('message', (d: Buffer) => {
      const m = decodeServerMessage(d);
      if (m.type === 'frame') seqs.push(m.body.seq);
    });
    for (const m of greeting(s, { width: 800, height: 600, refreshMhz: 60000 })) ws.send(m);
    await waitFor('the whole picture', () => seqs.length > 0, 10_000);
    // ack everything but what came: 2,000 made-up sequence numbers
    for (let i = 0; i < 2000; i++) ws.send(encodeTerminalMessage({ type: 'frame-ack', seq: (seqs[0]! + 100 + i) % 65536 }));
    await sleep(1500);
    // the animation runs at 60 fps, yet only the credits' worth came: the whole picture and one frame
    expect(seqs.length).toBeLessThanOrEqual(2);
    // acknowledging what did come lets the stream flow
    const acked = new Set<number>();
    const ackAll = (): void => {
      for (const q of seqs) if (!acked.has(q)) {
        acked.add(q);
        ws.send(encodeTerminalMessage({ type: 'frame-ack', seq: q }));
      }
    };
    const t = setInterval(ackAll, 5);
    await sleep(1000);
    clearInterval(t);
    expect(seqs.length).toBeGreaterThan(20);
    ws.close();
  });

  it('1,000 resizes in a second cause a handful of output changes, and the last size wins', async () => {
    const ws = await open(s);
    let frames = 0;
    let last = { width: 0, height: 0 };
    ws.on('message', (d: Buffer) => {
      const m = decodeServerMessage(d);
      if (m.type === 'frame') {
        frames++;
        last = { width: m.body.width, height: m.body.height };
        ws.send(encodeTerminalMessage({ type: 'frame-ack', seq: m.body.seq }));
      }
    });
    for (const m of greeting(s, { width: 1024, height: 768, refreshMhz: 60000 })) ws.send(m);
    await waitFor('the desktop', () => frames > 0, 10_000);
    const resized = (): number => (s.log().match(/"msg":"output resized"/g) ?? []).length;
    const before = resized();
    const t0 = Date.now();
    for (let i = 0; i < 1000; i++) {
      ws.send(encodeTerminalMessage({ type: 'resize', display: { width: 800 + (i % 400), height: 600 + (i % 200), refreshMhz: 60000 } }));
      if (i % 100 === 99) await sleep(Math.max(0, ((i + 1) / 1000) * 1000 - (Date.now() - t0)));
    }
    // the last one asked for: 800 + 999 % 400 = 999 wide, 600 + 999 % 200 = 799 high
    await waitFor('the last size', () => last.width === 999 && last.height === 799, 5000).catch((err: Error) => {
      throw new Error(`${err.message}: frames ${frames}, last ${JSON.stringify(last)}; ${s.log().split('\n').filter((l) => /resized|rejected|error|refused/.test(l)).slice(-6).join('\n')}`);
    });
    await sleep(500);
    const changes = resized() - before;
    expect(changes).toBeGreaterThan(0);
    expect(changes).toBeLessThanOrEqual(6); // one per 250 ms over about a second, and the last
    ws.close();
  });
});

describe('connections that say nothing', () => {
  let s: DevServer;
  beforeAll(async () => {
    s = await startDevServer([]);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('500 idle connections do not keep a real terminal out, and are closed by their deadlines', async () => {
    const port = Number(new URL(s.url).port);
    const idle: net.Socket[] = [];
    const closed = { tcp: 0, tls: 0, ws: 0 };
    // 300 that never start TLS, 100 that finish the handshake and never ask for anything, 100
    // WebSockets that never say hello
    for (let i = 0; i < 300; i++) {
      const c = net.connect(port, '127.0.0.1');
      c.on('error', () => {});
      c.on('close', () => closed.tcp++);
      idle.push(c);
    }
    for (let i = 0; i < 100; i++) {
      const c = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
      c.on('error', () => {});
      c.on('close', () => closed.tls++);
      idle.push(c);
    }
    const sockets: WebSocket[] = [];
    for (let i = 0; i < 100; i++) {
      const w = new WebSocket(s.url, { rejectUnauthorized: false, perMessageDeflate: false });
      w.on('error', () => {});
      w.on('close', () => closed.ws++);
      sockets.push(w);
    }
    await sleep(500);
    const t0 = Date.now();
    const { terminal } = startTerminal(s, { width: 800, height: 600 });
    await waitFor('a real terminal to get its desktop', () => terminal.painter.width === 800, 10_000);
    const tookMs = Date.now() - t0;
    terminal.stop();
    expect(tookMs).toBeLessThan(5000);
    // the silent ones are closed by the server: hello deadline 5 s, TLS handshake 10 s
    await waitFor('the silent WebSockets to be closed', () => closed.ws === 100, 10_000);
    await waitFor('the silent TCP connections to be closed', () => closed.tcp === 300, 15_000);
    for (const c of idle) c.destroy();
  }, 60_000);
});
