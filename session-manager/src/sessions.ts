import type { Display, LoginBody } from '@waydesk/protocol/wire';
import type { Logger } from './log.js';
import type { LoginFailure, LoginSuccess, PamLogin } from './pam-login.js';
import type { LoginResult } from './terminal-endpoint.js';
import type { Router, TerminalPeer } from './router.js';
import type { SessionRecord, Store } from './store.js';
import type { SessionInfo } from './admin.js';
import type { SessionCgroups } from './session-cgroup.js';
import { SupervisedDesktop, type DesktopSpec } from './supervisor.js';

export interface SessionsOptions {
  pam: PamLogin;
  router: Router;
  log: Logger;
  /** The session command every user gets. */
  command: string[];
  /** The size a new desktop starts at, until its terminal says its own. */
  display: Display;
  /** Running sessions and the audit trail, kept across the server's restarts. */
  store: Store;
  /** Root's private directory for the desktops' link sockets (in the state directory). */
  linkDir: string;
  /** A session with no terminal this long is logged out; null: never (the default). */
  detachedTimeoutMs?: number | null;
  /** Each session's cgroup, with its memory and task limits. */
  cgroups: SessionCgroups;
  /** How many sessions one user may have (1: a login anywhere moves their one session there). */
  perUser: number;
}

/**
 * Logged-in users' sessions: a password login (through PAM) opens the user's session, keyed
 * `user:NAME`, starting their desktop if they have none; logging in again anywhere re-attaches
 * the same one (the terminal that had it is told). When the user's desktop ends (they logged
 * out, or it crashed) the session is over: its PAM session is closed and its terminal told; no
 * other session notices.
 */
export class Sessions {
  readonly #o: SessionsOptions;
  /** Each desktop's PAM session is its keeper's: it closes it when the desktop ends, adopted or not. */
  readonly #desktops = new Map<string, { desktop: SupervisedDesktop }>();
  readonly #opening = new Map<string, Promise<void>>();

  readonly #idle = new Map<string, NodeJS.Timeout>();
  /** What the store holds of each running session, kept to update it. */
  readonly #records = new Map<string, SessionRecord>();

  constructor(o: SessionsOptions) {
    this.#o = o;
    o.router.on('attach', (key, peer) => {
      this.#unwatch(key);
      this.#seen(key, peer, true);
    });
    o.router.on('detach', (key, peer) => {
      this.#watch(key);
      this.#seen(key, peer, false);
    });
  }

  /** The store's view of terminals and of which one shows a session, for admins. */
  #seen(key: string, peer: TerminalPeer, attached: boolean): void {
    const h = peer.hello;
    const now = Date.now();
    this.#write(this.#o.store.putTerminal({ id: h.terminalId, kind: h.kind, address: peer.remote, displays: h.displays, lastSeen: now, session: attached ? key : null }));
    const rec = this.#records.get(key);
    if (!rec) return;
    // a terminal that left after another took over does not detach the session from the new one
    if (!attached && rec.terminal !== h.terminalId) return;
    rec.terminal = attached ? h.terminalId : null;
    if (attached) rec.lastAttachedAt = now;
    this.#write(this.#o.store.putSession(rec));
  }

  /** Starts the clock on a session without a terminal (when a timeout is configured). */
  #watch(key: string): void {
    const ms = this.#o.detachedTimeoutMs;
    if (!ms || !this.#desktops.has(key)) return;
    this.#unwatch(key);
    const t = setTimeout(() => {
      this.#idle.delete(key);
      this.#o.log.info({ session: key, event: 'detached-timeout', afterS: ms / 1000 }, 'a session without a terminal timed out');
      void this.#end(key, `your session was ended after ${ms / 1000} s without a terminal`);
    }, ms);
    t.unref();
    this.#idle.set(key, t);
  }

  #unwatch(key: string): void {
    const t = this.#idle.get(key);
    if (t) clearTimeout(t);
    this.#idle.delete(key);
  }

  async login(body: LoginBody, from: { remote: string; terminal: string }): Promise<LoginResult> {
    return this.#after(await this.#o.pam.login({ user: body.user, password: body.password, remote: from.remote, terminal: from.terminal }), from);
  }

  /** A user whose card proved who they are (cards.ts decided): their session, as a login opens it. */
  async cardLogin(user: string, from: { remote: string; terminal: string }): Promise<LoginResult> {
    return this.#after(await this.#o.pam.cardLogin({ user, remote: from.remote, terminal: from.terminal }), from);
  }

  /** Ends a session as its user logging out would (a card taken out, where the policy says so). */
  async logout(key: string, why: string): Promise<void> {
    await this.#end(key, why);
  }

  async #after(r: LoginSuccess | LoginFailure, from: { remote: string; terminal: string }): Promise<LoginResult> {
    if (!r.ok) {
      if (r.reason !== 'password-expired') return { message: r.message };
      const change = r.changePassword;
      return { message: r.message, changePassword: async (pw) => this.#after(await change(pw), from), cancel: r.cancel };
    }
    // Two logins of one user at once are decided one after the other: the second sees the first's desktop.
    const lock = `user:${r.user}`;
    const opening = this.#opening.get(lock);
    if (opening) await opening.catch(() => {});
    const key = this.#choose(r.user);
    if (this.#desktops.has(key)) {
      // one PAM session per desktop: this login only proved who it is, and opens none
      this.#o.log.info({ session: key, terminal: from.terminal, event: 'reattach' }, 'the user has a session: attaching it here');
      return { key };
    }
    let done = (): void => {};
    this.#opening.set(lock, new Promise<void>((res) => (done = res)));
    try {
      return await this.#open(key, r, from);
    } finally {
      this.#opening.delete(lock);
      done();
    }
  }

  /** A user's session keys: `user:NAME`, then `user:NAME#2` … for the further ones. */
  #keysOf(user: string): string[] {
    return [...this.#desktops.keys()].filter((k) => k === `user:${user}` || k.startsWith(`user:${user}#`));
  }

  /**
   * Which session a login of this user gets. One per user (the default): theirs, wherever it is
   * shown. Several: one no terminal shows (the last shown), else a new one while under the limit,
   * else the one shown longest ago, moved here.
   */
  #choose(user: string): string {
    const keys = this.#keysOf(user);
    const first = `user:${user}`;
    if (this.#o.perUser <= 1 || keys.length === 0) return first;
    const last = (k: string): number => this.#records.get(k)?.lastAttachedAt ?? 0;
    const detached = keys.filter((k) => !this.#records.get(k)?.terminal).sort((a, b) => last(b) - last(a));
    if (detached.length) return detached[0]!;
    if (keys.length < this.#o.perUser) {
      if (!keys.includes(first)) return first;
      for (let i = 2; ; i++) if (!keys.includes(`${first}#${i}`)) return `${first}#${i}`;
    }
    return keys.sort((a, b) => last(a) - last(b))[0]!;
  }

  async #open(key: string, r: LoginSuccess, from: { remote: string; terminal: string }): Promise<{ key: string } | { message: string }> {
    // the cgroup's launcher (systemd-run execs), then the PAM session keeper (it forks the compositor);
    // every compositor of the session (a restarted one too) in the session's cgroup
    const desktop = this.#desktop(r.user, {
      launcher: this.#o.cgroups.launcher(key),
      keeper: r.sessionKeeper,
      place: (pid, logindSession) => this.#o.cgroups.place(key, pid, logindSession),
    });
    this.#desktops.set(key, { desktop });
    this.#o.router.add(key, desktop);
    // until a terminal attaches it counts as detached: one whose terminal left meanwhile still times out
    this.#watch(key);
    desktop.on('ended', (why) => void this.#end(key, why));
    // The router greets the terminal once the desktop is up; one that cannot start ends the session.
    desktop.start().catch((err: Error) => this.#o.log.error({ session: key, err: err.message }, 'the desktop did not start'));
    // Recorded at once (the pid exists from the spawn): a server that dies while it starts still adopts it.
    if (desktop.pid !== undefined) {
      const rec: SessionRecord = { key, user: r.user, pid: desktop.pid, ipc: desktop.ipc, runtimeParent: desktop.runtimeParentDir, startedAt: Date.now(), terminal: null, lastAttachedAt: null };
      this.#records.set(key, rec);
      this.#write(this.#o.store.putSession(rec));
    }
    this.#o.log.info({ session: key, terminal: from.terminal, event: 'session-new' }, 'started a session');
    this.#write(this.#o.store.audit('session-new', { session: key, terminal: from.terminal, remote: from.remote }));
    return { key };
  }

  /** A store write that fails is logged; the sessions go on (they never depend on the store). */
  #write(p: Promise<void>): void {
    p.catch((err: Error) => this.#o.log.error({ err: err.message }, 'could not write to the store'));
  }

  #desktop(user: string, start: Pick<DesktopSpec, 'launcher' | 'keeper' | 'place'> = {}): SupervisedDesktop {
    const spec: DesktopSpec = {
      ...start,
      user,
      command: this.#o.command,
      display: this.#o.display,
      endsWithCompositor: true,
      linkDir: this.#o.linkDir,
      exitWithServer: false,
    };
    return new SupervisedDesktop(spec, this.#o.log);
  }

  /**
   * Takes over the desktops a previous run left running (from the store; each checked against
   * /proc and its own hello). The ones that are gone are forgotten. Their users' terminals find
   * them again when they log in: re-attaching is what a login does.
   */
  async adopt(): Promise<number> {
    let n = 0;
    for (const rec of await this.#o.store.sessions()) {
      const desktop = this.#desktop(rec.user);
      if (!(await desktop.adopt(rec.pid, rec.ipc, rec.runtimeParent ?? null))) {
        this.#o.log.info({ session: rec.key, pid: rec.pid }, 'a session of the last run is gone; forgetting it');
        await this.#o.store.removeSession(rec.key);
        continue;
      }
      this.#desktops.set(rec.key, { desktop });
      this.#records.set(rec.key, { ...rec, terminal: null });
      this.#o.router.add(rec.key, desktop);
      desktop.on('ended', (why) => void this.#end(rec.key, why));
      this.#o.log.info({ session: rec.key, compositorPid: desktop.pid, event: 'session-adopted' }, 'adopted a session of the last run');
      // no terminal shows it until its user logs in again
      this.#watch(rec.key);
      this.#write(this.#o.store.audit('session-adopted', { session: rec.key, pid: rec.pid }));
      n++;
    }
    return n;
  }

  async #end(key: string, why: string): Promise<void> {
    const s = this.#desktops.get(key);
    if (!s) return;
    this.#unwatch(key);
    this.#desktops.delete(key);
    this.#records.delete(key);
    this.#o.router.remove(key, why);
    await s.desktop.stop();
    this.#write(this.#o.store.removeSession(key));
    await this.#o.cgroups.remove(key);
    // the keeper closed the PAM session as the desktop ended
    this.#o.log.info({ session: key, event: 'session-end', why }, 'session over; its PAM session closed');
    this.#write(this.#o.store.audit('session-end', { session: key, why }));
  }

  /** What runs, for the admin API. */
  list(): SessionInfo[] {
    return [...this.#desktops.entries()].map(([key, { desktop }]) => {
      const r = this.#records.get(key);
      return {
        key,
        user: r?.user ?? key.replace(/^user:/, '').replace(/#\d+$/, ''),
        pid: desktop.pid ?? null,
        terminal: r?.terminal ?? null,
        startedAt: r?.startedAt ?? null,
        lastAttachedAt: r?.lastAttachedAt ?? null,
        healthy: desktop.healthy,
      };
    });
  }

  /** An administrator ends a session: as a logout, with its terminal told why. */
  /** An administrator ends a user's sessions: as a logout, each terminal told why. False: they have none. */
  async endByAdmin(user: string): Promise<boolean> {
    const keys = this.#keysOf(user);
    for (const key of keys) {
      this.#o.log.info({ session: key, event: 'session-killed' }, 'an administrator ended a session');
      this.#write(this.#o.store.audit('session-killed', { session: key }));
      await this.#end(key, 'your session was ended by an administrator');
    }
    return keys.length > 0;
  }

  get healthy(): boolean {
    return [...this.#desktops.values()].every((s) => s.desktop.healthy);
  }

  /** The server stops or restarts: the desktops run on, for the next run to adopt. */
  async release(): Promise<void> {
    for (const { desktop } of this.#desktops.values()) desktop.release();
    await this.#o.store.close();
  }
}
