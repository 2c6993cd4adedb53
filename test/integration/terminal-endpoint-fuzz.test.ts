// 100,000 random and mutated messages at the real terminal endpoint. Every bad message must
// get an error and a closed connection; nothing may crash the server or leak into the session,
// and nothing a connection sends before it authenticates reaches the desktop.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { WIRE_VERSION, WireType, decodeServerMessage, decodeTerminalMessage, encodeTerminalMessage, type TerminalMessage } from '@waydesk/protocol/wire';
import { startDevServer, startTerminal, type DevServer } from '../helpers/server.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { keystrokes } from '../../protocol/src/us-keys.js';
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
  const k = Math.floor(r() * 9);
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
    case 5:
      return { type: 'resize', display: { width: 640 + int(640), height: 480 + int(240), refreshMhz: 60000 } };
    case 6:
      return { type: 'keyframe-request' };
    case 7:
      return { type: 'pong', id: int(2 ** 32), timeUs: r() * 1e12 };
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
    const t = decodeTerminalMessage(b).type;
    return t !== 'hello' && t !== 'auth';
  } catch {
    return false;
  }
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

describe('terminal endpoint under fuzzing', () => {
  let s: DevServer;
  let AUTH: Uint8Array;
  beforeAll(async () => {
    s = await startDevServer([]); // no session command: fuzzed keys reach no shell
    AUTH = encodeTerminalMessage({ type: 'auth', body: { token: s.token } });
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
          ws.send(AUTH);
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

describe('connections that do not authenticate', () => {
  let s: DevServer;
  let dir: string;
  const typed = (): string => fs.readFileSync(path.join(dir, 'typed'), 'utf8');
  beforeAll(async () => {
    // What reaches the desktop's shell is written to a file: cat, one line per Enter.
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-fuzz-'));
    fs.chmodSync(dir, 0o777);
    s = await startDevServer(['foot', 'sh', '-c', `cat > ${dir}/typed`], {}, ['--size', '1280x720']);
    await waitFor('the shell to start', () => fs.existsSync(path.join(dir, 'typed')), 15_000);
  });
  afterAll(async () => {
    await s?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lets nothing they send reach the desktop, and the server stays small', async () => {
    const r = rng(4242);
    const type = (text: string): Uint8Array[] => keystrokes(text).map((k) => encodeTerminalMessage({ type: 'key', ...k }));
    const resize = encodeTerminalMessage({ type: 'resize', display: { width: 1000, height: 700, refreshMhz: 60000 } });
    const wrongToken = encodeTerminalMessage({ type: 'auth', body: { token: 'A'.repeat(24) } });
    const goodAuth = encodeTerminalMessage({ type: 'auth', body: { token: s.token } });
    // A proof that the file does get what is typed: one authenticated line at the end.
    const rss0 = rssOf(s.proc.pid!);
    const outcomes = { error: 0, closed: 0, frames: 0 };
    for (let i = 0; i < 600; i++) {
      const kind = i % 6;
      const greeting: Uint8Array[] =
        kind === 0 ? [] // no hello at all: input straight away
        : kind === 1 ? [mutate(r, HELLO)]
        : kind === 2 ? [HELLO] // hello, then input without authenticating
        : kind === 3 ? [HELLO, wrongToken]
        : kind === 4 ? [HELLO, mutate(r, goodAuth)].filter((m) => !isAuth(m, s.token))
        : [HELLO, goodAuth.subarray(0, goodAuth.length - 1 - Math.floor(r() * 5))];
      const after = [...type('leak\n'), resize, encodeTerminalMessage({ type: 'keyframe-request' })];
      const o = await new Promise<{ error: boolean; frames: number; code: number }>((resolve, reject) => {
        const ws = new WebSocket(s.url, { rejectUnauthorized: false, perMessageDeflate: false });
        let error = false;
        let frames = 0;
        const timer = setTimeout(() => reject(new Error(`connection ${i} (kind ${kind}) was not closed`)), 10_000);
        ws.on('open', () => {
          for (const m of [...greeting, ...after]) ws.send(m);
        });
        ws.on('message', (data: Buffer) => {
          const m = decodeServerMessage(data);
          if (m.type === 'error') error = true;
          if (m.type === 'frame') frames++;
        });
        ws.on('close', (code) => {
          clearTimeout(timer);
          resolve({ error, frames, code });
        });
        ws.on('error', () => {});
      });
      outcomes.closed++;
      // our error message, or the WebSocket layer's own "message too big" (1009)
      if (o.error || o.code === 1009) outcomes.error++;
      outcomes.frames += o.frames;
    }
    // every one was refused with a reason, and none saw the desktop
    expect(outcomes).toEqual({ error: 600, closed: 600, frames: 0 });
    // an authenticated terminal types one line: the file shows it, and only it
    const { terminal } = startTerminal(s, { width: 1280, height: 720 });
    await waitFor('the desktop', () => terminal.painter.width === 1280, 15_000);
    for (const k of keystrokes('ok\n')) terminal.key(k.code, k.pressed);
    await waitFor('the line to arrive', () => typed().length > 0, 10_000);
    terminal.stop();
    expect(typed()).toBe('ok\n');
    // no resize from them reached the compositor: it only ever had the size it was started with
    expect(s.log()).not.toMatch(/"width":1000,"height":700/);
    expect(rssOf(s.proc.pid!) - rss0).toBeLessThan(40 * 1024 * 1024);
  }, 120_000);
});

/** A mutation that happens to still be the right auth message is not a bad one. */
function isAuth(m: Uint8Array, token: string): boolean {
  try {
    const d = decodeTerminalMessage(m);
    return d.type === 'auth' && d.body.token === token;
  } catch {
    return false;
  }
}
