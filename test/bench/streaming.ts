// Streaming benchmarks: the real server, compositor and headless terminal on loopback, 1920x1080.
import type { FrameMsg } from '@waydesk/protocol/frame-format';
import type { FrameInfo, Terminal } from '../../client-firmware/src/terminal.js';
import { keystrokes } from '../../protocol/src/us-keys.js';
import { sleep, waitFor } from '../helpers/compositor.js';
import { quiet as settle, startDevServer, startTerminal, type DevServer } from '../helpers/server.js';

const quiet = (t: Terminal, ms: number): Promise<void> => settle(t, ms, 30_000);
import { motionClip } from './clip.js';
import { childrenOf, cpuTicks } from './procs.js';
import { percentile, type Report } from './report.js';

async function session(command: string[], env: Record<string, string> = {}, trace = false): Promise<{ s: DevServer; t: Terminal; compositor: number; app: () => number[] }> {
  const s = await startDevServer(command, env);
  const t = startTerminal(s, undefined, undefined, trace).terminal;
  await waitFor('first picture', () => t.painter.width === 1920, 20_000);
  const compositor = await waitFor('compositor pid', () => childrenOf(s.proc.pid!)[0], 10_000);
  return { s, t, compositor, app: () => childrenOf(compositor) };
}

const TEXT = 'the quick brown fox jumps over the lazy dog 0123456789';
const FOOT = ['foot', '-o', 'cursor.blink=no', 'sh'];
const SH_ENV = { PS1: '$ ', ENV: '' };

/** Types TEXT at 10 keys/s; calls back with each key's send time and the first frame after it. */
async function typeText(t: Terminal, onUpdate: (sentUs: number, f: FrameMsg, info: FrameInfo) => void): Promise<number> {
  let sentUs = 0;
  let waiting = false;
  const on = (f: FrameMsg, info: FrameInfo): void => {
    if (!waiting) return;
    waiting = false;
    onUpdate(sentUs, f, info);
  };
  t.on('frame', on);
  const start = performance.now();
  for (const ch of TEXT) {
    sentUs = Number(process.hrtime.bigint() / 1000n);
    waiting = true;
    for (const k of keystrokes(ch)) t.key(k.code, k.pressed);
    await sleep(100);
  }
  t.off('frame', on);
  return (performance.now() - start) / 1000;
}

export async function benchStreaming(r: Report): Promise<void> {
  r.note('streaming (server + compositor + headless terminal, loopback TLS WebSocket, 1920x1080)');
  {
    const { s, t } = await session(FOOT, SH_ENV);
    try {
      await quiet(t, 1000);
      const b0 = t.bytesReceived;
      await sleep(5000);
      r.add('stream_idle', 'bytes_per_s', (t.bytesReceived - b0) / 5, 'B/s');
      const latencies: number[] = [];
      const down0 = t.bytesReceived;
      const up0 = t.bytesSent;
      const seconds = await typeText(t, (sentUs, _f, info) => latencies.push((info.paintedUs - sentUs) / 1000));
      await quiet(t, 300);
      const down = t.bytesReceived - down0;
      const up = t.bytesSent - up0;
      r.add('stream_typing_foot', 'kbit_per_s', ((down + up) * 8) / 1000 / seconds, 'kbit/s');
      r.add('stream_typing_foot', 'bytes_per_key_down', down / TEXT.length, 'B');
      r.add('stream_typing_foot', 'bytes_per_key_up', up / TEXT.length, 'B');
      r.add('stream_typing_foot', 'key_to_pixels_p50', percentile(latencies, 50), 'ms');
      r.add('stream_typing_foot', 'key_to_pixels_p99', percentile(latencies, 99), 'ms');
    } finally {
      t.stop();
      await s.stop();
    }
  }
  {
    // The same typing with per-stage times in every frame (28 more bytes a frame, so measured apart).
    const { s, t } = await session(FOOT, SH_ENV, true);
    try {
      await quiet(t, 1000);
      const stages: Record<string, number[]> = {};
      const add = (k: string, us: number): void => void (stages[k] ??= []).push(us / 1000);
      await typeText(t, (sentUs, f, info) => {
        const tr = f.trace;
        if (!tr?.inputUs) return;
        add('1_terminal_to_compositor', tr.inputUs - sentUs);
        add('2_delivered_to_client', tr.deliveredUs - tr.inputUs);
        add('3_client_commit', tr.commitUs - tr.deliveredUs);
        add('4_commit_to_compose', tr.composeUs - tr.commitUs);
        add('5_compose_and_capture', tr.captureUs - tr.composeUs);
        add('6_encode_and_send', tr.sentUs - tr.captureUs);
        add('7_relay_and_network', info.receivedUs - tr.sentUs);
        add('8_decode_and_paint', info.paintedUs - info.receivedUs);
        add('all', info.paintedUs - sentUs);
      });
      for (const [stage, v] of Object.entries(stages).sort()) {
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
