// An idle desktop costs nothing: no wake-ups while nothing is drawn (wlroots 0.15's headless
// output ticks only after a commit), and an animation still gets every frame of the refresh rate.
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settle, sleep, startCompositor, waitFor, type Started } from '../helpers/compositor.js';

/** The times a process was woken (voluntary and involuntary context switches, all its threads). */
function wakeups(pid: number): number {
  let n = 0;
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    const st = fs.readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8');
    n += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(st)![1]) + Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(st)![1]);
  }
  return n;
}

describe('an idle desktop', () => {
  let c: Started;
  beforeAll(async () => {
    c = await startCompositor({ command: ['foot', '-o', 'cursor.blink=no', 'sh'] });
    await waitFor('foot to map', () => c.link.windows.some((w) => w.appId === 'foot'), 15_000);
    await settle(c.link, 1000);
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('is not woken at the refresh rate: a handful of wake-ups in 3 s, not 180', async () => {
    const w0 = wakeups(c.proc.pid!);
    await sleep(3000);
    const n = wakeups(c.proc.pid!) - w0;
    expect(n).toBeLessThan(15);
  });

  it('still runs an animation at the refresh rate, and stops when it does', async () => {
    const shm = spawn('weston-simple-shm', [], { env: c.env, stdio: 'ignore' });
    try {
      await sleep(1000);
      const f0 = c.link.framesReceived;
      await sleep(2000);
      const fps = (c.link.framesReceived - f0) / 2;
      expect(fps).toBeGreaterThan(50);
    } finally {
      shm.kill('SIGKILL');
    }
    await settle(c.link, 500);
    const w0 = wakeups(c.proc.pid!);
    await sleep(2000);
    expect(wakeups(c.proc.pid!) - w0).toBeLessThan(15);
  });
});
