// Per-session resource limits: each desktop (the compositor and everything the user starts in
// it) in a cgroup of its own, with a memory and a task limit, so one user's runaway program
// cannot take the server's memory or process table from everyone else. Where logind runs, the
// session's own logind scope (pam_systemd in the keeper made it: session-N.scope), given the
// limits with systemctl set-property; where systemd runs without logind, a transient scope per
// session (systemd-run --scope). systemd owns the cgroup tree either way, and a scope is not part
// of the server's unit, so restarting the server leaves it alone. Without systemd,
// a cgroup of our own in v2 (below the server's cgroup) or in the v1 memory and pids
// hierarchies, where writable; otherwise a log line says sessions run without limits.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from './log.js';

export interface SessionLimits {
  /** Bytes of memory (RAM and page cache) the session may use; past it the kernel reclaims, then kills inside the session. */
  memoryBytes: number;
  /** Processes and threads the session may have at once. */
  tasks: number;
}

/** Where the cgroup file systems are, this process's place in them, and systemd's marks (tests point them elsewhere). */
export interface CgroupRoots {
  root: string;
  /** /proc/self/cgroup */
  self: string;
  /** Exists when systemd is the init system. */
  systemd: string;
  /** Exists while logind runs (pam_systemd asks the same). */
  logind: string;
  systemdRun: string;
  systemctl: string;
}

const SYSTEM: CgroupRoots = {
  root: '/sys/fs/cgroup',
  self: '/proc/self/cgroup',
  systemd: '/run/systemd/system',
  logind: '/run/systemd/seats',
  systemdRun: '/usr/bin/systemd-run',
  systemctl: '/usr/bin/systemctl',
};

const run = promisify(execFile);

function write(file: string, value: string): void {
  fs.writeFileSync(file, value);
}

/** This process's cgroup path per hierarchy: '' for v2, the controller name for v1. */
function ownPaths(selfFile: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of fs.readFileSync(selfFile, 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    for (const c of m[1]!.split(',')) out.set(c, m[2]!);
  }
  return out;
}

function writable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/** How sessions are limited on this machine: one of the two hierarchies, or none (and why). */
export type CgroupMode =
  | { kind: 'logind'; systemctl: string }
  | { kind: 'systemd'; run: string }
  | { kind: 'v2'; base: string }
  | { kind: 'v1'; memory: string; pids: string }
  | { kind: 'none'; why: string };

/**
 * Finds where session cgroups can go. v2: below this process's own cgroup, which must be
 * delegated (writable, with memory and pids available); the server moves itself into a leaf
 * ("server") first, since a v2 cgroup with children may hold no processes. v1: below its own
 * memory and pids cgroups, in a "waydesk" directory.
 */
export function detectCgroups(roots: CgroupRoots = SYSTEM): CgroupMode {
  // systemd owns the tree where it runs: ask it, never write into cgroups it made
  if (fs.existsSync(roots.systemd)) {
    // pam_systemd makes each keeper a logind session in a scope of its own: that scope gets the limits
    if (fs.existsSync(roots.logind)) {
      if (!fs.existsSync(roots.systemctl)) return { kind: 'none', why: `logind runs but ${roots.systemctl} is missing` };
      return { kind: 'logind', systemctl: roots.systemctl };
    }
    if (!fs.existsSync(roots.systemdRun)) return { kind: 'none', why: `systemd runs but ${roots.systemdRun} is missing` };
    // one scope made and gone at start: where it cannot be (no bus, a sandboxed unit), every
    // desktop would fail to start through it, so sessions run without limits instead
    try {
      execFileSync(roots.systemdRun, ['--scope', '--quiet', '--collect', '--', 'true'], { stdio: 'ignore', timeout: 10_000 });
    } catch (err) {
      return { kind: 'none', why: `systemd-run --scope does not work here (${(err as Error).message.split('\n')[0]})` };
    }
    return { kind: 'systemd', run: roots.systemdRun };
  }
  let own: Map<string, string>;
  try {
    own = ownPaths(roots.self);
  } catch (err) {
    return { kind: 'none', why: `cannot read ${roots.self}: ${(err as Error).message}` };
  }
  const controllers = path.join(roots.root, 'cgroup.controllers');
  if (fs.existsSync(controllers)) {
    const own2 = own.get('') ?? '/';
    // at the root, the server would move every process of the machine into its leaf
    if (own2 === '/') return { kind: 'none', why: 'cgroup v2: the server runs in the root cgroup; start it in a cgroup of its own' };
    const base = path.join(roots.root, own2);
    let available = '';
    try {
      available = fs.readFileSync(path.join(base, 'cgroup.controllers'), 'utf8');
    } catch {
      // fall through to the message below
    }
    if (!/\bmemory\b/.test(available) || !/\bpids\b/.test(available)) return { kind: 'none', why: `cgroup v2: memory and pids are not available in ${base} (systemd: Delegate=yes in the unit)` };
    if (!writable(base)) return { kind: 'none', why: `cgroup v2: ${base} is not writable (systemd: Delegate=yes in the unit)` };
    return { kind: 'v2', base };
  }
  const memory = path.join(roots.root, 'memory', own.get('memory') ?? '/');
  const pids = path.join(roots.root, 'pids', own.get('pids') ?? '/');
  if (writable(memory) && writable(pids)) return { kind: 'v1', memory: path.join(memory, 'waydesk'), pids: path.join(pids, 'waydesk') };
  return { kind: 'none', why: 'neither a delegated cgroup v2 nor writable v1 memory and pids hierarchies' };
}

/** The name of a session's cgroup: its key, made safe for a directory name. */
export function cgroupName(sessionKey: string): string {
  return `session-${sessionKey.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
}

/** Puts sessions in cgroups of their own, with the configured limits (see detectCgroups). */
export class SessionCgroups {
  readonly mode: CgroupMode;
  readonly #limits: SessionLimits;
  readonly #log: Logger;
  #prepared = false;

  constructor(limits: SessionLimits, log: Logger, roots: CgroupRoots = SYSTEM) {
    this.#limits = limits;
    this.#log = log;
    this.mode = detectCgroups(roots);
    if (this.mode.kind === 'none') log.warn({ why: this.mode.why }, 'sessions run without memory and task limits');
    else log.info({ cgroups: this.mode.kind, memoryBytes: limits.memoryBytes, tasks: limits.tasks }, 'each session runs in a cgroup of its own, with memory and task limits');
    if (!(fs.existsSync(roots.systemd) && fs.existsSync(roots.logind))) log.info('logind is not running here: sessions are not registered with it (pam_systemd does nothing)');
  }

  /**
   * What a session's compositor is started through: systemd-run, which makes the scope with the
   * limits and then becomes the compositor (same pid); nothing elsewhere.
   */
  launcher(key: string): string[] {
    const m = this.mode;
    if (m.kind !== 'systemd') return [];
    return [
      m.run,
      '--scope',
      '--quiet',
      '--collect',
      '--slice=waydesk.slice',
      `--unit=waydesk-${cgroupName(key)}-${process.hrtime.bigint().toString(36)}`,
      '-p',
      `MemoryMax=${this.#limits.memoryBytes}`,
      '-p',
      `TasksMax=${this.#limits.tasks}`,
      '--',
    ];
  }

  /** The directories of a session's cgroup (one per hierarchy). */
  #dirs(key: string): string[] {
    const m = this.mode;
    const name = cgroupName(key);
    if (m.kind === 'v2') return [path.join(m.base, name)];
    if (m.kind === 'v1') return [path.join(m.memory, name), path.join(m.pids, name)];
    return [];
  }

  #prepare(): void {
    if (this.#prepared) return;
    const m = this.mode;
    if (m.kind === 'v2') {
      // no processes in a cgroup with children: the server goes to a leaf of its own first
      const leaf = path.join(m.base, 'server');
      fs.mkdirSync(leaf, { recursive: true });
      for (const pid of fs.readFileSync(path.join(m.base, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try {
          write(path.join(leaf, 'cgroup.procs'), pid);
        } catch {
          // a process that ended meanwhile
        }
      }
      write(path.join(m.base, 'cgroup.subtree_control'), '+memory +pids');
    } else if (m.kind === 'v1') {
      fs.mkdirSync(m.memory, { recursive: true });
      fs.mkdirSync(m.pids, { recursive: true });
    }
    this.#prepared = true;
  }

  /**
   * Moves a session's first process (its compositor, just spawned: what it starts later is
   * born inside) into the session's cgroup, made with its limits. A failure is logged and the
   * session runs on without limits: a desktop is not refused for it.
   */
  async place(key: string, pid: number, logindSession: string | null = null): Promise<boolean> {
    if (this.mode.kind === 'none' || this.mode.kind === 'systemd') return false;
    if (this.mode.kind === 'logind') return this.#limitScope(key, logindSession);
    try {
      this.#prepare();
      const dirs = this.#dirs(key);
      for (const d of dirs) fs.mkdirSync(d, { recursive: true });
      if (this.mode.kind === 'v2') {
        write(path.join(dirs[0]!, 'memory.max'), String(this.#limits.memoryBytes));
        write(path.join(dirs[0]!, 'pids.max'), String(this.#limits.tasks));
      } else {
        write(path.join(dirs[0]!, 'memory.limit_in_bytes'), String(this.#limits.memoryBytes));
        write(path.join(dirs[1]!, 'pids.max'), String(this.#limits.tasks));
      }
      for (const d of dirs) write(path.join(d, 'cgroup.procs'), String(pid));
      return true;
    } catch (err) {
      this.#log.error({ session: key, err: (err as Error).message }, 'could not put the session in its cgroup: it runs without limits');
      return false;
    }
  }

  /** Gives the logind session's scope (made by pam_systemd, with the keeper in it) the limits. */
  async #limitScope(key: string, logindSession: string | null): Promise<boolean> {
    const m = this.mode;
    if (m.kind !== 'logind') return false;
    if (logindSession === null) {
      this.#log.error({ session: key }, 'logind runs but did not register the session (is pam_systemd in the PAM service?): it runs without limits');
      return false;
    }
    const scope = `session-${logindSession}.scope`;
    try {
      await run(m.systemctl, ['set-property', '--runtime', scope, `MemoryMax=${this.#limits.memoryBytes}`, `TasksMax=${this.#limits.tasks}`], { timeout: 10_000 });
      this.#log.info({ session: key, scope }, 'the logind session has its memory and task limits');
      return true;
    } catch (err) {
      this.#log.error({ session: key, scope, err: (err as Error).message.split('\n')[0] }, 'could not limit the logind session: it runs without limits');
      return false;
    }
  }

  /**
   * Removes a session's cgroup once its processes are gone: the kernel refuses while any
   * remain, so it is tried again for a few seconds (a shell still exiting).
   */
  async remove(key: string): Promise<void> {
    for (const d of this.#dirs(key)) {
      for (let attempt = 0; ; attempt++) {
        try {
          fs.rmdirSync(d);
          break;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') break;
          if (code !== 'EBUSY' || attempt >= 20) {
            this.#log.warn({ session: key, dir: d, err: (err as Error).message }, 'could not remove the session cgroup');
            break;
          }
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    }
  }
}
