// 100,000 random and mutated messages at the real terminal endpoint. Every bad message must
// get an error and a closed connection; nothing may crash the server or leak into the session.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { WIRE_VERSION, WireType, decodeServerMessage, decodeTerminalMessage, encodeTerminalMessage, type TerminalMessage } from '@waydesk/protocol/wire';
import { startDevServer, startTerminal, type DevServer } from '../helpers/server.js';
import { waitFor } from '../helpers/compositor.js';

/** Deterministic PRNG so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HELLO = encodeTerminalMessage({
  type: 'hello',
  body: { version: WIRE_VERSION, terminalId: 'fuzzer', kind: 'headless', displays: [{ width: 1280, height: 720, refreshMhz: 60000 }], codecs: ['tiles', 'h264'], input: ['keyboard', 'pointer'] },
});

function validMessage(r: () => number): TerminalMessage {
  const k = Math.floor(r() * 6);
  const int = (n: number): number => Math.floor(r() * n);
  switch (k) {
    case 0:
      return { type: 'key', code: 1 + int(766), pressed: r() < 0.5 };
    case 1:
      return { type: 'pointer-motion', x: r() * 1280, y: r() * 720 };
    case 2:
      return { type: 'pointer-button', button: 0x110 + int(3), pressed: r() < 0.5 };
    case 3:
      return { type: 'pointer-axis', horizontal: r() < 0.5, delta: (r() - 0.5) * 30, discrete: int(3) - 1 };
    case 4:
      return { type: 'frame-ack', seq: int(2 ** 16) };
    default:
      return { type: 'ping', id: int(2 ** 32), timeUs: r() * 1e12 };
  }
}

function mutate(r: () => number, m: Uint8Array): Uint8Array {
  const b = Buffer.from(m);
  switch (Math.floor(r() * 7)) {
    case 0: // random bytes
      return Buffer.from(Array.from({ length: 1 + Math.floor(r() * 64) }, () => Math.floor(r() * 256)));
    case 1: // flip bits
      for (let i = 0; i < 1 + Math.floor(r() * 4); i++) b[Math.floor(r() * b.length)]! ^= 1 << Math.floor(r() * 8);
      return b;
    case 2: // truncate
      return b.subarray(0, Math.floor(r() * b.length));
    case 3: // extend
      return Buffer.concat([b, Buffer.alloc(1 + Math.floor(r() * 20), Math.floor(r() * 256))]);
    case 4: // another type byte
      b[0] = Math.floor(r() * 256);
      return b;
    case 5: // a second hello, or JSON where binary belongs
      return r() < 0.5 ? HELLO : Buffer.concat([Buffer.of(WireType.Resize), Buffer.from('{"width":1e9,"height":-1}')]);
    default: // oversized
      return Buffer.alloc(70_000 + Math.floor(r() * 1000), 7);
  }
}

function isValid(b: Uint8Array): boolean {
  try {
    return decodeTerminalMessage(b).type !== 'hello';
  } catch {
    return false;
  }
}

describe('terminal endpoint under fuzzing', () => {
  let s: DevServer;
  beforeAll(async () => {
    s = await startDevServer([]); // no session command: fuzzed keys reach no shell
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('survives 100,000 random and mutated messages, closing every bad connection with an error', async () => {
    const r = rng(20261122);
    const TOTAL = 100_000;
    let sent = 0;
    let bad = 0;
    let closedWithError = 0;
    let connections = 0;
    while (sent < TOTAL) {
      // a connection: hello, then messages until the first bad one (about one in twenty)
      const batch: Uint8Array[] = [];
      let endsBad = false;
      while (batch.length < 400 && sent + batch.length < TOTAL) {
        const m = r() < 0.05 ? mutate(r, encodeTerminalMessage(validMessage(r))) : encodeTerminalMessage(validMessage(r));
        batch.push(m);
        if (!isValid(m)) {
          endsBad = true;
          break;
        }
      }
      sent += batch.length;
      connections++;
      const outcome = await new Promise<{ error: boolean; code: number }>((resolve, reject) => {
        const ws = new WebSocket(s.url, { rejectUnauthorized: false, perMessageDeflate: false });
        let error = false;
        const timer = setTimeout(() => reject(new Error(`connection ${connections} neither closed nor finished`)), 10_000);
        ws.on('open', () => {
          ws.send(HELLO);
          for (const m of batch) ws.send(m);
          if (!endsBad) ws.send(encodeTerminalMessage({ type: 'ping', id: 1, timeUs: 1 }));
        });
        ws.on('message', (data: Buffer) => {
          const m = decodeServerMessage(data);
          if (m.type === 'error') error = true;
          if (!endsBad && m.type === 'pong' && m.id === 1) ws.close();
        });
        ws.on('close', (code) => {
          clearTimeout(timer);
          resolve({ error, code });
        });
        ws.on('error', () => {});
      });
      if (endsBad) {
        bad++;
        // our error message, or the WebSocket layer's own "message too big" (1009)
        if (outcome.error || outcome.code === 1009) closedWithError++;
        expect(outcome.code === 1008 || outcome.code === 1009).toBe(true);
      } else {
        expect(outcome.error).toBe(false);
      }
    }
    expect(sent).toBe(TOTAL);
    expect(bad).toBeGreaterThan(1000);
    expect(closedWithError).toBe(bad);
    expect(s.proc.exitCode).toBeNull();
    // and a real terminal still gets its desktop
    const { terminal } = startTerminal(s, { width: 1280, height: 720 });
    await waitFor('a picture after the storm', () => terminal.painter.width === 1280, 15_000);
    terminal.stop();
  }, 240_000);
});
