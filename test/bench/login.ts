// Logins: from a password at the terminal to the first picture of the desktop, through the real
// login server (PAM, a compositor started as the user, foot). Needs root: it makes one account
// for the run and removes it.
import { execFileSync } from 'node:child_process';
import { keystrokes } from '../../compositor/src/keys.js';
import type { Terminal } from '../../client-firmware/src/terminal.js';
import { isRoot, sleep, waitFor } from '../helpers/compositor.js';
import { startLoginServer, startTerminal, type DevServer } from '../helpers/server.js';
import { percentile, type Report } from './report.js';

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
      const ended = new Promise<void>((res) => second.t.on('status', (x) => !x.connected && res()));
      for (const k of keystrokes('exit\n')) second.t.key(k.code, k.pressed);
      await ended;
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
