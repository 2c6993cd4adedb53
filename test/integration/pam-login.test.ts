// Password logins through real PAM (/etc/pam.d/waydesk: pam_unix) against real local accounts
// that this test makes and removes.
import { execFileSync, spawnSync } from 'node:child_process';
import { makeAccount, removeAccount } from '../helpers/test-user.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../session-manager/src/log.js';
import { PamLogin } from '../../session-manager/src/pam-login.js';
import { isRoot } from '../helpers/compositor.js';

const PASSWORD = 'correct horse battery staple';
const USERS = { ok: 'wdpam-ok', expired: 'wdpam-expired', mustChange: 'wdpam-change', changes: 'wdpam-changes', locked: 'wdpam-locked' } as const;

describe.skipIf(!isRoot())('password login through PAM', () => {
  const made: string[] = [];
  beforeAll(() => {
    for (const name of Object.values(USERS)) {
      makeAccount(name, PASSWORD, 'PAM test');
      made.push(name);
    }
    execFileSync('chage', ['--expiredate', '1', USERS.expired]); // expired on 2 January 1970
    execFileSync('chage', ['--lastday', '0', USERS.mustChange]); // must change at next login
    execFileSync('chage', ['--lastday', '0', USERS.changes]);
    execFileSync('usermod', ['--lock', USERS.locked]); // the password hash disabled (passwd -l)
  });
  afterAll(() => {
    for (const name of made) removeAccount(name);
  });

  const login = (pam: PamLogin, user: string, password: string, terminal = 't1', remote = '127.0.0.1:5000') =>
    pam.login({ user, password, terminal, remote });

  it('the right password gives a keeper that opens the PAM session around the desktop, with the session environment, and closes it after', async () => {
    const pam = new PamLogin({ service: 'waydesk', log: createLogger('test') });
    const r = await login(pam, USERS.ok, PASSWORD);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.user).toBe(USERS.ok);
    // the keeper with this login's PAM items, then a desktop that prints its environment (on
    // stderr: the keeper's stdout is its one status line for the server) and exits 3
    const out = spawnSync(r.sessionKeeper[0]!, [...r.sessionKeeper.slice(1), '/bin/sh', '-c', 'env >&2; echo not-the-server-s >&1; exit 3'], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', LD_PRELOAD: '' } });
    // opened, with no logind session id (logind does not run here)
    expect(out.stdout).toBe('opened \n');
    expect(out.stderr).toMatch(/^XDG_SESSION_TYPE=wayland$/m);
    expect(out.stderr).toMatch(/^XDG_SESSION_CLASS=user$/m);
    // the desktop's status is the keeper's
    expect(out.status).toBe(3);
  });

  it('a wrong password and an unknown user get the same message after the same time', async () => {
    const pam = new PamLogin({ service: 'waydesk', log: createLogger('test') });
    const timed = async (user: string, password: string, terminal: string) => {
      const t0 = Date.now();
      const r = await login(pam, user, password, terminal, `127.0.0.${terminal.length}:1`);
      return { r, ms: Date.now() - t0 };
    };
    const wrong = await timed(USERS.ok, 'not it', 'a');
    const unknown = await timed('wdpam-nobody-here', PASSWORD, 'bb');
    const bad = await timed('../../etc/passwd', PASSWORD, 'ccc');
    for (const x of [wrong, unknown, bad]) {
      expect(x.r).toEqual({ ok: false, reason: 'incorrect', message: 'login incorrect' });
      // every failure is held to 3 s; pam_unix's own randomised delay stays under it
      expect(x.ms).toBeGreaterThanOrEqual(2950);
      expect(x.ms).toBeLessThan(3500);
    }
    expect(Math.abs(wrong.ms - unknown.ms)).toBeLessThan(300);
  }, 30_000);

  it('says an expired account has expired and a password that must change must change (right password only), and a locked one is just incorrect', async () => {
    const pam = new PamLogin({ service: 'waydesk', log: createLogger('test') });
    // pam_unix says so; Debian's common-account then denies (pam_deny), and the server passes pam_unix's words on
    const expired = await login(pam, USERS.expired, PASSWORD);
    expect(expired.ok).toBe(false);
    expect(!expired.ok && expired.message).toMatch(/account has expired/i);
    expect(await login(pam, USERS.mustChange, PASSWORD, 't2')).toMatchObject({ ok: false, reason: 'password-expired' });
    // a locked account is refused like a wrong password, even with the right one: telling it apart
    // would tell a guesser the password was right
    expect(await login(pam, USERS.locked, PASSWORD, 't4', '127.0.0.8:1')).toMatchObject({ ok: false, reason: 'incorrect', message: 'login incorrect' });
    // with a wrong password it is just incorrect: the account's state is told only to its owner
    expect(await login(pam, USERS.expired, 'wrong', 't3', '127.0.0.9:1')).toMatchObject({ reason: 'incorrect' });
  }, 30_000);

  it('an expired password is changed in the same login: a weak one is refused with the reason, a good one opens the session and works after', async () => {
    const pam = new PamLogin({ service: 'waydesk', log: createLogger('test') });
    const r = await login(pam, USERS.changes, PASSWORD, 't5', '127.0.0.5:1');
    expect(r).toMatchObject({ ok: false, reason: 'password-expired', message: 'your password has expired: choose a new one' });
    if (r.ok || r.reason !== 'password-expired') return;
    // pam_unix's own words for a new password it will not take
    const weak = await r.changePassword('abc');
    expect(weak).toMatchObject({ ok: false, reason: 'password-expired' });
    expect(!weak.ok && weak.message).toMatch(/password/i);
    expect(!weak.ok && weak.message).not.toBe('your password has expired: choose a new one');
    const NEW = 'a brand new staple for 2027';
    const good = await r.changePassword(NEW);
    expect(good.ok).toBe(true);
    if (!good.ok) return;
    expect(good.sessionKeeper).toContain(USERS.changes);
    // the account has the new password now, and no longer asks for a change
    expect(await login(pam, USERS.changes, PASSWORD, 't6', '127.0.0.6:1')).toMatchObject({ reason: 'incorrect' });
    const again = await login(pam, USERS.changes, NEW, 't7', '127.0.0.7:1');
    expect(again.ok).toBe(true);
  }, 30_000);

  it('slows down repeated failures, for that user from any terminal, until a wait has passed', async () => {
    const pam = new PamLogin({ service: 'waydesk', log: createLogger('test'), failureMs: 200 });
    for (let i = 0; i < 3; i++) expect(await login(pam, USERS.ok, `wrong ${i}`, `term-${i}`, `10.0.0.${i}:1`)).toMatchObject({ reason: 'incorrect' });
    // the fourth try, from yet another terminal and address, even with the right password, must wait
    const r = await login(pam, USERS.ok, PASSWORD, 'term-9', '10.0.0.9:1');
    expect(r).toMatchObject({ ok: false, reason: 'slow-down' });
    expect(!r.ok && r.message).toMatch(/too many failed logins: try again in \d+ s/);
    await new Promise((res) => setTimeout(res, 1100));
    const after = await login(pam, USERS.ok, PASSWORD, 'term-9', '10.0.0.9:1');
    expect(after.ok).toBe(true);
  }, 30_000);
});
