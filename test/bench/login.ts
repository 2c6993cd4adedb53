// Logins: from a password at the terminal to the first picture of the desktop, through the real
// login server (PAM, a compositor started as the user, foot). Needs root: it makes one account
// for the run and removes it.
import { execFileSync } from 'node:child_process';
import { keystrokes } from '../../protocol/src/us-keys.js';
import type { Terminal } from '../../client-firmware/src/terminal.js';
import { isRoot, sleep, waitFor } from '../helpers/compositor.js';
import { startLoginServer, startTerminal, type DevServer } from '../helpers/server.js';
import { percentile, type Report } from './report.js';
import { greeterSays } from '../helpers/greeter.js';
import { pssBytes } from './procs.js';

const USER = 'wdbench-login';
const PASSWORD = 'bench horse battery staple';
const ROUNDS = 7;

/** Logs in at a new terminal; ms from the terminal's start to its first painted picture. */
async function timeLogin(s: DevServer, id: string): Promise<{ ms: number; t: Terminal }> {
  const t0 = performance.now();
  const { terminal } = startTerminal(s, { width: 1920, height: 1080 }, id, false, { user: USER, password: PASSWORD });
  await waitFor('the first picture', () => terminal.framesDecoded > 0, 30_000, 2);
  return { ms: performance.now() - t0, t: terminal };
}

export async function benchLogin(r: Report): Promise<void> {
  if (!isRoot()) {
    r.note('login: skipped (needs root: PAM and a desktop started as the user)');
    return;
  }
  r.note('login (password → first picture; PAM, compositor started as the user, foot, loopback TLS)');
  execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', '--comment', 'waydesk login bench (removed after the run)', USER]);
  let s: DevServer | undefined;
  try {
    execFileSync('chpasswd', [], { input: `${USER}:${PASSWORD}\n` });
    s = await startLoginServer(['foot', '-o', 'cursor.blink=no', 'sh']);
    const fresh: number[] = [];
    const again: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      // a new session: PAM, a compositor and foot start, then the whole picture
      const first = await timeLogin(s, `bench-${i}-a`);
      fresh.push(first.ms);
      await sleep(300);
      // the same user at another terminal: PAM, then the running desktop moves there
      const second = await timeLogin(s, `bench-${i}-b`);
      again.push(second.ms);
      first.t.stop();
      // log out (exit in the shell): the session ends, so the next round starts a new one
      for (const k of keystrokes('exit\n')) second.t.key(k.code, k.pressed);
      await waitFor('the greeter after logging out', () => greeterSays(second.t, 'you logged out: your session is over'), 15_000);
      second.t.stop();
      await sleep(300);
    }
    r.add('login', 'new_session_to_first_picture_p50', percentile(fresh, 50), 'ms');
    r.add('login', 'new_session_to_first_picture_max', Math.max(...fresh), 'ms');
    r.add('login', 'reattach_to_first_picture_p50', percentile(again, 50), 'ms');
    r.add('login', 'reattach_to_first_picture_max', Math.max(...again), 'ms');
  } finally {
    await s?.stop();
    execFileSync('userdel', ['--remove', '--force', USER], { stdio: 'ignore' });
  }
}

/** Terminals at the greeter at once: under the per-address cap, since they all come from loopback. */
const GREETERS = 30;

/** What a terminal at the greeter costs the server (memory) and the wire (bytes). */
export async function benchGreeter(r: Report): Promise<void> {
  if (!isRoot()) {
    r.note('greeter: skipped (needs root: the login server)');
    return;
  }
  r.note(`greeter (${GREETERS} terminals at 1920x1080 waiting at the login screen)`);
  const s = await startLoginServer(['foot', 'sh']);
  const terminals: Terminal[] = [];
  try {
    await sleep(1000);
    const before = pssBytes(s.proc.pid!);
    for (let i = 0; i < GREETERS; i++) terminals.push(startTerminal(s, { width: 1920, height: 1080 }, `greeter-${i}`, false, 'greeter').terminal);
    await waitFor('every terminal at the greeter', () => terminals.every((t) => greeterSays(t, '')), 30_000);
    await sleep(2000);
    const after = pssBytes(s.proc.pid!);
    r.add('greeter', 'server_pss_per_terminal', (after - before) / GREETERS / 1024, 'KiB');
    r.add('greeter', 'first_picture_bytes', terminals[0]!.bytesReceived, 'B');
    const t = terminals[0]!;
    const b0 = t.bytesReceived;
    const n = 10;
    for (const k of keystrokes('abcdefghij')) t.key(k.code, k.pressed);
    await waitFor('ten characters at the greeter', () => t.framesDecoded >= 1 + n, 10_000);
    r.add('greeter', 'bytes_per_typed_character', (t.bytesReceived - b0) / n, 'B');
  } finally {
    for (const t of terminals) t.stop();
    await s.stop();
  }
}
