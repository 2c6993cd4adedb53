// Each login's PAM session is held by a keeper process (native/pam/src/session_keeper.c) that
// outlives the server: the session modules act on it (pam_limits), and the session is closed
// when the desktop ends, even when a restarted server had adopted that desktop. A PAM service of
// the test's own (made and removed here) records open and close with pam_exec.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeAccount, removeAccount } from '../helpers/test-user.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, uidsOf } from '../bench/procs.js';
import { isRoot, sleep, waitFor } from '../helpers/compositor.js';
import { greeterSays, typeLogin } from '../helpers/greeter.js';
import { endDesktops, startLoginServer, startTerminal, type DevServer } from '../helpers/server.js';
import { ROOT } from '../helpers/compositor.js';

const USER = 'wdkeeper-a';
const PASSWORD = 'keeper horse battery staple';
const SERVICE = 'waydesk-keeper-test';
/** A service whose session part refuses: the password is right, the session will not open. */
const REFUSING = 'waydesk-keeper-refuse';
const LIMITS = `/etc/security/limits.d/${SERVICE}.conf`;

describe.skipIf(!isRoot())('the PAM session keeper', () => {
  let dir = '';
  let record = '';
  const servers: DevServer[] = [];
  beforeAll(() => {
    for (const f of [`/etc/pam.d/${SERVICE}`, `/etc/pam.d/${REFUSING}`, LIMITS]) if (fs.existsSync(f)) throw new Error(`${f} exists already: this test makes its own and will not touch others`);
    makeAccount(USER, PASSWORD, 'keeper test');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-keeper-'));
    fs.chmodSync(dir, 0o755);
    record = path.join(dir, 'pam.log');
    const script = path.join(dir, 'record.sh');
    fs.writeFileSync(script, `#!/bin/sh\necho "$PAM_TYPE $PAM_USER $PAM_RHOST" >> ${record}\n`, { mode: 0o755 });
    // the shipped service, and a line that records every session opened and closed
    const shipped = fs.readFileSync(path.join(ROOT, 'session-manager/pam/waydesk'), 'utf8');
    fs.writeFileSync(`/etc/pam.d/${SERVICE}`, `${shipped}\nsession optional pam_exec.so ${script}\n`);
    fs.writeFileSync(`/etc/pam.d/${REFUSING}`, `${shipped}\nsession required pam_exec.so /bin/false\n`);
    fs.writeFileSync(LIMITS, `${USER} soft nproc 777\n${USER} hard nproc 888\n`);
  });
  afterAll(async () => {
    for (const s of servers) {
      await s.stop();
      await endDesktops(s.log());
    }
    for (const f of [`/etc/pam.d/${SERVICE}`, `/etc/pam.d/${REFUSING}`, LIMITS]) fs.rmSync(f, { force: true });
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    removeAccount(USER);
  });

  it('opens the session around the desktop (pam_limits applies to it), and closes it when the desktop ends after the server was killed and restarted', async () => {
    const config = path.join(dir, 'server.json');
    fs.writeFileSync(config, JSON.stringify({ pam: { service: SERVICE } }));
    const first = await startLoginServer(['foot', 'sh'], ['--config', config]);
    servers.push(first);
    const t = startTerminal(first, { width: 800, height: 600 }, 'keeper-a', false, { user: USER, password: PASSWORD }).terminal;
    try {
      await waitFor('the desktop', () => t.painter.width === 800, 20_000);
      await waitFor('the session opened', () => fs.existsSync(record) && /open_session wdkeeper-a 127\.0\.0\.1/.test(fs.readFileSync(record, 'utf8')), 5000);
      const uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim());
      const compositor = descendants(first.proc.pid!).find((p) => uidsOf(p)[0] === uid && fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'node')!;
      // pam_limits set the user's limits on the keeper, and the desktop inherited them
      expect(fs.readFileSync(`/proc/${compositor}/limits`, 'utf8')).toMatch(/^Max processes\s+777\s+888\s/m);
      // the server dies; the desktop and its keeper do not
      process.kill(first.proc.pid!, 'SIGKILL');
      await waitFor('the server to die', () => first.proc.exitCode !== null || first.proc.signalCode !== null, 5000);
      await sleep(500);
      expect(fs.readFileSync(record, 'utf8')).not.toMatch(/close_session/);
      const second = await startLoginServer(['foot', 'sh'], ['--config', config], { state: first.state, port: Number(new URL(first.url).port) });
      servers.push(second);
      await waitFor('the adoption', () => /"event":"session-adopted"/.test(second.log()), 10_000);
      // the terminal is back on the same desktop (its login re-attaches it: no second PAM session)
      await waitFor('the terminal back', () => /"event":"reattach"/.test(second.log()), 10_000);
      // the desktop crashes under the new server: its session is closed all the same
      process.kill(compositor, 'SIGKILL');
      await waitFor('the PAM session closed', () => /close_session wdkeeper-a/.test(fs.readFileSync(record, 'utf8')), 10_000);
      await waitFor('the session over', () => /"event":"session-end"/.test(second.log()), 10_000);
      expect(fs.readFileSync(record, 'utf8').match(/open_session/g)).toHaveLength(1);
    } finally {
      t.stop();
    }
  }, 60_000);

  it('tells the user their session could not be opened when PAM refuses it, and logs why', async () => {
    const config = path.join(dir, 'refusing.json');
    fs.writeFileSync(config, JSON.stringify({ pam: { service: REFUSING } }));
    const s = await startLoginServer(['foot', 'sh'], ['--config', config]);
    servers.push(s);
    const t = startTerminal(s, { width: 800, height: 600 }, 'keeper-b', false, 'greeter').terminal;
    try {
      await waitFor('the greeter', () => greeterSays(t, ''), 10_000);
      typeLogin(t, USER, PASSWORD);
      await waitFor('the greeter to say the session could not be opened', () => greeterSays(t, 'your session could not be opened: ask an administrator'), 20_000);
      // the administrator finds PAM's own reason in the log; no desktop was started for it
      await waitFor("PAM's reason in the log", () => /"why":"[^"]*(?:error|fail|denied)[^"]*".*PAM would not open the session/i.test(s.log()), 5000);
      expect(s.log()).not.toMatch(/"desktop running"/);
      expect(t.atGreeter).toBe(true);
    } finally {
      t.stop();
    }
  }, 60_000);
});
