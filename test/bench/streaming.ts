// Streaming benchmarks: the real server, compositor and headless terminal on loopback, 1920x1080.
import fs from 'node:fs';
import type { Terminal } from '../../client-firmware/src/terminal.js';
import { keystrokes } from '../../compositor/src/keys.js';
import { sleep, waitFor } from '../helpers/compositor.js';
import { startDevServer, startTerminal, type DevServer } from '../helpers/server.js';
import { motionClip } from './clip.js';
import { percentile, type Report } from './report.js';

function cpuTicks(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
}

function children(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function quiet(t: Terminal, ms: number): Promise<void> {
  let last = Date.now();
  const on = (): void => void (last = Date.now());
  t.on('frame', on);
  await waitFor('quiet', () => Date.now() - last >= ms, 30_000);
  t.off('frame', on);
}

async function session(command: string[], env: NodeJS.ProcessEnv = {}): Promise<{ s: DevServer; t: Terminal; compositor: number; app: () => number[] }> {
  const s = await startDevServer(command, env);
  const t = startTerminal(s).terminal;
  await waitFor('first picture', () => t.painter.width === 1920, 20_000);
  const compositor = await waitFor('compositor pid', () => children(s.proc.pid!)[0], 10_000);
  return { s, t, compositor, app: () => children(compositor) };
}

export async function benchStreaming(r: Report): Promise<void> {
  r.note('streaming (server + compositor + headless terminal, loopback TLS WebSocket, 1920x1080)');
  {
    const { s, t } = await session(['foot', '-o', 'cursor.blink=no', 'sh'], { PS1: '$ ', ENV: '' });
    try {
      await quiet(t, 1000);
      const b0 = t.bytesReceived;
      await sleep(5000);
      r.add('stream_idle', 'bytes_per_s', (t.bytesReceived - b0) / 5, 'B/s');

      const latencies: number[] = [];
      // Where the time goes, on the one CLOCK_MONOTONIC all three processes share (µs).
      const stages = { input_to_capture: [] as number[], capture_to_sent: [] as number[], sent_to_received: [] as number[], decode_and_paint: [] as number[] };
      let sentAt = 0;
      let sentUs = 0;
      let waiting = false;
      t.on('frame', (f, info) => {
        if (!waiting) return;
        latencies.push(performance.now() - sentAt);
        waiting = false;
        stages.input_to_capture.push((f.captureUs - sentUs) / 1000);
        stages.capture_to_sent.push((f.sentUs - f.captureUs) / 1000);
        stages.sent_to_received.push((info.receivedUs - f.sentUs) / 1000);
        stages.decode_and_paint.push(info.decodeUs / 1000);
      });
      const text = 'the quick brown fox jumps over the lazy dog 0123456789';
      const bytes0 = t.bytesReceived;
      const start = performance.now();
      for (const ch of text) {
        sentAt = performance.now();
        sentUs = Number(process.hrtime.bigint() / 1000n);
        waiting = true;
        for (const k of keystrokes(ch)) t.key(k.code, k.pressed);
        await sleep(100);
      }
      const seconds = (performance.now() - start) / 1000;
      const bytes = t.bytesReceived - bytes0;
      r.add('stream_typing_foot', 'kbit_per_s', (bytes * 8) / 1000 / seconds, 'kbit/s');
      r.add('stream_typing_foot', 'bytes_per_key', bytes / text.length, 'B');
      r.add('stream_typing_foot', 'key_to_pixels_p50', percentile(latencies, 50), 'ms');
      r.add('stream_typing_foot', 'key_to_pixels_p99', percentile(latencies, 99), 'ms');
      for (const [stage, v] of Object.entries(stages)) {
        r.add('stream_typing_stages', `${stage}_p50`, percentile(v, 50), 'ms');
        r.add('stream_typing_stages', `${stage}_p99`, percentile(v, 99), 'ms');
      }
    } finally {
      t.stop();
      await s.stop();
    }
  }
  {
    const clip = motionClip();
    const { s, t, compositor, app } = await session(['mpv', '--really-quiet', '--vo=wlshm', '--fullscreen', '--loop=inf', '--no-audio', '--hwdec=no', clip]);
    try {
      await waitFor('video frames', () => t.framesDecoded > 30, 30_000);
      await sleep(2000);
      const pids = { server: s.proc.pid!, compositor, app: app() };
      const c0 = { server: cpuTicks(pids.server), compositor: cpuTicks(pids.compositor), app: pids.app.reduce((a, p) => a + cpuTicks(p), 0) };
      const d0 = { bytes: t.bytesReceived, frames: t.framesDecoded, decodeUs: t.decodeUsTotal };
      const secs = 10;
      await sleep(secs * 1000);
      const frames = t.framesDecoded - d0.frames;
      r.add('stream_full_motion', 'kbit_per_s', ((t.bytesReceived - d0.bytes) * 8) / 1000 / secs, 'kbit/s');
      r.add('stream_full_motion', 'frames_per_s_at_terminal', frames / secs, 'fps');
      r.add('stream_full_motion', 'decode_ms_per_frame', (t.decodeUsTotal - d0.decodeUs) / 1000 / Math.max(1, frames), 'ms');
      r.add('stream_full_motion', 'cpu_compositor_pct', ((cpuTicks(pids.compositor) - c0.compositor) / secs), '% core');
      r.add('stream_full_motion', 'cpu_server_relay_pct', ((cpuTicks(pids.server) - c0.server) / secs), '% core');
      r.add('stream_full_motion', 'cpu_app_mpv_pct', ((pids.app.reduce((a, p) => a + cpuTicks(p), 0) - c0.app) / secs), '% core');
    } finally {
      t.stop();
      await s.stop();
    }
  }
}
