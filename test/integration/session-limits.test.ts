// Each session in a cgroup of its own with the configured memory and task limits (cgroup v1
// memory and pids on this machine; v2 where the server's cgroup is delegated): a user who
// starts too many processes hits their own limit, not the server's.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeAccount, removeAccount } from '../helpers/test-user.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectCgroups, cgroupName } from '../../session-manager/src/session-cgroup.js';
import { comm, descendants, uidsOf } from '../bench/procs.js';
import { isRoot, waitFor } from '../helpers/compositor.js';
import { startLoginServer, startTerminal, type DevServer } from '../helpers/server.js';

const USER = 'wdlimits-a';
const PASSWORD = 'limits horse battery staple';
const TASKS = 48;
const MEMORY_MIB = 512;

const mode = isRoot() ? detectCgroups() : { kind: 'none' as const, why: 'not root' };

describe.skipIf(!isRoot() || mode.kind === 'none')('session limits', () => {
  let s: DevServer | undefined;
  let dir = '';
  beforeAll(() => {
    makeAccount(USER, PASSWORD, 'limits test');
  });
  afterAll(async () => {
    await s?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    removeAccount(USER);
  });

  it('puts the desktop and all it starts in the session cgroup; too many processes fail inside it; the cgroup goes with the session', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-limits-'));
    const config = path.join(dir, 'server.json');
    fs.writeFileSync(config, JSON.stringify({ session: { memoryMaxMiB: MEMORY_MIB, tasksMax: TASKS } }));
    // the session tries to run 100 sleeps at once (xargs says when a fork fails, the shell goes on)
    const script = 'yes 300 | head -n 100 | xargs -n 1 -P 100 sleep 2>/dev/null; exec sleep 300';
    s = await startLoginServer(['foot', '-o', 'cursor.blink=no', 'sh', '-c', script], ['--config', config]);
    const t = startTerminal(s, { width: 800, height: 600 }, 'limits-a', false, { user: USER, password: PASSWORD }).terminal;
    try {
      await waitFor('the desktop', () => t.painter.width === 800, 20_000);
      const uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim());
      const compositor = descendants(s.proc.pid!).find((p) => uidsOf(p)[0] === uid)!;
      const name = cgroupName(`user:${USER}`);
      const cg = fs.readFileSync(`/proc/${compositor}/cgroup`, 'utf8');
      expect(cg).toContain(name);
      const procsFile = mode.kind === 'v1' ? path.join(mode.pids, name, 'cgroup.procs') : mode.kind === 'v2' ? path.join(mode.base, name, 'cgroup.procs') : '';
      const sleeping = (): number => fs.readFileSync(procsFile, 'utf8').split('\n').filter(Boolean).filter((p) => comm(Number(p)) === 'sleep').length;
      await new Promise((r) => setTimeout(r, 3000));
      await waitFor('the sleeps to start', () => sleeping() > 0, 20_000);
      await new Promise((r) => setTimeout(r, 2000));
      // the limit held: far from all 100 started (node's threads, foot and the shell count too)
      const sleeps = sleeping();
      expect(sleeps).toBeLessThan(TASKS);
      // every process of the session is in it, foot and the shell's children included
      for (const p of descendants(compositor)) expect(fs.readFileSync(`/proc/${p}/cgroup`, 'utf8')).toContain(name);
      const dirs = mode.kind === 'v1' ? [path.join(mode.memory, name), path.join(mode.pids, name)] : mode.kind === 'v2' ? [path.join(mode.base, name)] : [];
      const memoryFile = mode.kind === 'v1' ? path.join(dirs[0]!, 'memory.limit_in_bytes') : path.join(dirs[0]!, 'memory.max');
      expect(Number(fs.readFileSync(memoryFile, 'utf8'))).toBe(MEMORY_MIB * 1024 * 1024);
      expect(s.log()).toContain('each session runs in a cgroup of its own');
      // the server itself is not limited by it, nor are other sessions: its own cgroup is another
      expect(fs.readFileSync(`/proc/${s.proc.pid!}/cgroup`, 'utf8')).not.toContain(name);
      // logged out (the desktop killed), the session's cgroup is removed
      process.kill(compositor, 'SIGKILL');
      await waitFor('the session to end', () => /"event":"session-end"/.test(s!.log()), 10_000);
      await waitFor('its cgroup to be gone', () => dirs.every((d) => !fs.existsSync(d)), 10_000, 100);
    } finally {
      t.stop();
    }
  }, 60_000);
});
