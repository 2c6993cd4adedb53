// Side by side: waydesk, wayvnc (three encodings) and waypipe (two compressors) on the same
// workloads, 1920x1080, loopback. JSON lines plus a markdown table with "waydesk / best peer".
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { motionClip, smallClip } from '../clip.js';
import { percentile, type Report } from '../report.js';
import { mpvShown } from './mpv.js';
import { RELEASE_VIDEO_AFTER_MS } from '../../../compositor/src/stream-encoder.js';
import { CLK_TCK, childrenOf, cpuTicks, rssBytes } from '../procs.js';

/** CPU of a role: its process and the helpers it forked, not the app or another role's processes. */
function roleTicks(pid: number, exclude: Set<number>): number {
  let t = cpuTicks(pid);
  for (const c of childrenOf(pid)) if (!exclude.has(c)) t += roleTicks(c, exclude);
  return t;
}
import { WAYPIPE, WAYVNC, waydesk, type Running, type System } from './systems.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const TEXT = 'the quick brown fox jumps over the lazy dog '.repeat(5).slice(0, 200);

type Row = Record<string, number>;

async function withSystem<T>(sys: System, app: string[], fn: (r: Running) => Promise<T>): Promise<T> {
  const r = await sys.start(app);
  try {
    return await fn(r);
  } finally {
    await r.stop();
  }
}

async function idleAndTyping(sys: System, row: Row): Promise<void> {
  await withSystem(sys, ['foot', '-o', 'cursor.blink=no', 'sh'], async (r) => {
    const started = performance.now();
    await sleep(3000);
    const b0 = r.bytes();
    await sleep(10_000);
    const b1 = r.bytes();
    row.idle_bytes_per_s = (b1.down - b0.down + b1.up - b0.up) / 10;
    // Memory as a desktop nobody touches holds it: after the quiet seconds, and after waydesk has
    // given back the video encoder that the window's first appearance opened.
    await sleep(Math.max(0, RELEASE_VIDEO_AFTER_MS + 5000 - (performance.now() - started)));
    for (const [role, pid] of Object.entries(r.pids())) row[`idle_rss_mib:${role}`] = rssBytes(pid) / 1048576;
    const app = r.appPid();
    if (app) row['idle_rss_mib:app'] = rssBytes(app) / 1048576;
    summarize(row, 'idle_rss_mib');

    let latencies: number[] = [];
    const t0 = performance.now();
    const start = r.bytes();
    const wire0 = r.wireBytes?.();
    if (r.typeText) {
      const typed = await r.typeText(TEXT, 100);
      latencies = typed.latencies;
      // the older, shorter measure: from the key entering the link to the update leaving it
      row['key_to_update_p50_ms:link only'] = percentile(typed.atLinkOnly, 50);
      row['key_to_update_p99_ms:link only'] = percentile(typed.atLinkOnly, 99);
    } else {
      for (const ch of TEXT) {
        const sent = performance.now();
        const next = r.nextUpdate(400);
        r.type(ch);
        const got = await next;
        if (got !== null) latencies.push(got - sent);
        const left = 100 - (performance.now() - sent);
        if (left > 0) await sleep(left);
      }
    }
    await sleep(500);
    const secs = (performance.now() - t0) / 1000;
    const end = r.bytes();
    const wire1 = r.wireBytes?.();
    row.typing_kbit_per_s_down = ((end.down - start.down) * 8) / 1000 / secs;
    row.typing_kbit_per_s_up = ((end.up - start.up) * 8) / 1000 / secs;
    // both directions, as the link carries them (a key goes up, its picture comes down)
    row.typing_bytes_per_key = (end.down - start.down + end.up - start.up) / TEXT.length;
    // On the TCP connection: framing (WebSocket, TLS for waydesk) included. waypipe's link is a
    // Unix socket whose every byte the relay already counts.
    row.typing_wire_bytes_per_key = wire0 && wire1 ? (wire1.down - wire0.down + wire1.up - wire0.up) / TEXT.length : row.typing_bytes_per_key;
    row.key_to_update_p50_ms = percentile(latencies, 50);
    row.key_to_update_p99_ms = percentile(latencies, 99);
    row.typing_updates_seen = latencies.length;
  });
}

async function motion(sys: System, row: Row, prefix: string, clip: string, extra: string[]): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-mpv-'));
  fs.chmodSync(dir, 0o1777);
  const clipCopy = path.join(dir, path.basename(clip));
  fs.copyFileSync(clip, clipCopy);
  fs.chmodSync(clipCopy, 0o644);
  const sock = path.join(dir, 'mpv.sock');
  const app = ['mpv', '--really-quiet', '--vo=wlshm', '--fullscreen', '--loop=inf', '--no-audio', '--hwdec=no', `--input-ipc-server=${sock}`, ...extra, clipCopy];
  try {
    await withSystem(sys, app, async (r) => {
      const begin = Date.now();
      while (!fs.existsSync(sock)) {
        if (Date.now() - begin > 20_000) throw new Error(`${sys.name}: mpv did not start`);
        await sleep(100);
      }
      await sleep(2000);
      const pids = r.pids();
      const appPid = r.appPid();
      const exclude = new Set([...Object.values(pids), ...(appPid ? [appPid] : [])]);
      const ticks = (p: number): number => roleTicks(p, new Set([...exclude].filter((x) => x !== p)));
      const c0 = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, ticks(p)]));
      const a0 = appPid ? cpuTicks(appPid) : 0;
      const self0 = process.cpuUsage();
      const b0 = r.bytes();
      const f0 = await mpvShown(sock);
      const secs = 10;
      await sleep(secs * 1000);
      const f1 = await mpvShown(sock);
      const b1 = r.bytes();
      row[`${prefix}_kbit_per_s`] = ((b1.down - b0.down + b1.up - b0.up) * 8) / 1000 / secs;
      row[`${prefix}_app_fps`] = (f1 - f0) / secs;
      for (const [k, p] of Object.entries(pids)) row[`${prefix}_cpu_pct:${k}`] = ((ticks(p) - c0[k]!) / CLK_TCK / secs) * 100;
      if (appPid) row[`${prefix}_cpu_pct:app`] = ((cpuTicks(appPid) - a0) / CLK_TCK / secs) * 100;
      const self = process.cpuUsage(self0);
      row[`${prefix}_cpu_pct:bench client`] = ((self.user + self.system) / 1e6 / secs) * 100;
      summarize(row, `${prefix}_cpu_pct`);
      if (r.psnr) row[`${prefix}_psnr_db`] = await r.psnr();
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchPeers(report: Report, only?: string): Promise<void> {
  report.note('peers: waydesk vs wayvnc 0.5 (headless sway 1.7) vs waypipe 0.8.4, 1920x1080, loopback');
  const systems: System[] = [waydesk, ...WAYVNC, ...WAYPIPE].filter((s) => !only || s.name.includes(only));
  if (systems.length === 0) throw new Error(`--only ${only}: no such system (waydesk, wayvnc tight, wayvnc zrle, wayvnc tight+jpeg, waypipe lz4, waypipe zstd)`);
  const big = motionClip();
  const small = smallClip();
  const rows = new Map<string, Row>();
  for (const sys of systems) {
    const row: Row = {};
    rows.set(sys.name, row);
    try {
      await idleAndTyping(sys, row);
      await motion(sys, row, 'motion', big, []);
      await motion(sys, row, 'small', small, ['--video-unscaled=yes']);
    } catch (err) {
      report.note(`${sys.name}: ${(err as Error).message}`);
    }
    for (const [metric, value] of Object.entries(row)) {
      const unit = metric.endsWith('_db') ? 'dB' : metric.includes('kbit') ? 'kbit/s' : metric.includes('_ms') ? 'ms' : metric.includes('rss') ? 'MiB' : metric.includes('cpu') ? '% core' : metric.includes('fps') ? 'fps' : metric.includes('bytes_per_s') ? 'B/s' : metric.includes('bytes') ? 'B' : '';
      report.add(`peers:${sys.name}`, metric, value, unit);
    }
  }
  const table = markdown(rows);
  report.note(table);
  const out = path.join(path.dirname(big), 'peers.md');
  fs.writeFileSync(out, table + '\n');
  report.note(`(table also written to ${out})`);
}

/** Display-side roles (waypipe's client and its compositor, the in-process viewers) are the client's. */
function clientSide(role: string): boolean {
  return role.includes('client') || role.includes('(display)');
}

/** Sums per-role figures into server side (the application excluded) and client side. */
function summarize(row: Row, prefix: string): void {
  let server = 0;
  let client = 0;
  for (const [k, v] of Object.entries(row)) {
    if (!k.startsWith(`${prefix}:`)) continue;
    const role = k.slice(prefix.length + 1);
    if (role === 'app') continue;
    if (clientSide(role)) client += v;
    else server += v;
  }
  row[`${prefix}_server`] = server;
  if (!prefix.startsWith('idle')) row[`${prefix}_client`] = client;
}

/** Lower is better for every figure but the frames mpv managed to show. */
function markdown(rows: Map<string, Row>): string {
  const names = [...rows.keys()];
  const metrics = [...new Set(names.flatMap((n) => Object.keys(rows.get(n)!)))].filter((m) => !m.includes(':') && m !== 'typing_updates_seen');
  const lines = [`| figure | ${names.join(' | ')} | waydesk / best peer |`, `| --- | ${names.map(() => '---').join(' | ')} | --- |`];
  for (const m of metrics) {
    const peers = names.filter((n) => n !== 'waydesk').map((n) => rows.get(n)![m]).filter((v): v is number => v !== undefined && Number.isFinite(v));
    const higherBetter = m.endsWith('_fps') || m.endsWith('_db');
    const best = peers.length ? (higherBetter ? Math.max(...peers) : Math.min(...peers)) : NaN;
    const ours = rows.get('waydesk')?.[m];
    const ratio = ours !== undefined && best > 0 ? (ours / best).toFixed(3) : best === 0 && ours === 0 ? '1 (both 0)' : '–';
    const cell = (v: number | undefined): string => (v === undefined ? '–' : v >= 100 ? v.toFixed(0) : v.toFixed(2));
    lines.push(`| ${m} | ${names.map((n) => cell(rows.get(n)![m])).join(' | ')} | ${ratio} |`);
  }
  return lines.join('\n');
}
