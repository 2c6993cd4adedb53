import type { Display, LoginBody } from '@waydesk/protocol/wire';
import type { Logger } from './log.js';
import type { PamLogin } from './pam-login.js';
import type { Router } from './router.js';
import { SupervisedDesktop } from './supervisor.js';

export interface SessionsOptions {
  pam: PamLogin;
  router: Router;
  log: Logger;
  /** The session command every user gets. */
  command: string[];
  /** The size a new desktop starts at, until its terminal says its own. */
  display: Display;
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
  readonly #desktops = new Map<string, { desktop: SupervisedDesktop; endPam: () => Promise<void> }>();

  constructor(o: SessionsOptions) {
    this.#o = o;
  }

  async login(body: LoginBody, from: { remote: string; terminal: string }): Promise<{ key: string } | { message: string }> {
    const r = await this.#o.pam.login({ user: body.user, password: body.password, remote: from.remote, terminal: from.terminal });
    if (!r.ok) return { message: r.message };
    const key = `user:${r.user}`;
    if (this.#desktops.has(key)) {
      // one PAM session per desktop: this login only proved who it is
      await r.end();
      this.#o.log.info({ session: key, terminal: from.terminal, event: 'reattach' }, 'the user has a session: attaching it here');
      return { key };
    }
    const desktop = new SupervisedDesktop(
      { user: r.user, command: this.#o.command, display: this.#o.display, endsWithCompositor: true, env: pamEnvForCompositor(r.env) },
      this.#o.log,
    );
    this.#desktops.set(key, { desktop, endPam: r.end });
    this.#o.router.add(key, desktop);
    desktop.on('ended', (why) => void this.#end(key, why));
    // The router greets the terminal once the desktop is up; one that cannot start ends the session.
    desktop.start().catch((err: Error) => this.#o.log.error({ session: key, err: err.message }, 'the desktop did not start'));
    this.#o.log.info({ session: key, terminal: from.terminal, event: 'session-new' }, 'started a session');
    return { key };
  }

  async #end(key: string, why: string): Promise<void> {
    const s = this.#desktops.get(key);
    if (!s) return;
    this.#desktops.delete(key);
    this.#o.router.remove(key, why);
    await s.desktop.stop();
    await s.endPam();
    this.#o.log.info({ session: key, event: 'session-end' }, 'session over; its PAM session closed');
  }

  get healthy(): boolean {
    return [...this.#desktops.values()].every((s) => s.desktop.healthy);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#desktops.keys()].map((k) => this.#end(k, 'the server is stopping')));
  }
}

/**
 * What of the PAM session's environment the compositor takes: locale and the like from pam_env
 * and pam_systemd. Never paths that steer the daemon-made runtime directory, nor the loader.
 */
function pamEnvForCompositor(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (/^(LANG|LANGUAGE|LC_[A-Z]+|TZ|XDG_SESSION_ID|XDG_SESSION_TYPE|XDG_SESSION_CLASS)$/.test(k)) out[k] = v;
  }
  return out;
}
