// The typed wrapper of the PAM addon: the one module that loads it.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** PAM status codes the daemon acts on (from <security/pam_appl.h>, read off the addon). */
export interface PamCodes {
  SUCCESS: number;
  AUTH_ERR: number;
  USER_UNKNOWN: number;
  MAXTRIES: number;
  CRED_INSUFFICIENT: number;
  AUTHINFO_UNAVAIL: number;
  ACCT_EXPIRED: number;
  NEW_AUTHTOK_REQD: number;
  PERM_DENIED: number;
  AUTHTOK_EXPIRED: number;
  CONV_ERR: number;
}

interface RawTransaction {
  authenticate(): Promise<{ code: number }>;
  account(): Promise<{ code: number }>;
  changePassword(oldPassword: string, newPassword: string): Promise<{ code: number }>;
  end(): Promise<{ code: number }>;
  messages(): string;
  user(): string;
  strerror(code: number): string;
}

interface RawModule {
  Transaction: new (service: string, user: string, password: string, rhost: string | null, tty: string | null) => RawTransaction;
  codes: PamCodes;
}

let mod: RawModule | undefined;
function load(): RawModule {
  if (mod) return mod;
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'build', 'Release', 'waydesk_pam.node');
  try {
    mod = createRequire(import.meta.url)(file) as RawModule;
  } catch (err) {
    throw new Error(`cannot load the PAM addon (${file}): ${(err as Error).message}. Build it with \`npm run build\` (needs libpam0g-dev).`);
  }
  return mod;
}

/**
 * The PAM session keeper (src/session_keeper.c): run as root to open a login's PAM session, start
 * its desktop as a child, and close the session when the desktop ends, whatever became of the
 * server meanwhile. `waydesk-pam-session SERVICE USER RHOST TTY PASS -- PROGRAM [ARGS...]`.
 */
export function sessionKeeperPath(): string {
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'build', 'Release', 'waydesk-pam-session');
  if (!fs.existsSync(file)) throw new Error(`the PAM session keeper (${file}) is missing. Build it with \`npm run build\` (needs libpam0g-dev).`);
  return file;
}

export function pamCodes(): PamCodes {
  return load().codes;
}

export interface PamStart {
  /** The service: its rules are /etc/pam.d/SERVICE. */
  service: string;
  user: string;
  password: string;
  /** The terminal's address (PAM_RHOST). */
  rhost?: string;
  /** PAM_TTY: the terminal's id, so modules can tell logins apart. */
  tty?: string;
}

/**
 * One login's PAM transaction. Each step runs on a thread of its own (PAM modules block); the
 * steps must be awaited one after another, in PAM's order: authenticate, account (and
 * changePassword), and end. The session itself is opened by the session keeper
 * (sessionKeeperPath), a process that outlives the server.
 */
export class PamTransaction {
  readonly #t: RawTransaction;
  #ended = false;

  constructor(o: PamStart) {
    this.#t = new (load().Transaction)(o.service, o.user, o.password, o.rhost ?? null, o.tty ?? null);
  }

  async authenticate(): Promise<number> {
    return (await this.#t.authenticate()).code;
  }
  async account(): Promise<number> {
    return (await this.#t.account()).code;
  }
  /**
   * chauthtok for an expired password (after account() said NEW_AUTHTOK_REQD): the modules'
   * prompts are answered with the old password where they ask for the current one, else the new
   * one. `messages` then says why a new password was refused.
   */
  async changePassword(oldPassword: string, newPassword: string): Promise<number> {
    return (await this.#t.changePassword(oldPassword, newPassword)).code;
  }
  async end(): Promise<number> {
    if (this.#ended) return pamCodes().SUCCESS;
    this.#ended = true;
    return (await this.#t.end()).code;
  }
  /** PAM_USER: the account as PAM knows it after authenticating (a module may map the name typed). */
  get user(): string {
    return this.#t.user();
  }
  /** What the modules told the user (e.g. "Your account has expired"), newline-separated. */
  get messages(): string {
    return this.#t.messages();
  }
  describe(code: number): string {
    return this.#t.strerror(code);
  }
}
