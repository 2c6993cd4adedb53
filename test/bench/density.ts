// How many idle sessions a server holds: N users log in through the real login server (PAM, a
// compositor as each user, foot), look at their desktop at 1920x1080, and leave; then the
// memory (PSS of every process of each session, its PAM keeper included) and the CPU and wake-ups of the idle sessions,
// next to N sway + wayvnc + foot stacks that a VNC viewer looked at and left, in the same run.
// Needs root (accounts, PAM); makes its accounts and removes them.
import { execFileSync } from 'node:child_process';
import { makeAccount, removeAccount } from '../helpers/test-user.js';
import fs from 'node:fs';
import { isRoot, sleep, waitFor } from '../helpers/compositor.js';
import { quiet, startLoginServer, startTerminal, type DevServer } from '../helpers/server.js';
import { CLK_TCK, comm, cpuTicks, pssBytes, uidsOf, wakeups } from './procs.js';
import { Encoding, RfbClient } from './peers/rfb.js';
import { startSwayVnc } from './peers/systems.js';
import type { Report } from './report.js';

const N = Number(process.env.WAYDESK_DENSITY_SESSIONS ?? 20);
const PASSWORD = 'density horse battery staple';
/** Long enough to see the slow heartbeat of a desktop nobody looks at (every 15 s). */
const IDLE_WINDOW_MS = 30_000;
/** After the last terminal left: past the compositor's release of its viewer buffers (10 s). */
const SETTLE_MS = 15_000;
const BUDGET = 24 * 1024 ** 3;

/** Memory, CPU and wake-ups of the processes of n sessions, while nothing happens. */
async function idleCost(all: number[], n: number): Promise<{ pssPerGroup: number; cpuPercent: number; wakeupsPerGroup: number }> {
  const pss = all.reduce((a, p) => a + pssBytes(p), 0);
  const t0 = all.reduce((a, p) => a + cpuTicks(p), 0);
  const w0 = all.reduce((a, p) => a + wakeups(p), 0);
  await sleep(IDLE_WINDOW_MS);
  const t1 = all.reduce((a, p) => a + cpuTicks(p), 0);
  const w1 = all.reduce((a, p) => a + wakeups(p), 0);
  return {
    pssPerGroup: pss / n,
    cpuPercent: ((t1 - t0) / CLK_TCK / (IDLE_WINDOW_MS / 1000)) * 100,
    wakeupsPerGroup: (w1 - w0) / (IDLE_WINDOW_MS / 1000) / n,
  };
}

function parentOf(pid: number): number {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
  } catch {
    return 0;
  }
}

/** Every process of a user (sway's children are reparented to PID 1: they are found by their user). */
function processesOf(uid: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((p) => {
      try {
        return uidsOf(p)[0] === uid;
      } catch {
        return false;
      }
    });
}

async function waydeskSessions(users: string[]): Promise<{ s: DevServer; pids: number[] }> {
  const s = await startLoginServer(['foot', '-o', 'cursor.blink=no', 'sh']);
  for (const [i, user] of users.entries()) {
    const { terminal } = startTerminal(s, { width: 1920, height: 1080 }, `density-${i}`, false, { user, password: PASSWORD });
    await waitFor(`${user}'s desktop`, () => terminal.framesDecoded > 0, 30_000);
    await quiet(terminal, 500);
    // the user walks away: the session is detached and idles
    terminal.stop();
  }
  await sleep(SETTLE_MS);
  const pids = users.flatMap((user) => {
    const found = processesOf(Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim()));
    if (!found.length) throw new Error(`no desktop of ${user} found`);
    // and the session's PAM keeper, root's: the compositor's parent
    const keepers = found.map(parentOf).filter((p) => comm(p).startsWith('waydesk-pam'));
    return [...new Set([...found, ...keepers])];
  });
  return { s, pids };
}

async function swayStacks(n: number): Promise<{ pids: number[]; stop: () => Promise<void> }> {
  const stacks: Array<Awaited<ReturnType<typeof startSwayVnc>>> = [];
  for (let i = 0; i < n; i++) {
    const st = await startSwayVnc(['foot', '-o', 'cursor.blink=no', 'sh']);
    stacks.push(st);
    // a viewer looks at it once and leaves, as the terminal did above
    const rfb = await RfbClient.connect(st.port, [Encoding.ZRLE, Encoding.DesktopSize]);
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error('wayvnc sent no picture')), 15_000);
      rfb.onUpdate = () => {
        clearTimeout(t);
        res();
      };
    });
    await sleep(300);
    rfb.close();
  }
  await sleep(SETTLE_MS);
  return {
    pids: processesOf(stacks[0]!.sway.user.uid),
    stop: async () => {
      for (const st of stacks) await st.stop();
    },
  };
}

export async function benchDensity(r: Report): Promise<void> {
  if (!isRoot()) {
    r.note('density: skipped (needs root: accounts, PAM)');
    return;
  }
  r.note(`density (${N} idle sessions at 1920x1080, each viewed once and left; next to ${N} sway + wayvnc + foot stacks viewed once and left)`);
  const users = Array.from({ length: N }, (_, i) => `wdbench-d${i}`);
  const made: string[] = [];
  let s: DevServer | undefined;
  let sway: Awaited<ReturnType<typeof swayStacks>> | undefined;
  try {
    for (const u of users) {
      makeAccount(u, PASSWORD, 'density bench');
      made.push(u);
    }
    const w = await waydeskSessions(users);
    s = w.s;
    const ours = await idleCost(w.pids, N);
    r.add('density', 'waydesk_pss_per_session', ours.pssPerGroup / 1024 ** 2, 'MiB');
    r.add('density', 'waydesk_idle_cpu_all_sessions', ours.cpuPercent, '% of a core');
    r.add('density', 'waydesk_wakeups_per_session', ours.wakeupsPerGroup, '/s');
    r.add('density', 'waydesk_sessions_per_24GiB', Math.floor(BUDGET / ours.pssPerGroup), 'sessions');
    r.add('density', 'server_pss', pssBytes(s.proc.pid!) / 1024 ** 2, 'MiB');
    await s.stop();
    s = undefined;
    sway = await swayStacks(N);
    const theirs = await idleCost(sway.pids, N);
    r.add('density', 'sway_wayvnc_pss_per_stack', theirs.pssPerGroup / 1024 ** 2, 'MiB');
    r.add('density', 'sway_wayvnc_idle_cpu_all_stacks', theirs.cpuPercent, '% of a core');
    r.add('density', 'sway_wayvnc_wakeups_per_stack', theirs.wakeupsPerGroup, '/s');
    r.add('density', 'pss_ratio_waydesk_to_sway_wayvnc', ours.pssPerGroup / theirs.pssPerGroup, 'x');
  } finally {
    await sway?.stop();
    await s?.stop();
    for (const u of made) removeAccount(u);
  }
}
