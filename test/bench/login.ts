// Logins: from a password at the terminal to the first picture of the desktop, through the real
// login server (PAM, a compositor started as the user, foot). Needs root: it makes one account
// for the run and removes it.
import { makeAccount, removeAccount } from '../helpers/test-user.js';
import { keystrokes } from '../../protocol/src/us-keys.js';
import type { Terminal } from '../../client-firmware/src/terminal.js';
import { isRoot, sleep, waitFor } from '../helpers/compositor.js';
import { endDesktops, startLoginServer, startTerminal, type DevServer } from '../helpers/server.js';
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
  makeAccount(USER, PASSWORD, 'login bench');
  let s: DevServer | undefined;
  try {
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
    removeAccount(USER);
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

const KILLS = 7;

/**
 * kill -9 of the server with a terminal showing its session: the desktop runs on, a new server
 * adopts it, the terminal reconnects (its back-off is at most 2 s). Measured from the new
 * server listening to the terminal's next picture, and from the kill (a supervisor such as
 * systemd adds its restart delay to that).
 */
export async function benchReconnect(r: Report): Promise<void> {
  if (!isRoot()) {
    r.note('reconnect: skipped (needs root: PAM and a desktop started as the user)');
    return;
  }
  r.note(`reconnect (kill -9 of the server, restarted at once, ${KILLS} times; the terminal's picture back)`);
  const user = 'wdbench-kill';
  makeAccount(user, PASSWORD, 'reconnect bench');
  const logs: string[] = [];
  let s: DevServer | undefined;
  let t: Terminal | undefined;
  try {
    const command = ['foot', '-o', 'cursor.blink=no', 'sh'];
    s = await startLoginServer(command);
    const state = s.state;
    const port = Number(new URL(s.url).port);
    t = startTerminal(s, { width: 1920, height: 1080 }, 'bench-kill', false, { user, password: PASSWORD }).terminal;
    await waitFor('the desktop', () => t!.framesDecoded > 0, 30_000);
    const fromListen: number[] = [];
    const fromKill: number[] = [];
    for (let i = 0; i < KILLS; i++) {
      await sleep(1000);
      const frames = t.framesDecoded;
      const killedAt = performance.now();
      process.kill(s.proc.pid!, 'SIGKILL');
      await waitFor('the server to die', () => s!.proc.exitCode !== null || s!.proc.signalCode !== null, 5000, 5);
      logs.push(s.log());
      s = await startLoginServer(command, [], { state, port });
      const listening = performance.now();
      await waitFor('the picture back', () => t!.framesDecoded > frames, 15_000, 5);
      fromListen.push(performance.now() - listening);
      fromKill.push(performance.now() - killedAt);
    }
    r.add('reconnect', 'server_listening_to_picture_p50', percentile(fromListen, 50), 'ms');
    r.add('reconnect', 'server_listening_to_picture_p95', percentile(fromListen, 95), 'ms');
    r.add('reconnect', 'kill_to_picture_p50', percentile(fromKill, 50), 'ms');
    r.add('reconnect', 'kill_to_picture_p95', percentile(fromKill, 95), 'ms');
  } finally {
    t?.stop();
    if (s) {
      logs.push(s.log());
      await s.stop();
    }
    for (const l of logs) await endDesktops(l);
    removeAccount(user);
  }
}
