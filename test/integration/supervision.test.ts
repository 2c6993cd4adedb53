// The server watches its desktop: a hung or crash-looping compositor, a server that dies, a
// terminal displaced by another, a client that shrinks its cursor's memory.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childrenOf } from '../bench/procs.js';
import { buildClient } from '../helpers/clients.js';
import { sleep, waitFor } from '../helpers/compositor.js';
import { startDevServer, startTerminal, type DevServer } from '../helpers/server.js';

function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

function healthz(s: DevServer): Promise<number> {
  return new Promise((resolve, reject) => {
    https
      .get(s.url.replace('wss://', 'https://').replace('/terminal', '/healthz'), { rejectUnauthorized: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

describe('a hung desktop', () => {
  let s: DevServer;
  beforeAll(async () => {
    s = await startDevServer([]);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('is noticed within seconds (healthz turns 503), killed, and the terminal gets a new desktop', async () => {
    const { terminal } = startTerminal(s, { width: 1024, height: 768 });
    await waitFor('the desktop', () => terminal.painter.width === 1024, 15_000);
    expect(await healthz(s)).toBe(200);
    const compositor = childrenOf(s.proc.pid!)[0]!;
    const ended = new Promise<string>((r) => terminal.once('server-error', r));
    const t0 = Date.now();
    process.kill(compositor, 'SIGSTOP');
    await waitFor('healthz to say the desktop is not well', async () => (await healthz(s)) === 503 || null, 10_000, 200);
    expect(await ended).toMatch(/desktop ended; a new one is starting/);
    const detectedMs = Date.now() - t0;
    expect(detectedMs).toBeLessThan(8000);
    expect(s.log()).toMatch(/the compositor stopped answering/);
    const before = terminal.framesDecoded;
    await waitFor('a picture of the new desktop', () => terminal.framesDecoded > before, 20_000);
    expect(childrenOf(s.proc.pid!)[0]).not.toBe(compositor);
    await waitFor('healthz to be well again', async () => (await healthz(s)) === 200 || null, 10_000, 200);
    terminal.stop();
  });
});

describe('a session command that exits at once', () => {
  let s: DevServer;
  beforeAll(async () => {
    s = await startDevServer(['true']);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('is restarted with growing pauses, not every half second', async () => {
    await sleep(8000);
    const delays = [...s.log().matchAll(/"restartInMs":(\d+)/g)].map((m) => Number(m[1]));
    // 0.5 s, 1 s, 2 s, 4 s: four restarts in eight seconds, where a fixed 500 ms made sixteen
    expect(delays.length).toBeGreaterThanOrEqual(3);
    expect(delays.length).toBeLessThanOrEqual(5);
    for (let i = 1; i < delays.length; i++) expect(delays[i]).toBe(delays[i - 1]! * 2);
  });
});

describe('a server that dies', () => {
  it('takes its desktop with it: no compositor or app runs on unsupervised', async () => {
    const s = await startDevServer(['foot', 'sh']);
    const compositor = await waitFor('the compositor', () => childrenOf(s.proc.pid!)[0]);
    const foot = await waitFor('foot', () => childrenOf(compositor)[0], 15_000);
    process.kill(s.proc.pid!, 'SIGKILL');
    await waitFor('the compositor to end', () => !alive(compositor), 10_000);
    await waitFor('foot to end', () => !alive(foot), 10_000);
    await s.stop();
  });
});

describe('two terminals', () => {
  let s: DevServer;
  beforeAll(async () => {
    s = await startDevServer([]);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('the displaced one is told where the desktop went and does not take it back', async () => {
    const a = startTerminal(s, { width: 800, height: 600 }, 'terminal-a').terminal;
    await waitFor('A to show the desktop', () => a.painter.width === 800, 15_000);
    const told = new Promise<{ retrying: boolean; message: string }>((r) => a.on('status', (st) => !st.connected && r(st)));
    const b = startTerminal(s, { width: 1024, height: 768 }, 'terminal-b').terminal;
    await waitFor('B to show the desktop', () => b.painter.width === 1024, 15_000);
    const st = await told;
    expect(st).toEqual({ connected: false, retrying: false, state: 'refused', message: 'your session moved to terminal terminal-b' });
    // A waits for its user: three seconds later B still has the desktop
    await sleep(3000);
    expect(a.connected).toBe(false);
    expect(b.connected).toBe(true);
    expect(s.log().match(/"msg":"terminal attached"/g)?.length).toBe(2);
    a.stop();
    b.stop();
  });
});

describe('a client that shrinks its cursor memory', () => {
  let s: DevServer;
  let bin: string;
  beforeAll(async () => {
    bin = buildClient('shrinking-cursor');
    s = await startDevServer([]);
  });
  afterAll(async () => {
    await s?.stop();
    fs.rmSync(path.dirname(bin), { recursive: true, force: true });
  });

  it('does not take the desktop down', async () => {
    const { terminal } = startTerminal(s, { width: 1024, height: 768 });
    await waitFor('the desktop', () => terminal.painter.width === 1024, 15_000);
    const compositor = childrenOf(s.proc.pid!)[0]!;
    const client = spawn(bin, [], { env: s.env(), stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    client.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      // the window opens maximized: the pointer anywhere enters it and asks for its cursor
      await sleep(1000);
      for (let i = 0; i < 20 && !out.includes('shrunk'); i++) {
        terminal.pointerMotion(100 + i * 10, 100 + i * 5);
        await sleep(100);
      }
      await waitFor('the client to shrink its pool', () => out.includes('shrunk'), 10_000);
      await sleep(500);
      expect(alive(compositor)).toBe(true);
      expect(s.log()).not.toMatch(/the compositor ended/);
      // and it still serves: the cursor moves, a picture comes
      terminal.pointerMotion(500, 400);
      expect(await healthz(s)).toBe(200);
    } finally {
      client.kill('SIGKILL');
      terminal.stop();
    }
  });
});
