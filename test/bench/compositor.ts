// Compositor benchmarks: compose + capture cost, damage per keystroke, idle cost.
import type { FrameMsg } from '@waydesk/protocol/compositor-ipc';
import { keystrokes } from '../../protocol/src/us-keys.js';
import { settle, sleep, startCompositor, waitFor, type Started } from '../helpers/compositor.js';
import { CLK_TCK, cpuTicks, pssBytes } from './procs.js';
import { percentile, type Report } from './report.js';

async function composeCost(r: Report, name: string, command: string[], seconds: number): Promise<void> {
  const c = await startCompositor({ command });
  try {
    await waitFor('windows', () => c.link.windows.length > 0, 15_000);
    await sleep(1000);
    const a = await c.link.stats();
    await sleep(seconds * 1000);
    const b = await c.link.stats();
    const frames = b.framesCaptured + b.framesUnchanged - (a.framesCaptured + a.framesUnchanged);
    r.add(name, 'frames_per_s', frames / seconds, 'fps');
    r.add(name, 'compose_ms_per_frame', (b.totalRenderUs - a.totalRenderUs) / 1000 / frames, 'ms');
    r.add(name, 'capture_ms_per_frame', (b.totalCaptureUs - a.totalCaptureUs) / 1000 / frames, 'ms');
    r.add(name, 'damage_refined_pct', (100 * (b.damagePxRefined - a.damagePxRefined)) / Math.max(1, b.damagePxReported - a.damagePxReported), '%');
  } finally {
    await c.stop();
  }
}

async function typing(r: Report, name: string, command: string[], appMatch: (appId: string | null) => boolean): Promise<void> {
  const c = await startCompositor({ command, extraEnv: { PS1: '$ ', ENV: '' } });
  try {
    await waitFor('the window', () => c.link.windows.some((w) => appMatch(w.appId)), 15_000);
    await settle(c.link, 800);
    const s0 = await c.link.stats();
    let pixelBytes = 0;
    let linkBytes = c.link.bytesReceived;
    const latencies: number[] = [];
    let sentAt = 0;
    let waiting = false;
    const onFrame = (f: FrameMsg): void => {
      pixelBytes += f.payload.length;
      if (waiting) {
        latencies.push(performance.now() - sentAt);
        waiting = false;
      }
    };
    c.link.on('frame', onFrame);
    const text = 'the quick brown fox jumps over the lazy dog';
    for (const ch of text) {
      sentAt = performance.now();
      waiting = true;
      for (const k of keystrokes(ch)) c.link.key(k.code, k.pressed);
      await sleep(100);
    }
    await settle(c.link, 500);
    c.link.off('frame', onFrame);
    linkBytes = c.link.bytesReceived - linkBytes;
    const s1 = await c.link.stats();
    const n = text.length;
    r.add(name, 'damage_px_reported_per_key', (s1.damagePxReported - s0.damagePxReported) / n, 'px');
    r.add(name, 'damage_px_refined_per_key', (s1.damagePxRefined - s0.damagePxRefined) / n, 'px');
    r.add(name, 'encoded_bytes_per_key', pixelBytes / n, 'B');
    r.add(name, 'link_bytes_per_key', linkBytes / n, 'B');
    r.add(name, 'key_to_frame_p50', percentile(latencies, 50), 'ms');
    r.add(name, 'key_to_frame_p99', percentile(latencies, 99), 'ms');
  } finally {
    await c.stop();
  }
}

async function idle(r: Report, seconds: number): Promise<void> {
  const c: Started = await startCompositor({ command: ['foot', '-o', 'cursor.blink=no', 'sh'], extraEnv: { PS1: '$ ', ENV: '' } });
  try {
    await waitFor('foot', () => c.link.windows.length > 0, 15_000);
    await settle(c.link, 1000);
    const pid = c.proc.pid!;
    const frames = c.link.framesReceived;
    const bytes = c.link.bytesReceived;
    const t0 = cpuTicks(pid);
    await sleep(seconds * 1000);
    const ticks = cpuTicks(pid) - t0;
    r.add('idle_foot', 'cpu_pct_of_core', (100 * ticks) / CLK_TCK / seconds, '%');
    r.add('idle_foot', 'frames_per_s', (c.link.framesReceived - frames) / seconds, 'fps');
    r.add('idle_foot', 'link_bytes_per_s', (c.link.bytesReceived - bytes) / seconds, 'B/s');
    r.add('idle_foot', 'compositor_pss', pssBytes(pid) / 1048576, 'MiB');
  } finally {
    await c.stop();
  }
}

export async function benchCompositor(r: Report): Promise<void> {
  r.note('compositor (1920x1080, pixman, real clients)');
  // Every line differs (base64 of random bytes): each frame really changes, as scrolling text does.
  const flood = (alpha: string): string => `foot -o colors.alpha=${alpha} sh -c 'base64 /dev/urandom'`;
  await composeCost(r, 'compose_1_foot_scrolling', ['sh', '-c', `exec ${flood('1.0')}`], 5);
  await composeCost(r, 'compose_5_translucent_windows', ['sh', '-c', `for i in 1 2 3 4; do ${flood('0.85')} & done; exec ${flood('0.85')}`], 5);
  await typing(r, 'typing_foot', ['foot', '-o', 'cursor.blink=no', 'sh'], (a) => a === 'foot');
  await typing(r, 'typing_weston_terminal', ['weston-terminal', '--shell=/bin/sh'], (a) => !!a?.includes('weston'));
  await idle(r, 10);
}
