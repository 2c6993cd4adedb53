// The login server: real PAM against accounts this test makes (and removes), a desktop per user
// running as that user, sessions keyed by who logged in, moving to wherever the user logs in.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, uidsOf } from '../bench/procs.js';
import { keystrokes } from '../../protocol/src/us-keys.js';
import { LevelStore } from '../../session-manager/src/store.js';
import { launchChromium } from '../helpers/browser.js';
import { isRoot, sleep, waitFor } from '../helpers/compositor.js';
import { SERVER_BIN, differsFromDesktop, endDesktops, quiet, startLoginServer, startTerminal, type DevServer } from '../helpers/server.js';
import { TEST_USER, makeAccount, removeAccount } from '../helpers/test-user.js';
import { greeterSays, messageLine, typeLogin } from '../helpers/greeter.js';

const PASSWORD = 'another horse battery staple';
const A = 'wdlogin-a';
const B = 'wdlogin-b';
/** Must change the password at the next login. */
const P = 'wdlogin-p';

function uidOf(name: string): number {
  return Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
}



function differs(s: DevServer, uid: number, fb: Buffer, w: number, h: number): Promise<number> {
  return differsFromDesktop(s, fb, w, h, uid);
}

/** True once the terminal shows exactly that user's desktop (false while it has none yet). */
async function showsDesktopOf(s: DevServer, uid: number, fb: Buffer, w: number, h: number): Promise<boolean> {
  try {
    return (await differs(s, uid, fb, w, h)) === 0;
  } catch {
    return false;
  }
}

describe.skipIf(!isRoot())('logging in', () => {
  let s: DevServer;
  const made: string[] = [];
  beforeAll(async () => {
    for (const name of [A, B, P]) {
      makeAccount(name, PASSWORD, 'login test');
      made.push(name);
    }
    execFileSync('chage', ['--lastday', '0', P]);
    // each user's desktop says who it is, in a file in their home and on their screen
    s = await startLoginServer(['foot', '-o', 'cursor.blink=no', 'sh', '-c', 'id > "$HOME/who"; id; exec sh']);
  });
  afterAll(async () => {
    await s?.stop();
    for (const name of made) removeAccount(name);
  });

  it('two users at two terminals each get their own desktop, running as them', async () => {
    const a = startTerminal(s, { width: 800, height: 600 }, 'term-a', false, { user: A, password: PASSWORD }).terminal;
    const b = startTerminal(s, { width: 1024, height: 768 }, 'term-b', false, { user: B, password: PASSWORD }).terminal;
    try {
      await waitFor("A's desktop", () => a.painter.width === 800, 20_000);
      await waitFor("B's desktop", () => b.painter.width === 1024, 20_000);
      for (const [name, t, w, h] of [[A, a, 800, 600], [B, b, 1024, 768]] as const) {
        const uid = uidOf(name);
        await waitFor(`${name}'s session to start`, () => fs.existsSync(`/home/${name}/who`), 15_000);
        expect(fs.readFileSync(`/home/${name}/who`, 'utf8')).toMatch(new RegExp(`^uid=${uid}\\(${name}\\)`));
        // every process of that desktop runs as its user
        const compositor = descendants(s.proc.pid!).find((p) => uidsOf(p)[0] === uid && fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'node');
        expect(compositor).toBeDefined();
        for (const p of [compositor!, ...descendants(compositor!)]) expect(uidsOf(p)).toEqual([uid, uid, uid, uid]);
        // the terminal shows exactly that desktop, and not the other one
        await quiet(t, 600);
        expect(await differs(s, uid, t.painter.framebuffer, w, h)).toBe(0);
      }
      expect(s.log()).toMatch(/"session":"user:wdlogin-a"[^\n]*"event":"session-new"/);
    } finally {
      a.stop();
      b.stop();
    }
  });

  it('a wrong password gets "login incorrect" and no picture', async () => {
    const t = startTerminal(s, { width: 800, height: 600 }, 'term-c', false, { user: A, password: 'wrong' }).terminal;
    const st = await new Promise<{ retrying: boolean; message: string }>((r) => t.on('status', (x) => !x.connected && r(x)));
    t.stop();
    expect(st).toMatchObject({ retrying: false, message: 'login incorrect' });
    expect(t.framesDecoded).toBe(0);
    expect(s.log()).not.toContain('wrong"');
  });

  it('at the greeter: a wrong password is told on its screen, the right one opens the desktop', async () => {
    const t = startTerminal(s, { width: 1024, height: 768 }, 'greeter-a', false, 'greeter').terminal;
    try {
      await waitFor('the greeter', () => t.painter.width === 1024 && greeterSays(t, ''), 10_000);
      typeLogin(t, A, 'not the password');
      await waitFor('"login incorrect" on the greeter', () => greeterSays(t, 'login incorrect'), 10_000);
      expect(t.connected).toBe(true);
      // the name stays, the password field is empty: only the password is typed again
      for (const k of keystrokes(PASSWORD)) t.key(k.code, k.pressed);
      t.key(28, true);
      t.key(28, false);
      await waitFor("A's desktop", () => showsDesktopOf(s, uidOf(A), t.painter.framebuffer, 1024, 768), 20_000, 300);
      expect(s.log()).not.toContain('not the password');
      expect(s.log()).not.toContain(PASSWORD);
    } finally {
      t.stop();
    }
  });

  it('an expired password is changed at the greeter, typed twice, and the desktop opens', async () => {
    const t = startTerminal(s, { width: 1024, height: 768 }, 'greeter-p', false, 'greeter').terminal;
    const type = (text: string): void => {
      for (const k of [...keystrokes(text), { code: 28, pressed: true }, { code: 28, pressed: false }]) t.key(k.code, k.pressed);
    };
    try {
      await waitFor('the greeter', () => greeterSays(t, ''), 10_000);
      typeLogin(t, P, PASSWORD);
      await waitFor('the greeter to ask for a new password', () => greeterSays(t, 'your password has expired: choose a new one'), 10_000);
      type('a new staple for the lab');
      type('a new staple for the lap');
      await waitFor('the greeter to refuse two that differ', () => greeterSays(t, 'the two passwords differ: type the new one twice again'), 10_000);
      type('a new staple for the lab');
      type('a new staple for the lab');
      await waitFor("P's desktop", () => showsDesktopOf(s, uidOf(P), t.painter.framebuffer, 1024, 768), 20_000, 300);
      expect(s.log()).toMatch(/"user":"wdlogin-p"[^\n]*"event":"password-changed"/);
      expect(s.log()).not.toContain('staple for the');
      // the account has the new password now: a programmatic login with it gets the same desktop
      expect(execFileSync('chage', ['-l', P], { encoding: 'utf8' })).not.toMatch(/Last password change\s*:\s*password must be changed/);
    } finally {
      t.stop();
    }
  });

  it('logging in again elsewhere moves the same session there, resized; the first terminal is told', async () => {
    const first = startTerminal(s, { width: 800, height: 600 }, 'desk-1', false, { user: A, password: PASSWORD }).terminal;
    await waitFor('the session at the first terminal', () => first.painter.width === 800, 20_000);
    const second = startTerminal(s, { width: 1280, height: 720 }, 'desk-2', false, { user: A, password: PASSWORD }).terminal;
    try {
      await waitFor('the session at the second terminal, at its size', () => second.painter.width === 1280, 20_000);
      // the first terminal stays connected and shows the greeter, saying where the session went
      await waitFor('the greeter at the first terminal', () => greeterSays(first, 'your session moved to terminal desk-2'), 10_000);
      expect(first.connected).toBe(true);
      expect(first.atGreeter).toBe(true);
      // its connection drops and comes back: it does not log in again by itself and take the session back
      const logged = s.log().length;
      first.dropConnection();
      await waitFor('the first terminal back, at the greeter', () => first.connected && first.atGreeter && greeterSays(first, ''), 10_000);
      await sleep(500);
      expect(s.log().slice(logged)).not.toMatch(/"terminal":"desk-1"[^\n]*"event":"(reattach|auth-ok)"/);
      await quiet(second, 600);
      expect(await differs(s, uidOf(A), second.painter.framebuffer, 1280, 720)).toBe(0);
      // still one desktop for A: the login re-attached it
      expect(s.log().match(/"session":"user:wdlogin-a"[^\n]*"event":"session-new"/g)).toHaveLength(1);
      expect(s.log()).toMatch(/"session":"user:wdlogin-a"[^\n]*"event":"reattach"/);
    } finally {
      first.stop();
      second.stop();
    }
  });

  it('a crashed desktop ends only its own session: its terminal is told, the other goes on', async () => {
    const a = startTerminal(s, { width: 800, height: 600 }, 'crash-a', false, { user: A, password: PASSWORD }).terminal;
    const b = startTerminal(s, { width: 800, height: 600 }, 'crash-b', false, { user: B, password: PASSWORD }).terminal;
    try {
      await waitFor('both desktops', () => a.painter.width === 800 && b.painter.width === 800, 20_000);
      const compositorOf = (uid: number): number | undefined =>
        descendants(s.proc.pid!).find((p) => uidsOf(p)[0] === uid && fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'node');
      const victim = compositorOf(uidOf(A))!;
      // its runtime directory (XDG_RUNTIME_DIR), in a parent of the server's
      const runtime = path.dirname(s.env(uidOf(A)).XDG_RUNTIME_DIR!);
      expect(fs.existsSync(runtime)).toBe(true);
      const bystander = compositorOf(uidOf(B))!;
      process.kill(victim, 'SIGKILL');
      await waitFor('the greeter, saying why', () => greeterSays(a, 'your desktop ended unexpectedly: log in again for a new one'), 10_000);
      expect(a.connected).toBe(true);
      await waitFor("A's PAM session to close", () => /"session":"user:wdlogin-a"[^\n]*"event":"session-end"/.test(s.log()), 10_000);
      // a crash leaves nothing behind: the server removes the runtime directory it gave the desktop
      expect(fs.existsSync(runtime)).toBe(false);
      // B saw nothing of it: same compositor, still connected, still answering
      expect(compositorOf(uidOf(B))).toBe(bystander);
      expect(b.connected).toBe(true);
      const before = b.framesDecoded;
      b.key(30, true);
      b.key(30, false);
      await waitFor("B's desktop to answer a key", () => b.framesDecoded > before, 10_000);
      b.key(14, true);
      b.key(14, false);
    } finally {
      a.stop();
      b.stop();
    }
  });

  it('the browser terminal shows the same greeter: a wrong password is told, the right one shows the desktop', async () => {
    const chrome = await launchChromium();
    try {
      const page = await chrome.browser.newPage({ viewport: { width: 800, height: 600 } });
      await page.goto(`${s.url.replace('wss://', 'https://').replace('/terminal', '/')}?size=800x600`);
      await page.waitForFunction(() => (window as unknown as { waydesk: { framesDrawn: number } }).waydesk.framesDrawn > 0, null, { timeout: 20_000 });
      /** The page's picture of the message line, against the greeter's own drawing of it. */
      const says = async (message: string): Promise<boolean> => {
        const line = messageLine(800, 600, message);
        const r = line.rect;
        const want = Array.from(line.px);
        return page.evaluate(
          ({ r, want }) => {
            const c = document.getElementById('screen') as HTMLCanvasElement;
            if (c.width !== 800) return false;
            const d = c.getContext('2d')!.getImageData(r.x, r.y, r.width, r.height).data;
            return want.every((g, i) => d[i * 4] === g && d[i * 4 + 1] === g && d[i * 4 + 2] === g);
          },
          { r, want },
        );
      };
      await waitFor('the greeter in the page', () => says(''), 10_000, 200);
      await page.keyboard.type(A);
      await page.keyboard.press('Enter');
      await page.keyboard.type('not the password');
      await page.keyboard.press('Enter');
      await waitFor('"login incorrect" in the page', () => says('login incorrect'), 10_000, 200);
      // this address has failed a few times in this file: the server may ask it to wait first
      for (let attempt = 0; ; attempt++) {
        const throttled = s.log().match(/"event":"login-throttled"/g)?.length ?? 0;
        await page.keyboard.type(PASSWORD);
        await page.keyboard.press('Enter');
        const r = await waitFor(
          "A's session at the browser",
          () => (/"kind":"browser"[^\n]*"session":"user:wdlogin-a"[^\n]*"msg":"terminal attached"/.test(s.log()) ? 'in' : (s.log().match(/"event":"login-throttled"/g)?.length ?? 0) > throttled && 'wait'),
          10_000,
        );
        if (r === 'in') break;
        expect(attempt).toBeLessThan(3);
        const waitMs = Number([...s.log().matchAll(/"waitMs":(\d+)/g)].pop()![1]);
        await sleep(waitMs + 100);
      }
    } finally {
      await chrome.close();
    }
  }, 60_000);

  it('an administrator sees the sessions and terminals, and ends one: its terminal is told, others go on', async () => {
    const a = startTerminal(s, { width: 800, height: 600 }, 'admin-a', false, { user: A, password: PASSWORD }).terminal;
    const b = startTerminal(s, { width: 800, height: 600 }, 'admin-b', false, { user: B, password: PASSWORD }).terminal;
    const cli = (...args: string[]): string => execFileSync(process.execPath, [SERVER_BIN, ...args, '--state', s.state], { encoding: 'utf8' });
    try {
      await waitFor('both desktops', () => a.painter.width === 800 && b.painter.width === 800 && !a.atGreeter && !b.atGreeter, 20_000);
      await waitFor('both sessions listed as attached', () => {
        const list = JSON.parse(cli('sessions', '--json')) as Array<{ key: string; terminal: string | null }>;
        return list.some((x) => x.key === `user:${A}` && x.terminal === 'admin-a') && list.some((x) => x.key === `user:${B}` && x.terminal === 'admin-b');
      }, 5000, 200);
      expect(cli('sessions')).toMatch(new RegExp(`user:${B}\\s+\\d+\\s+admin-b`));
      const terminals = JSON.parse(cli('terminals', '--json')) as Array<{ id: string; displays: Array<{ width: number }> }>;
      expect(terminals.find((t) => t.id === 'admin-b')?.displays[0]?.width).toBe(800);
      expect(cli('end-session', B)).toContain(`ended the session of ${B}`);
      await waitFor("B's greeter, saying why", () => greeterSays(b, 'your session was ended by an administrator'), 10_000);
      // A goes on: still attached, still answering
      expect(a.atGreeter).toBe(false);
      const before = a.framesDecoded;
      for (const k of keystrokes('x')) a.key(k.code, k.pressed);
      await waitFor("A's desktop to answer a key", () => a.framesDecoded > before, 10_000);
      expect(cli('audit', '--limit', '20')).toMatch(new RegExp(`session-killed\\s+session=user:${B}`));
      // nobody but root may ask: the socket is in root's private state directory
      let refused = '';
      try {
        execFileSync('runuser', ['-u', TEST_USER, '--', process.execPath, SERVER_BIN, 'sessions', '--state', s.state], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        refused = String((err as { stderr?: string }).stderr);
      }
      expect(refused).toMatch(/the admin socket is root's \(run this as root\)/);
      // an unknown user is told so, with exit status 1
      expect(() => execFileSync(process.execPath, [SERVER_BIN, 'end-session', 'nobody-here', '--state', s.state], { stdio: 'ignore' })).toThrow();
    } finally {
      a.stop();
      b.stop();
    }
  });

  it('logging out ends the session: the terminal is told, the PAM session is closed', async () => {
    const t = startTerminal(s, { width: 800, height: 600 }, 'desk-3', false, { user: B, password: PASSWORD }).terminal;
    await waitFor('the session', () => t.painter.width === 800, 20_000);
    await sleep(500);
    // the user types exit in the shell: foot ends, and with it the session command
    for (const ch of ['e', 'x', 'i', 't']) {
      const code = { e: 18, x: 45, i: 23, t: 20 }[ch]!;
      t.key(code, true);
      t.key(code, false);
    }
    t.key(28, true);
    t.key(28, false);
    await waitFor('the greeter, saying why', () => greeterSays(t, 'you logged out: your session is over'), 10_000);
    t.stop();
    await waitFor('the PAM session to close', () => /"session":"user:wdlogin-b"[^\n]*"event":"session-end"/.test(s.log()), 10_000);
  });
});

describe.skipIf(!isRoot())('a server killed with kill -9', () => {
  const C = 'wdlogin-c';
  const D = 'wdlogin-d';
  const made: string[] = [];
  let first: DevServer | undefined;
  let second: DevServer | undefined;
  beforeAll(() => {
    for (const name of [C, D]) {
      makeAccount(name, PASSWORD, 'login test');
      made.push(name);
    }
  });
  afterAll(async () => {
    await second?.stop();
    if (first) await endDesktops(first.log());
    for (const name of made) removeAccount(name);
  });

  it('leaves every desktop running; restarted, it adopts them and both terminals show their sessions again within 3 s', async () => {
    const command = ['foot', '-o', 'cursor.blink=no', 'sh'];
    first = await startLoginServer(command);
    const port = Number(new URL(first.url).port);
    const c = startTerminal(first, { width: 800, height: 600 }, 'kill-c', false, { user: C, password: PASSWORD }).terminal;
    const d = startTerminal(first, { width: 1024, height: 768 }, 'kill-d', false, { user: D, password: PASSWORD }).terminal;
    try {
      await waitFor('both desktops', () => c.painter.width === 800 && d.painter.width === 1024, 20_000);
      // something typed before the kill, to find again after it
      for (const code of [30, 48, 46]) {
        c.key(code, true);
        c.key(code, false);
      }
      await quiet(c, 600);
      const before = Buffer.from(c.painter.framebuffer);
      const compositorOf = (uid: number): number | undefined =>
        descendants(first!.proc.pid!).find((p) => uidsOf(p)[0] === uid && fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'node');
      const pids = [compositorOf(uidOf(C))!, compositorOf(uidOf(D))!];
      process.kill(first.proc.pid!, 'SIGKILL');
      await waitFor('the server to die', () => first!.proc.exitCode !== null || first!.proc.signalCode !== null, 5000);
      await sleep(1000);
      for (const pid of pids) expect(fs.existsSync(`/proc/${pid}`) && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('waydesk-compositor')).toBe(true);
      const framesBefore = [c.framesDecoded, d.framesDecoded];
      second = await startLoginServer(command, [], { state: first.state, port });
      const t0 = Date.now();
      await waitFor('both terminals to show their sessions again', () => c.framesDecoded > framesBefore[0]! && d.framesDecoded > framesBefore[1]!, 10_000);
      const backMs = Date.now() - t0;
      expect(backMs).toBeLessThan(3000);
      expect(second.log().match(/"event":"session-adopted"/g)).toHaveLength(2);
      // the same desktops: the same compositors, and what was typed is still on screen
      for (const pid of pids) expect(second.log()).toContain(`"compositorPid":${pid}`);
      await quiet(c, 600);
      let changed = 0;
      const now = c.painter.framebuffer;
      for (let i = 0; i < 800 * 600; i++) if ((now.readUInt32LE(i * 4) & 0xffffff) !== (before.readUInt32LE(i * 4) & 0xffffff)) changed++;
      expect(changed).toBe(0);
      expect(await differs(second, uidOf(D), d.painter.framebuffer, 1024, 768)).toBe(0);
    } finally {
      c.stop();
      d.stop();
    }
    // the audit trail in the store, read back after the server stops: every step of the two sessions
    await sleep(300);
    await second.stop({ keepState: true });
    const store = await LevelStore.open(path.join(first.state, 'db'));
    try {
      const events = (await store.auditTrail()).map((e) => `${e.event} ${String(e.session ?? e.user ?? '')}`);
      for (const user of [C, D]) {
        for (const e of ['login-ok', 'session-new', 'attach', 'session-adopted', 'detach']) {
          expect(events.some((x) => x.startsWith(e) && x.includes(user)), `${e} of ${user} in ${events.join(', ')}`).toBe(true);
        }
      }
      // the terminals as the server last saw them: where, what display, and that they left
      const terminals = await store.terminals();
      expect(terminals.find((t) => t.id === 'kill-c')).toMatchObject({ kind: 'headless', displays: [{ width: 800, height: 600 }], session: null });
      expect(terminals.find((t) => t.id === 'kill-d')?.address).toMatch(/^127\.0\.0\.1:\d+$/);
      // sessions the last run left running say when a terminal last showed them
      for (const r of await store.sessions()) expect(r.lastAttachedAt).toBeGreaterThan(0);
    } finally {
      await store.close();
      fs.rmSync(first.state, { recursive: true, force: true });
    }
    second = undefined;
  }, 60_000);
});

describe.skipIf(!isRoot())('several sessions per user (session.perUser 2)', () => {
  const Q = 'wdlogin-q';
  let s: DevServer | undefined;
  let dir = '';
  beforeAll(() => {
    makeAccount(Q, PASSWORD, 'login test');
  });
  afterAll(async () => {
    await s?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    removeAccount(Q);
  });

  it('a second terminal gets a second desktop; a third moves the one shown longest ago; the admin ends both', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-peruser-'));
    const config = path.join(dir, 'server.json');
    fs.writeFileSync(config, JSON.stringify({ session: { perUser: 2 } }));
    s = await startLoginServer(['foot', '-o', 'cursor.blink=no', 'sh'], ['--config', config]);
    const login = { user: Q, password: PASSWORD };
    const sessionsOf = (): Array<{ key: string; terminal: string | null; pid: number | null }> =>
      (JSON.parse(execFileSync(process.execPath, [SERVER_BIN, 'sessions', '--json', '--state', s!.state], { encoding: 'utf8' })) as Array<{ key: string; terminal: string | null; pid: number | null }>).filter((x) => x.key.startsWith(`user:${Q}`));
    const t1 = startTerminal(s, { width: 800, height: 600 }, 'multi-1', false, login).terminal;
    const terminals = [t1];
    try {
      await waitFor('the first desktop', () => t1.painter.width === 800 && !t1.atGreeter, 20_000);
      const t2 = startTerminal(s, { width: 1024, height: 768 }, 'multi-2', false, login).terminal;
      terminals.push(t2);
      await waitFor('the second desktop', () => t2.painter.width === 1024 && !t2.atGreeter, 20_000);
      await waitFor('two sessions, one at each terminal', () => {
        const l = sessionsOf();
        return l.length === 2 && l.some((x) => x.terminal === 'multi-1') && l.some((x) => x.terminal === 'multi-2');
      }, 5000, 200);
      const [a, b] = sessionsOf();
      expect(a!.pid).not.toBe(b!.pid);
      // both still shown: the first terminal was not taken over
      expect(t1.atGreeter).toBe(false);
      // a third login, with both shown: the one shown longest ago (at multi-1) moves there
      const t3 = startTerminal(s, { width: 800, height: 600 }, 'multi-3', false, login).terminal;
      terminals.push(t3);
      await waitFor('the first terminal told', () => greeterSays(t1, 'your session moved to terminal multi-3'), 15_000);
      expect(t2.atGreeter).toBe(false);
      await waitFor('still two sessions', () => {
        const l = sessionsOf();
        return l.length === 2 && l.some((x) => x.terminal === 'multi-3') && l.some((x) => x.terminal === 'multi-2');
      }, 5000, 200);
      // the admin ends the user's sessions: both terminals go to the greeter
      execFileSync(process.execPath, [SERVER_BIN, 'end-session', Q, '--state', s.state]);
      await waitFor('both terminals told', () => greeterSays(t2, 'your session was ended by an administrator') && greeterSays(t3, 'your session was ended by an administrator'), 15_000);
      expect(sessionsOf()).toHaveLength(0);
    } finally {
      for (const t of terminals) t.stop();
    }
  }, 90_000);
});

describe.skipIf(!isRoot())('a session left without a terminal', () => {
  const E = 'wdlogin-e';
  let s: DevServer | undefined;
  let dir = '';
  beforeAll(() => {
    makeAccount(E, PASSWORD, 'login test');
  });
  afterAll(async () => {
    await s?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    removeAccount(E);
  });

  it('is logged out after the configured time (the least allowed, 60 s), with its PAM session closed', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-timeout-'));
    const config = path.join(dir, 'server.json');
    fs.writeFileSync(config, JSON.stringify({ session: { detachedTimeoutSeconds: 60 } }));
    s = await startLoginServer(['foot', 'sh'], ['--config', config]);
    const t = startTerminal(s, { width: 800, height: 600 }, 'timeout-e', false, { user: E, password: PASSWORD }).terminal;
    await waitFor('the session', () => t.painter.width === 800, 20_000);
    const compositor = descendants(s.proc.pid!).find((p) => uidsOf(p)[0] === uidOf(E) && fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'node')!;
    t.stop(); // the user walks away: the session is detached
    const t0 = Date.now();
    await waitFor('the timeout', () => /"session":"user:wdlogin-e"[^\n]*"event":"detached-timeout"/.test(s!.log()), 70_000, 200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(59_000);
    await waitFor('the session to end', () => /"session":"user:wdlogin-e"[^\n]*"event":"session-end"/.test(s!.log()), 10_000);
    await waitFor('its desktop to be gone', () => !fs.existsSync(`/proc/${compositor}`), 10_000);
  }, 100_000);
});
