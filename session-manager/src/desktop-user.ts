import { execFileSync } from 'node:child_process';

/** The unprivileged account a root-started server makes for its desktop when the machine has no other. */
export const DEFAULT_DESKTOP_USER = 'waydesk';

export interface DesktopUserChoice {
  /** null: the server's own user (a server not started by root). */
  user: string | null;
  /** Said on the console: why this user. */
  note: string;
}

export class DesktopUserError extends Error {
  override name = 'DesktopUserError';
}

function passwd(): Array<{ name: string; uid: number; shell: string }> {
  return execFileSync('getent', ['passwd'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(':'))
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), shell: f[6] ?? '' }));
}

function exists(name: string): { uid: number } | null {
  try {
    const f = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim().split(':');
    return { uid: Number(f[2]) };
  } catch {
    return null;
  }
}

/** People's accounts as Debian numbers them (1000..59999, a login shell): not system accounts. */
function people(): string[] {
  return passwd()
    .filter((u) => u.uid >= 1000 && u.uid < 60000 && !/(nologin|false)$/.test(u.shell) && u.name !== DEFAULT_DESKTOP_USER)
    .map((u) => u.name);
}

/**
 * Whose desktop the single-user server runs. Never root: started by root, it is `--user`, else
 * the user who ran sudo, else (on a machine with nobody else, a container) an unprivileged
 * `waydesk` account made for it; with other people's accounts present it will not guess.
 */
export function chooseDesktopUser(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): DesktopUserChoice {
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0) {
    if (flag !== undefined && exists(flag)?.uid !== uid) {
      throw new DesktopUserError(`--user ${flag} needs the server to be started by root (it runs as uid ${uid}); leave --user out to serve your own desktop`);
    }
    return { user: null, note: 'the desktop runs as the user who started the server' };
  }
  const pick = (name: string, why: string): DesktopUserChoice => {
    const u = exists(name);
    if (!u) throw new DesktopUserError(`${why} names '${name}', but there is no such user (getent passwd found nothing)`);
    if (u.uid === 0) throw new DesktopUserError(`${why} names '${name}', which is uid 0: the desktop never runs as root; choose an ordinary user`);
    return { user: name, note: `the desktop runs as ${name} (${why})` };
  };
  if (flag !== undefined) return pick(flag, '--user');
  if (env.SUDO_USER && env.SUDO_USER !== 'root') return pick(env.SUDO_USER, 'SUDO_USER, who ran sudo');
  if (exists(DEFAULT_DESKTOP_USER)) return pick(DEFAULT_DESKTOP_USER, `the server's own unprivileged account`);
  const others = people();
  if (others.length > 0) {
    throw new DesktopUserError(
      `started by root, the server will not run a desktop as root, nor guess whose it is. ` +
        `Choose a user: npm start -- --user NAME (this machine has ${others.slice(0, 5).join(', ')}${others.length > 5 ? ', …' : ''}), ` +
        `or run the server as that user, or with sudo from their account.`,
    );
  }
  try {
    execFileSync('useradd', ['--system', '--create-home', '--home-dir', `/home/${DEFAULT_DESKTOP_USER}`, '--shell', '/bin/bash',
      '--comment', 'waydesk single-user desktop', DEFAULT_DESKTOP_USER], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new DesktopUserError(`could not create the unprivileged user '${DEFAULT_DESKTOP_USER}' with useradd: ${(err as Error).message}; create a user and pass --user NAME`);
  }
  return { user: DEFAULT_DESKTOP_USER, note: `created the unprivileged user '${DEFAULT_DESKTOP_USER}' (no other user exists here); the desktop runs as it` };
}
