// What one small message costs a Node process to send, right after other work and after a quiet
// spell. A key crosses three Node processes (terminal, server, compositor) before the frame
// comes back through two of them, so this is the floor under waydesk's keystroke latency on the
// machine at hand.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { WebSocket, WebSocketServer } from 'ws';
import { percentile, type Report } from './report.js';

type Writer = (b: Buffer) => void;

async function pair(kind: 'tcp' | 'tls' | 'websocket', key: Buffer, cert: Buffer): Promise<{ write: Writer; close: () => void }> {
  return new Promise((resolve) => {
    const done = (write: Writer, close: () => void): void => resolve({ write, close });
    if (kind === 'websocket') {
      const srv = https.createServer({ key, cert });
      const wss = new WebSocketServer({ server: srv, perMessageDeflate: false });
      wss.on('connection', (ws, req) => {
        req.socket.setNoDelay(true);
        ws.on('error', () => {});
        done((b) => ws.send(b), () => {
          client.terminate();
          wss.close();
          srv.close();
        });
      });
      let client: WebSocket;
      srv.listen(0, '127.0.0.1', () => {
        client = new WebSocket(`wss://127.0.0.1:${(srv.address() as net.AddressInfo).port}`, { rejectUnauthorized: false, perMessageDeflate: false });
        client.on('message', () => {});
        client.on('error', () => {});
      });
      return;
    }
    const srv = kind === 'tls' ? tls.createServer({ key, cert }) : net.createServer();
    srv.on(kind === 'tls' ? 'secureConnection' : 'connection', (sock: net.Socket) => {
      sock.setNoDelay(true);
      sock.on('error', () => {}); // the reset of our own closing
      done((b) => sock.write(b), () => {
        sock.destroy();
        client.destroy();
        srv.close();
      });
    });
    let client: net.Socket;
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      client = kind === 'tls' ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }) : net.connect(port, '127.0.0.1');
      client.on('data', () => {});
      client.on('error', () => {});
    });
  });
}

/** Microseconds the synchronous send of a 60-byte message takes, `n` times, `gapMs` apart. */
async function sendTimes(write: Writer, gapMs: number, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    await new Promise((r) => setTimeout(r, gapMs));
    const msg = Buffer.alloc(60, i);
    const t0 = process.hrtime.bigint();
    write(msg);
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return times;
}

export async function benchHost(r: Report): Promise<void> {
  r.note('host: a 60-byte send from Node on loopback, 1 ms after the last one and after 100 ms of quiet');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-host-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${dir}/k.pem`, '-out', `${dir}/c.pem`, '-days', '1', '-subj', '/CN=bench'], { stdio: 'ignore' });
    const key = fs.readFileSync(`${dir}/k.pem`);
    const cert = fs.readFileSync(`${dir}/c.pem`);
    for (const kind of ['tcp', 'tls', 'websocket'] as const) {
      const p = await pair(kind, key, cert);
      try {
        await sendTimes(p.write, 1, 50); // warm-up
        const warm = await sendTimes(p.write, 1, 200);
        const quiet = await sendTimes(p.write, 100, 50);
        r.add(`host_send_${kind}`, 'after_1ms_p50', percentile(warm, 50), 'us');
        r.add(`host_send_${kind}`, 'after_100ms_quiet_p50', percentile(quiet, 50), 'us');
        r.add(`host_send_${kind}`, 'after_100ms_quiet_p90', percentile(quiet, 90), 'us');
      } finally {
        p.close();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
