// Who may reach a desktop, and as whom it runs: the real server, compositor, foot and Chromium.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CloseCode, WIRE_VERSION, decodeServerMessage, encodeTerminalMessage, type ServerMessage } from '@waydesk/protocol/wire';
import { launchChromium } from '../helpers/browser.js';
import { BIN, isRoot, sleep, waitFor } from '../helpers/compositor.js';
import { comm, descendants, uidsOf } from '../bench/procs.js';
import { SERVER_BIN, startDevServer, startTerminal, type DevServer } from '../helpers/server.js';
import { TEST_USER, testUser } from '../helpers/test-user.js';

const HELLO = encodeTerminalMessage({
  type: 'hello',
  body: { version: WIRE_VERSION, terminalId: 'security', kind: 'headless', displays: [{ width: 1280, height: 720, refreshMhz: 60000 }], codecs: ['tiles', 'h264'], input: ['keyboard', 'pointer'] },
});

/** Opens a raw WebSocket as an attacker would, sends `messages`, and reports what came back. */
function attempt(
  url: string,
  messages: Uint8Array[],
  headers: Record<string, string> = {},
): Promise<{ opened: boolean; status?: number; code?: number; reason?: string; messages: ServerMessage[] }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { rejectUnauthorized: false, perMessageDeflate: false, headers });
    const got: ServerMessage[] = [];
    let opened = false;
    ws.on('unexpected-response', (_req, res) => {
      resolve({ opened, status: res.statusCode, messages: got });
      ws.terminate();
    });
    ws.on('open', () => {
      opened = true;
      for (const m of messages) ws.send(m);
    });
    ws.on('message', (d: Buffer) => {
      const m = decodeServerMessage(d);
      got.push(m);
      // the desktop opened: that is all an attempt wants to know
      if (m.type === 'frame') ws.close();
    });
    ws.on('close', (code, reason) => resolve({ opened, code, reason: reason.toString(), messages: got }));
    ws.on('error', () => {});
  });
}




describe('who may connect', () => {
  let s: DevServer;
  beforeAll(async () => {
    s = await startDevServer(['foot', 'sh']);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('refuses a WebSocket upgrade from a foreign Origin with 403, and takes its own', async () => {
    const evil = await attempt(s.url, [HELLO], { Origin: 'https://evil.example' });
    expect(evil.opened).toBe(false);
    expect(evil.status).toBe(403);
    await waitFor('the refusal in the log', () => /refused a WebSocket upgrade from a foreign origin/.test(s.log()), 5000);
    const port = new URL(s.url).port;
    const own = await attempt(s.url, [HELLO, encodeTerminalMessage({ type: 'auth', body: { token: s.token } })], { Origin: `https://127.0.0.1:${port}` });
    // the server's own page: accepted, and with the token it gets the desktop
    expect(own.opened).toBe(true);
    expect(own.messages.some((m) => m.type === 'frame')).toBe(true);
  });

  it('gives no frame without the token, nor with a wrong one, and says why', async () => {
    const none = await attempt(s.url, [HELLO]);
    expect(none.code).toBe(CloseCode.Unauthorized);
    expect(none.messages.map((m) => m.type)).toEqual(['error']);
    expect(none.reason).toMatch(/no token within/);
    await waitFor('the audit line', () => /"remote":"127\.0\.0\.1:\d+","terminal":"security","event":"auth-missing"/.test(s.log()), 5000);

    const wrong = await attempt(s.url, [HELLO, encodeTerminalMessage({ type: 'auth', body: { token: s.token.slice(1) + 'x' } })]);
    expect(wrong.code).toBe(CloseCode.Unauthorized);
    expect(wrong.messages.map((m) => m.type)).toEqual(['error']);
    expect(wrong.reason).toMatch(/wrong token/);

    // input before authenticating is refused, not delivered
    const early = await attempt(s.url, [HELLO, encodeTerminalMessage({ type: 'key', code: 30, pressed: true })]);
    expect(early.code).toBe(CloseCode.Protocol);
    expect(early.messages.some((m) => m.type === 'frame')).toBe(false);

    // the audit line names the remote address, never the token
    await waitFor('the audit line', () => s.log().includes('auth-failed'), 5000);
    const audit = s.log().split('\n').filter((l) => l.includes('auth-failed'));
    expect(audit.length).toBeGreaterThan(0);
    expect(audit[0]).toMatch(/"remote":"127\.0\.0\.1:\d+"/);
    // (the console banner prints the address with it, for the user; the structured log never does)
    expect(s.log().split('\n').filter((l) => l.startsWith('{') && l.includes(s.token))).toEqual([]);
  });

  it('a terminal without the token stops retrying and says so; with it, it gets the desktop', async () => {
    const bad = startTerminal({ ...s, token: 'B'.repeat(24) }, { width: 800, height: 600 }, 'no-token');
    const st = await new Promise<{ retrying: boolean; message: string }>((r) => bad.terminal.on('status', (x) => !x.connected && r(x)));
    bad.terminal.stop();
    expect(st.retrying).toBe(false);
    expect(st.message).toMatch(/wrong token/);
    expect(bad.terminal.framesDecoded).toBe(0);
  });

  it('serves its page with headers that forbid framing and leaking the address', async () => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      https.get(s.url.replace('wss://', 'https://').replace('/terminal', '/'), { rejectUnauthorized: false }, resolve).on('error', reject);
    });
    res.resume();
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    expect(res.headers['content-security-policy']).not.toMatch(/unsafe-inline'[^;]*script|script-src[^;]*unsafe-inline/);
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('in Chromium, a page on another origin can neither frame the desktop nor open its WebSocket', async () => {
    const chrome = await launchChromium();
    // the attacker's page, on another origin of this machine
    const evil = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><iframe id="f" src="${s.url.replace('wss://', 'https://').replace('/terminal', '/')}#token=${s.token}"></iframe>
        <script>
          window.result = new Promise((resolve) => {
            const ws = new WebSocket(${JSON.stringify(s.url)});
            ws.onopen = () => resolve('open');
            ws.onerror = () => resolve('refused');
          });
        </script>`);
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    try {
      const page = await chrome.browser.newPage();
      await page.goto(`http://127.0.0.1:${(evil.address() as { port: number }).port}/`);
      expect(await page.evaluate(() => (window as unknown as { result: Promise<string> }).result)).toBe('refused');
      // refused for its origin (the browser accepts the certificate here, as a user who trusted it would)
      await waitFor('the refusal in the log', () => /"origin":"http:\/\/127\.0\.0\.1:\d+"[^\n]*foreign origin/.test(s.log()), 5000);
      expect(s.log()).toMatch(/"origin":"http:\/\/127\.0\.0\.1:\d+"[^\n]*foreign origin/);
      const frame = page.frames().find((f) => f !== page.mainFrame());
      await waitFor('the frame to settle', () => frame && frame.url() !== 'about:blank', 10_000);
      // Chromium shows its own error page instead of the desktop
      expect(frame!.url()).toMatch(/^chrome-error:/);
    } finally {
      await chrome.close();
      evil.close();
    }
  });
});

describe.skipIf(!isRoot())('never root', () => {
  let s: DevServer;
  beforeAll(async () => {
    s = await startDevServer(['foot', 'sh']);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('runs the compositor, foot and its shell as the desktop user, in a clean environment', async () => {
    const uid = testUser().uid;
    const compositor = await waitFor('the compositor', () => descendants(s.proc.pid!).find((p) => comm(p) === 'node'));
    const foot = await waitFor('foot', () => descendants(s.proc.pid!).find((p) => comm(p) === 'foot'), 15_000);
    const shell = await waitFor("foot's shell", () => descendants(foot).find((p) => comm(p) === 'sh'), 15_000);
    for (const pid of [compositor, foot, shell]) expect(uidsOf(pid), comm(pid)).toEqual([uid, uid, uid, uid]);
    const env = fs.readFileSync(`/proc/${compositor}/environ`, 'utf8').split('\0');
    // nothing of the server's environment (which the test filled) reaches the desktop
    expect(env.some((e) => e.startsWith('WAYDESK_READY_FD='))).toBe(false);
    expect(env.some((e) => e === 'HOME=/root')).toBe(false);
    const gids = fs.readFileSync(`/proc/${compositor}/status`, 'utf8').split('\n').find((l) => l.startsWith('Groups:'))!;
    expect(gids.split(/\s+/).slice(1).filter(Boolean).map(Number)).not.toContain(0);
  });

  it("keeps the link socket where the user's own apps cannot reach it", async () => {
    const compositor = await waitFor('the compositor', () => descendants(s.proc.pid!).find((p) => comm(p) === 'node'));
    const args = fs.readFileSync(`/proc/${compositor}/cmdline`, 'utf8').split('\0');
    const ipc = args[args.indexOf('--ipc') + 1]!;
    const dir = fs.statSync(path.dirname(ipc));
    expect(dir.uid).toBe(0);
    expect(dir.mode & 0o777).toBe(0o700);
    expect(fs.statSync(ipc).uid).toBe(0);
    // one of the user's apps tries
    const out = runAsTestUser(`require('net').connect(${JSON.stringify(ipc)}).on('error', (e) => { console.log(e.code); process.exit(0); }).on('connect', () => console.log('connected'))`);
    expect(out).toBe('EACCES');
  });

  it('refuses the server as root, or for a user it cannot find, with a message that says what to do', () => {
    const state = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-state-'));
    const run = (args: string[]): string => {
      try {
        execFileSync(process.execPath, [SERVER_BIN, '--dev', '--port', '0', '--state', state, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
        return '';
      } catch (err) {
        return String((err as { stderr: Buffer }).stderr);
      }
    };
    try {
      expect(run(['--user', 'root'])).toMatch(/uid 0: the desktop never runs as root/);
      expect(run(['--user', 'no-such-user-here'])).toMatch(/no such user/);
    } finally {
      fs.rmSync(state, { recursive: true, force: true });
    }
  });

  it('refuses a TLS key that others can read', () => {
    const state = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-key-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=t',
        '-keyout', path.join(state, 'server.key'), '-out', path.join(state, 'server.crt')], { stdio: 'ignore' });
      fs.chmodSync(path.join(state, 'server.key'), 0o644);
      let err = '';
      try {
        execFileSync(process.execPath, [SERVER_BIN, '--dev', '--port', '0', '--state', state, '--user', TEST_USER, '--'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
      } catch (e) {
        err = String((e as { stderr: Buffer }).stderr);
      }
      expect(err).toMatch(/can be read by others \(mode 644\).*chmod 600/s);
    } finally {
      fs.rmSync(state, { recursive: true, force: true });
    }
  });
});

/** Runs a line of Node as the unprivileged test user (one of "the user's own apps"); its stdout. */
function runAsTestUser(script: string): string {
  const u = testUser();
  return execFileSync(process.execPath, ['-e', script], { uid: u.uid, gid: u.gid, cwd: '/', encoding: 'utf8', timeout: 10_000 }).trim();
}

describe.skipIf(!isRoot())("the compositor's parent", () => {
  it('is the session-manager (root) only: the desktop user cannot attach even where the socket is open to it', async () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-peer-'));
    fs.chmodSync(base, 0o755);
    const ipc = path.join(base, 'ipc.sock');
    const proc = spawn(process.execPath, [BIN, '--ipc', ipc, '--user', TEST_USER, '--size', '640x480', '--'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    try {
      // the socket exists as it is bound and is made 0600 right after: opened up only once that is done
      await waitFor('the link socket, 0600', () => fs.existsSync(ipc) && (fs.statSync(ipc).mode & 0o777) === 0o600, 15_000);
      await sleep(300);
      // as if a mistake had opened it to everyone: only the peer check is left to stop the user
      fs.chmodSync(ipc, 0o666);
      const out = runAsTestUser(
        `const s = require('net').connect(${JSON.stringify(ipc)}); let n = 0; s.on('data', (d) => (n += d.length)); s.on('close', () => { console.log(n); process.exit(0); }); setTimeout(() => { console.log('open ' + n); process.exit(0); }, 3000);`,
      );
      // connected, then cut off without a single byte (no hello, no picture)
      expect(out).toBe('0');
      await waitFor('the refusal in its log', () => /refused a link connection from a process that did not start this desktop/.test(log), 5000);
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!isRoot())('listening beyond loopback', () => {
  it('warns what it exposes (in a network namespace of its own, whose only interface is its loopback)', async () => {
    const ns = `wd-listen-${process.pid}`;
    execFileSync('ip', ['netns', 'add', ns]);
    const state = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-state-'));
    try {
      execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, SERVER_BIN, '--dev', '--listen', '0.0.0.0', '--port', '0', '--state', state, '--user', TEST_USER, '--'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      try {
        await waitFor('the warning', () => /WARNING: listening on 0\.0\.0\.0, not loopback/.test(err) || proc.exitCode !== null, 20_000);
        expect(err).toMatch(/the browser page and the terminal endpoint on port \d+ are reachable from the network\. Anyone who has the address with its token gets the desktop of waydesk-test/);
      } finally {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
    } finally {
      execFileSync('ip', ['netns', 'del', ns]);
      fs.rmSync(state, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!isRoot())('a newcomer running the server as root in a fresh container', () => {
  it('gets a desktop as a new unprivileged waydesk account, and is told so (in a mount namespace with its own /etc and /home)', async () => {
    // A copy of /etc whose only accounts are the system's, as in a new container: useradd changes the
    // copy, seen only inside the namespace, so no account of this machine is touched.
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-container-'));
    const etc = path.join(root, 'etc');
    execFileSync('cp', ['-a', '/etc', etc]);
    // people's accounts and groups (ids 1000..59999) go, and their shadow entries with them
    const edit = (file: string, keep: (fields: string[]) => boolean): Set<string> => {
      const f = path.join(etc, file);
      const lines = fs.readFileSync(f, 'utf8').split('\n').filter((l) => !l || keep(l.split(':')));
      fs.writeFileSync(f, lines.join('\n'));
      return new Set(lines.map((l) => l.split(':')[0]!));
    };
    const system = (f: string[]): boolean => !(Number(f[2]) >= 1000 && Number(f[2]) < 60000);
    const users = edit('passwd', system);
    const groups = edit('group', system);
    edit('shadow', (f) => users.has(f[0]!));
    if (fs.existsSync(path.join(etc, 'gshadow'))) edit('gshadow', (f) => groups.has(f[0]!));
    fs.mkdirSync(path.join(root, 'home'));
    const state = path.join(root, 'state');
    const script = `mount --bind ${etc} /etc && mount --bind ${root}/home /home && exec ${process.execPath} ${SERVER_BIN} --dev --port 0 --state ${state} -- foot sh`;
    const proc = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    try {
      await waitFor('the banner', () => /is serving one desktop/.test(err) || proc.exitCode !== null, 30_000);
      expect(err).toMatch(/created the unprivileged user 'waydesk' \(no other user exists here\); the desktop runs as it/);
      const created = /^waydesk:x:(\d+):/m.exec(fs.readFileSync(path.join(etc, 'passwd'), 'utf8'));
      expect(created).not.toBeNull();
      const uid = Number(created![1]);
      expect(uid).toBeGreaterThan(0);
      const foot = await waitFor('foot', () => descendants(proc.pid!).find((p) => comm(p) === 'foot'), 15_000);
      expect(uidsOf(foot)).toEqual([uid, uid, uid, uid]);
      // and this machine's own accounts did not change
      expect(() => execFileSync('getent', ['passwd', 'waydesk'])).toThrow();
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
      fs.rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);
});
