import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PamTransaction, pamCodes, sessionKeeperPath } from '@waydesk/native-pam';
import type { Logger } from './log.js';
import { FailureThrottle } from './throttle.js';

export interface LoginRequest {
  user: string;
  /** Used once, for the conversation, and never kept or logged. */
  password: string;
  /** The terminal's address: PAM_RHOST, and one of the keys failures are counted by. */
  remote: string;
  /** The terminal's id: PAM_TTY, and another of the keys. */
  terminal: string;
}

/** Why a login did not open a session, in words for the greeter's message line. */
export type LoginFailure =
  | { ok: false; reason: 'incorrect'; message: 'login incorrect' }
  | { ok: false; reason: 'expired' | 'denied' | 'unavailable' | 'busy' | 'slow-down'; message: string }
  /**
   * The right password, but it has expired: the transaction stays open (for CHANGE_WINDOW_MS)
   * for the new one. A new password PAM refuses (too short, too like the old) can be tried again.
   */
  | {
      ok: false;
      reason: 'password-expired';
      message: string;
      changePassword: (newPassword: string) => Promise<LoginSuccess | LoginFailure>;
      /** The user gave up (Esc, left): the kept transaction ends now, not when the window closes. */
      cancel: () => void;
    };

/**
 * A user who proved who they are (their authentication transaction is over). A new desktop is
 * started through `sessionKeeper`, which opens their PAM session, runs the desktop as its child
 * and closes the session when it ends, outliving the server.
 */
export interface LoginSuccess {
  ok: true;
  /** The account as PAM knows it (PAM_USER), which may differ from the name typed. */
  user: string;
  /** The command line to put in front of the desktop's: the keeper with this login's PAM items. */
  sessionKeeper: string[];
}

/**
 * What of the PAM session's environment the desktop gets: locale and the like from pam_env and
 * pam_systemd. Never paths that steer the server-made runtime directory, nor the loader.
 */
const PAM_ENV_FOR_DESKTOP = 'LANG,LANGUAGE,LC_*,TZ,XDG_SESSION_ID,XDG_SESSION_TYPE,XDG_SESSION_CLASS';

export interface PamLoginOptions {
  service: string;
  log: Logger;
  /** PAM conversations running at once; more are refused as busy. */
  maxConcurrent?: number;
  /** Every failure takes at least this long, so an unknown user and a wrong password look alike. */
  failureMs?: number;
  /** Where logins and failures go besides the log: the store's audit trail. */
  audit?: (event: string, fields: Record<string, unknown>) => void;
  /** Failures by user, terminal and address (shared with card logins). */
  throttle?: FailureThrottle;
}

const run = promisify(execFile);

/** The account's uid through NSS (without blocking the event loop on a slow directory), or null. */
export async function uidOf(user: string): Promise<number | null> {
  try {
    const { stdout } = await run('getent', ['passwd', user], { encoding: 'utf8', timeout: 10_000 });
    return Number(stdout.split(':')[2]);
  } catch {
    return null;
  }
}

/** The account's password is locked (`passwd -l`, `usermod -L`: a "!" before the hash in shadow). */
async function lockedAccount(user: string): Promise<boolean> {
  try {
    const { stdout } = await run('getent', ['shadow', user], { encoding: 'utf8', timeout: 10_000 });
    return (stdout.split(':')[1] ?? '').startsWith('!');
  } catch {
    // not in shadow (a directory account): its own service decides in the account check
    return false;
  }
}

/**
 * PAM_TTY for every login: never the terminal's own id, which the terminal chooses. logind reads
 * PAM_TTY (a "tty1" would put a remote session on seat0's VT, ":0" would make it an X display);
 * modules only need it to be set and the same for all our logins.
 */
const PAM_TTY = 'waydesk';

/** What a user name may be: a login name, never a path or an option. */
const USER_NAME = /^[a-z_][a-z0-9_.-]{0,31}$/i;
/** How long a user whose password expired has to choose a new one before the login starts over. */
export const CHANGE_WINDOW_MS = 120_000;
const CHANGE_TRIES = 3;

/**
 * Password login through PAM in the order greetd and GDM use: authenticate → account check →
 * credentials → session (with XDG_SESSION_TYPE=wayland, XDG_SESSION_CLASS=user, PAM_RHOST,
 * PAM_TTY). An unknown user and a wrong password get the same message after the same time;
 * failures are counted per user, per terminal and per address, and past a few each attempt
 * waits longer. Passwords are never stored or logged.
 */
export class PamLogin {
  readonly #o: Required<Omit<PamLoginOptions, 'throttle'>>;
  readonly #throttle: FailureThrottle;
  #active = 0;
  /** Transactions kept open for a new password. */
  #changing = 0;
  constructor(o: PamLoginOptions) {
    this.#o = { maxConcurrent: 16, failureMs: 3000, audit: () => {}, ...o };
    this.#throttle = o.throttle ?? new FailureThrottle();
  }

  #keys(r: LoginRequest): string[] {
    return [`user:${r.user.toLowerCase()}`, `terminal:${r.terminal}`, `address:${r.remote.replace(/:\d+$/, '')}`];
  }

  async login(r: LoginRequest): Promise<LoginSuccess | LoginFailure> {
    const t0 = Date.now();
    const keys = this.#keys(r);
    const wait = this.#throttle.waitFor(keys, t0);
    const audit = { user: r.user.slice(0, 64), remote: r.remote, terminal: r.terminal };
    if (wait > 0) {
      this.#o.log.warn({ ...audit, event: 'login-throttled', waitMs: wait }, 'login refused: too many failures');
      this.#o.audit('login-throttled', { ...audit, waitMs: wait });
      return { ok: false, reason: 'slow-down', message: `too many failed logins: try again in ${Math.ceil(wait / 1000)} s` };
    }
    if (this.#active >= this.#o.maxConcurrent) {
      return { ok: false, reason: 'busy', message: 'the server is busy logging others in: try again in a moment' };
    }
    this.#active++;
    try {
      const result = await this.#converse(r);
      // only the right password gets here: the account's owner is told, at once
      if (!result.ok && result.reason === 'password-expired') {
        this.#o.log.info({ ...audit, event: 'password-expired' }, 'the password has expired: the user is asked for a new one');
        this.#o.audit('password-expired', audit);
        return result;
      }
      // an outage is not the user's failure: it is not counted against them
      if (!result.ok && result.reason !== 'unavailable') this.#throttle.failed(keys);
      if (!result.ok) {
        this.#o.log.warn({ ...audit, event: 'login-failed', reason: result.reason }, 'login failed');
        this.#o.audit('login-failed', { ...audit, reason: result.reason });
        // the same time for every failure: nothing to tell an unknown user from a wrong password
        const left = t0 + this.#o.failureMs - Date.now();
        if (left > 0) await new Promise((res) => setTimeout(res, left));
      } else {
        // only the user's own count: one good account must not clear an address under attack
        this.#throttle.succeeded(keys[0]!);
        this.#o.log.info({ ...audit, event: 'login-ok' }, 'logged in');
        this.#o.audit('login-ok', { ...audit, user: result.user });
      }
      return result;
    } finally {
      this.#active--;
    }
  }

  /**
   * A user whose card proved who they are (the server decided that; PAM is not asked to
   * authenticate): the account check still runs (expired, locked), then the same session.
   */
  async cardLogin(r: Omit<LoginRequest, 'password'>): Promise<LoginSuccess | LoginFailure> {
    const audit = { user: r.user.slice(0, 64), remote: r.remote, terminal: r.terminal };
    const denied = (message: string): LoginFailure => {
      this.#o.log.warn({ ...audit, event: 'card-login-denied', message }, 'the account may not log in with a card');
      this.#o.audit('card-login-denied', { ...audit, message });
      return { ok: false, reason: 'denied', message };
    };
    if (!USER_NAME.test(r.user) || (await uidOf(r.user)) === 0) return denied('this card may not log in here');
    // pam_unix's account check looks at expiry, not at a lock (passwd -l): a password login is
    // stopped by the lock itself, a card login must look
    if (await lockedAccount(r.user)) return denied('this account is locked: ask an administrator');
    if (this.#active >= this.#o.maxConcurrent) return { ok: false, reason: 'busy', message: 'the server is busy logging others in: try again in a moment' };
    this.#active++;
    try {
      let c: ReturnType<typeof pamCodes>;
      let t: PamTransaction;
      try {
        c = pamCodes();
        t = new PamTransaction({ service: this.#o.service, user: r.user, password: '', rhost: r.remote.replace(/:\d+$/, ''), tty: PAM_TTY });
      } catch (err) {
        this.#o.log.error({ err: (err as Error).message }, 'PAM would not start');
        return { ok: false, reason: 'unavailable', message: 'logins are not available on this server right now' };
      }
      const acct = await t.account();
      if (acct !== c.SUCCESS) {
        const said = t.messages.split('\n').filter(Boolean).pop();
        await t.end();
        if (acct === c.NEW_AUTHTOK_REQD) return denied('your password has expired: log in with your password to choose a new one');
        return denied(acct === c.ACCT_EXPIRED ? 'this account has expired: ask an administrator' : said ? said.slice(0, 200) : 'this account may not log in here');
      }
      this.#o.log.info({ ...audit, event: 'login-ok', by: 'card' }, 'logged in with a card');
      this.#o.audit('login-ok', { ...audit, by: 'card' });
      return this.#success(t, { ...r, password: '' });
    } finally {
      this.#active--;
    }
  }

  async #converse(r: LoginRequest): Promise<LoginSuccess | LoginFailure> {
    const incorrect: LoginFailure = { ok: false, reason: 'incorrect', message: 'login incorrect' };
    if (!USER_NAME.test(r.user) || r.password.length === 0 || r.password.length > 4096) return incorrect;
    // Root never logs in at a terminal, and is told nothing else: a different answer for root's
    // right password would tell a guesser that it is right.
    if ((await uidOf(r.user)) === 0) return incorrect;
    let c: ReturnType<typeof pamCodes>;
    let t: PamTransaction;
    try {
      c = pamCodes();
      t = new PamTransaction({ service: this.#o.service, user: r.user, password: r.password, rhost: r.remote.replace(/:\d+$/, ''), tty: PAM_TTY });
    } catch (err) {
      this.#o.log.error({ err: (err as Error).message }, 'PAM would not start');
      return { ok: false, reason: 'unavailable', message: 'logins are not available on this server right now' };
    }
    const fail = async (f: LoginFailure): Promise<LoginFailure> => {
      await t.end();
      return f;
    };
    const auth = await t.authenticate();
    if (auth === c.AUTHINFO_UNAVAIL) return fail({ ok: false, reason: 'unavailable', message: 'the account service cannot be reached: try again later' });
    if (auth !== c.SUCCESS) return fail(incorrect);
    const acct = await t.account();
    if (acct === c.ACCT_EXPIRED) return fail({ ok: false, reason: 'expired', message: 'this account has expired: ask an administrator' });
    if (acct === c.NEW_AUTHTOK_REQD) return this.#mustChange(t, r, c);
    if (acct !== c.SUCCESS) {
      // Debian's common-account turns an expired account into pam_deny's PERM_DENIED; what
      // pam_unix said to the user ("Your account has expired; ...") is the right message.
      const said = t.messages.split('\n').filter(Boolean).pop();
      return fail({ ok: false, reason: 'denied', message: said ? said.slice(0, 200) : 'this account may not log in here' });
    }
    return this.#success(t, r);
  }

  async #success(t: PamTransaction, r: LoginRequest): Promise<LoginSuccess | LoginFailure> {
    const user = t.user || r.user;
    await t.end();
    if (user !== r.user && (await uidOf(user)) === 0) return { ok: false, reason: 'incorrect', message: 'login incorrect' };
    let keeper: string;
    try {
      keeper = sessionKeeperPath();
    } catch (err) {
      this.#o.log.error({ err: (err as Error).message }, 'cannot open PAM sessions');
      return { ok: false, reason: 'unavailable', message: 'your session could not be opened: ask an administrator' };
    }
    return { ok: true, user, sessionKeeper: [keeper, this.#o.service, user, r.remote.replace(/:\d+$/, ''), PAM_TTY, PAM_ENV_FOR_DESKTOP, '--'] };
  }

  /**
   * The password is right but expired: keeps the transaction for the new one, as GDM does
   * (chauthtok, then on to the session). It ends by itself if no new password comes in time.
   */
  #mustChange(t: PamTransaction, r: LoginRequest, c: ReturnType<typeof pamCodes>): LoginFailure {
    const audit = { user: r.user.slice(0, 64), remote: r.remote, terminal: r.terminal };
    if (this.#changing >= this.#o.maxConcurrent) {
      void t.end().catch(() => {});
      return { ok: false, reason: 'busy', message: 'the server is busy logging others in: try again in a moment' };
    }
    this.#changing++;
    let old: string | null = r.password;
    let tries = 0;
    let busy = false;
    /** The transaction went on to the session (the change succeeded): not ours to end any more. */
    let handedOver = false;
    let done = false;
    /** Ends the kept transaction once, never while a PAM step runs on it (that one ends it after). */
    const finish = (): void => {
      if (done) return;
      done = true;
      old = null;
      clearTimeout(expire);
      this.#changing--;
      if (!busy && !handedOver) void t.end().catch(() => {});
    };
    const expire = setTimeout(finish, CHANGE_WINDOW_MS);
    expire.unref();
    const gone: LoginFailure = { ok: false, reason: 'unavailable', message: 'that took too long: log in again' };
    const changePassword = async (newPassword: string): Promise<LoginSuccess | LoginFailure> => {
      if (done || old === null || busy) return gone;
      busy = true;
      try {
        const code = await t.changePassword(old, newPassword);
        if (done) return gone;
        if (code === c.SUCCESS) {
          handedOver = true;
          finish();
          this.#o.log.info({ ...audit, event: 'password-changed' }, 'the user chose a new password');
          this.#o.audit('password-changed', audit);
          return this.#success(t, r);
        }
        tries++;
        // pam_unix says why (e.g. "BAD PASSWORD: The password is shorter than 8 characters")
        const said = t.messages.split('\n').filter(Boolean).pop();
        this.#o.log.warn({ ...audit, event: 'password-change-refused', err: t.describe(code) }, 'a new password was refused');
        this.#o.audit('password-change-refused', audit);
        if (tries >= CHANGE_TRIES) {
          finish();
          return { ok: false, reason: 'denied', message: `${said ? `${said.slice(0, 160)}; ` : ''}no more tries: log in again` };
        }
        return { ok: false, reason: 'password-expired', message: said ? said.slice(0, 200) : 'that password was refused: choose another one', changePassword, cancel: finish };
      } finally {
        busy = false;
        // finished (expired, cancelled, out of tries) while PAM was busy: end it now
        if (done && !handedOver) void t.end().catch(() => {});
      }
    };
    return { ok: false, reason: 'password-expired', message: 'your password has expired: choose a new one', changePassword, cancel: finish };
  }
}
