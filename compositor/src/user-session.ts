import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface UserEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** Looks a user up through NSS (getent), so LDAP/SSSD users work like local ones. */
export function lookupUser(name: string): UserEntry {
  if (!/^[a-z_][a-z0-9_.-]*\$?$/i.test(name)) throw new Error(`'${name}' is not a valid user name`);
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`no such user '${name}' (getent passwd found nothing): create it or check NSS`);
  }
  const f = line.split(':');
  if (f.length < 7) throw new Error(`getent returned a malformed entry for '${name}'`);
  return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '/', shell: f[6] || '/bin/sh' };
}

/**
 * Root's and sticky, like /tmp: a user may remove only the entries they own (their own runtime
 * directory when their desktop ends), and nobody can rename or replace an entry of root's.
 */
const RUNTIME_BASE = '/run/waydesk';

/** True if `dir` is root's own sticky directory, not a link: safe to make a user's directory in. */
export function isRootSticky(dir: string): boolean {
  try {
    const st = fs.lstatSync(dir);
    return st.isDirectory() && st.uid === 0 && (st.mode & 0o1000) !== 0;
  } catch {
    return false;
  }
}

/** RUNTIME_BASE if it is root's own sticky directory (made if missing), not a link; else null. */
function runtimeBase(): string | null {
  try {
    fs.mkdirSync(RUNTIME_BASE);
    // /run is root's alone: nobody can have put a link here between the mkdir and the chmod
    fs.chmodSync(RUNTIME_BASE, 0o1777);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return null;
  }
  return isRootSticky(RUNTIME_BASE) ? RUNTIME_BASE : null;
}

/**
 * Makes a fresh XDG_RUNTIME_DIR (0700, owned by the user). libwayland does not check the
 * mode, so we set it ourselves. As root: mkdtemp makes it 0700, root's and unguessable in a
 * sticky directory (so nobody can rename or swap it), and the one call after that is the
 * chown: nothing is ever changed through a path the user controls.
 */
export function makeRuntimeDir(user: UserEntry | null, parent?: string): string {
  const asRoot = process.getuid?.() === 0;
  if (user && asRoot) {
    // A supervisor may name the parent (a directory of its own, which it removes however the desktop ends).
    if (parent !== undefined && !isRootSticky(parent)) throw new Error(`--runtime-parent ${parent} is not a directory of root's with the sticky bit`);
    const dir = fs.mkdtempSync(path.join(parent ?? runtimeBase() ?? os.tmpdir(), `${user.name}-`));
    fs.chownSync(dir, user.uid, user.gid);
    return dir;
  }
  const existing = process.env.XDG_RUNTIME_DIR;
  if (existing) {
    try {
      const st = fs.statSync(existing);
      if (st.isDirectory() && st.uid === process.getuid?.()) {
        if ((st.mode & 0o077) !== 0) fs.chmodSync(existing, 0o700);
        return existing;
      }
    } catch {
      // fall through to a private one
    }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `waydesk-${process.getuid?.() ?? 'u'}-`));
  fs.chmodSync(dir, 0o700);
  return dir;
}

/** The user's groups as NSS lists them (`id -G`), primary first. */
function groupsOf(user: UserEntry): number[] {
  const out = execFileSync('id', ['-G', user.name], { encoding: 'utf8' }).trim();
  return out.split(/\s+/).map(Number);
}

/**
 * Becomes the user for good: supplementary groups, gid, then uid (in that order, or the
 * later calls would lack the right to make the earlier ones). Then checks what the kernel
 * says: the ids and groups are the user's, and root cannot be had back.
 */
export function dropPrivileges(user: UserEntry): void {
  if (process.getuid?.() !== 0) {
    if (process.getuid?.() === user.uid) return;
    throw new Error(`--user ${user.name} needs root to switch users (running as uid ${process.getuid?.()})`);
  }
  if (user.uid === 0) throw new Error(`refusing to run a desktop as ${user.name}: it is uid 0`);
  const expected = new Set(groupsOf(user));
  (process as unknown as { initgroups(user: string, gid: number): void }).initgroups(user.name, user.gid);
  process.setgid!(user.gid);
  process.setuid!(user.uid);
  const fail = (what: string): never => {
    throw new Error(`could not become ${user.name} (uid ${user.uid}): ${what}`);
  };
  if (process.getuid!() !== user.uid || process.geteuid!() !== user.uid) fail(`uid is ${process.getuid!()}, euid ${process.geteuid!()}`);
  if (process.getgid!() !== user.gid || process.getegid!() !== user.gid) fail(`gid is ${process.getgid!()}, egid ${process.getegid!()}`);
  const groups = process.getgroups!();
  if (groups.some((g) => !expected.has(g) && g !== user.gid)) fail(`groups are ${groups.join(',')}, expected ${[...expected].join(',')}`);
  let regained = false;
  try {
    process.setuid!(0);
    regained = true;
  } catch {
    // EPERM: as it must be
  }
  if (regained) fail('setuid(0) succeeded afterwards');
}

/** gles2 needs a DRM render node with a working driver; otherwise pixman (CPU) renders. */
export function chooseRenderer(requested: 'auto' | 'pixman' | 'gles2'): { pixman: boolean; reason: string } {
  if (requested === 'pixman') return { pixman: true, reason: 'requested' };
  let nodes: string[] = [];
  try {
    nodes = fs.readdirSync('/dev/dri').filter((n) => n.startsWith('renderD'));
  } catch {
    // no /dev/dri at all
  }
  if (requested === 'gles2') return { pixman: false, reason: 'requested' };
  if (nodes.length === 0) return { pixman: true, reason: 'no DRM render node in /dev/dri' };
  return { pixman: false, reason: `render node /dev/dri/${nodes[0]}` };
}
