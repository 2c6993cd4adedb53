import { execFileSync } from 'node:child_process';

/** The unprivileged account tests and benches run desktops and peers as (root runs nothing of the desktop). */
export const TEST_USER = 'waydesk-test';

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function lookup(name: string): TestUser | null {
  try {
    const f = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim().split(':');
    return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! };
  } catch {
    return null;
  }
}

export function testUser(): TestUser {
  const u = lookup(TEST_USER);
  if (!u) throw new Error(`the test user ${TEST_USER} does not exist: tests make it in their global setup (as root)`);
  return u;
}

/** Makes the test user if it is missing; true if this call made it (and so must remove it). */
export function ensureTestUser(): boolean {
  if (process.getuid?.() !== 0 || lookup(TEST_USER)) return false;
  execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', '--comment', 'waydesk tests (removed after the run)', TEST_USER]);
  return true;
}

/** Removes the test user with its home; only ever called for the user ensureTestUser made. */
export function removeTestUser(): void {
  if (!lookup(TEST_USER)) return;
  execFileSync('userdel', ['--remove', '--force', TEST_USER], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Makes a local account with this password for one test or bench (`what` names it in the
 * account's comment). An account that exists already is refused: tests never touch accounts
 * they did not make.
 */
export function makeAccount(name: string, password: string, what: string): void {
  if (lookup(name)) throw new Error(`${name} exists already: the ${what} makes its own accounts and will not touch others`);
  execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', '--comment', `waydesk ${what} (removed after the run)`, name]);
  execFileSync('chpasswd', [], { input: `${name}:${password}\n` });
}

/** Removes an account makeAccount made, with its home. */
export function removeAccount(name: string): void {
  execFileSync('userdel', ['--remove', '--force', name], { stdio: 'ignore' });
}
