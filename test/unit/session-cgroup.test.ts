// How the server chooses where sessions' limits come from, on made-up system trees: logind
// (its session scopes), systemd (transient scopes), cgroup v2 or v1 of our own, or none with the
// reason. The v1 path is also exercised for real in test/integration/session-limits.test.ts;
// logind, systemd and v2 cannot be on this machine (no systemd, no delegated v2), so this is what
// checks their choice, with stand-ins for systemd-run and systemctl.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionCgroups, detectCgroups, type CgroupRoots } from '../../session-manager/src/session-cgroup.js';
import { createLogger } from '../../session-manager/src/log.js';

let dir = '';
afterEach(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = '';
});

function tree(files: Record<string, string>, dirs: string[] = []): CgroupRoots {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-cgroups-'));
  for (const d of dirs) fs.mkdirSync(path.join(dir, d), { recursive: true });
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), text);
  }
  return {
    root: path.join(dir, 'cgroup'),
    self: path.join(dir, 'self-cgroup'),
    systemd: path.join(dir, 'run-systemd'),
    logind: path.join(dir, 'run-systemd-seats'),
    systemdRun: path.join(dir, 'systemd-run'),
    systemctl: path.join(dir, 'systemctl'),
  };
}

describe('session limits: where they come from', () => {
  it('gives the logind session scope pam_systemd made the limits where logind runs, with no scope of its own', async () => {
    // a stand-in for systemctl that records what it was asked (there is no systemd here)
    const roots = tree({ 'self-cgroup': '0::/system.slice/waydesk-server.service\n', systemctl: '#!/bin/sh\necho "$@" >> "$(dirname "$0")/asked"\n' }, ['run-systemd', 'run-systemd-seats', 'cgroup']);
    fs.chmodSync(roots.systemctl, 0o755);
    expect(detectCgroups(roots)).toEqual({ kind: 'logind', systemctl: roots.systemctl });
    const c = new SessionCgroups({ memoryBytes: 256 << 20, tasks: 100 }, createLogger('test'), roots);
    expect(c.launcher('user:alice')).toEqual([]);
    expect(await c.place('user:alice', process.pid, '17')).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'asked'), 'utf8')).toBe(`set-property --runtime session-17.scope MemoryMax=${256 << 20} TasksMax=100\n`);
    // pam_systemd gave no session: nothing to limit, and no scope name made up
    expect(await c.place('user:bob', process.pid, null)).toBe(false);
    fs.writeFileSync(roots.systemctl, '#!/bin/sh\necho "Unit session-18.scope not found." >&2; exit 5\n');
    expect(await c.place('user:carol', process.pid, '18')).toBe(false);
  });

  it('asks systemd for a scope with the limits where systemd runs, and writes no cgroup itself', async () => {
    // a stand-in for systemd-run that makes the probe's scope (there is no systemd here)
    const roots = tree({ 'self-cgroup': '0::/system.slice/waydesk-server.service\n', 'systemd-run': '#!/bin/sh\nexit 0\n' }, ['run-systemd', 'cgroup']);
    fs.chmodSync(roots.systemdRun, 0o755);
    expect(detectCgroups(roots)).toEqual({ kind: 'systemd', run: roots.systemdRun });
    const c = new SessionCgroups({ memoryBytes: 256 << 20, tasks: 100 }, createLogger('test'), roots);
    const l = c.launcher('user:alice');
    expect(l.slice(0, 2)).toEqual([roots.systemdRun, '--scope']);
    expect(l).toContain(`MemoryMax=${256 << 20}`);
    expect(l).toContain('TasksMax=100');
    expect(l.at(-1)).toBe('--');
    expect(l.find((a) => a.startsWith('--unit='))).toMatch(/^--unit=waydesk-session-user_alice-/);
    expect(await c.place('user:alice', process.pid)).toBe(false);
  });

  it('says what is missing when systemd runs without systemd-run, or where it cannot make a scope', () => {
    const missing = tree({ 'self-cgroup': '0::/\n' }, ['run-systemd']);
    expect(detectCgroups(missing)).toMatchObject({ kind: 'none', why: expect.stringContaining('systemd-run') });
    fs.rmSync(dir, { recursive: true, force: true });
    const refusing = tree({ 'self-cgroup': '0::/\n', 'systemd-run': '#!/bin/sh\necho "Failed to connect to bus" >&2; exit 1\n' }, ['run-systemd']);
    fs.chmodSync(refusing.systemdRun, 0o755);
    expect(detectCgroups(refusing)).toMatchObject({ kind: 'none', why: expect.stringContaining('does not work here') });
  });

  it('uses its own v1 memory and pids cgroups without systemd, and none where they are not there', async () => {
    const v1 = tree({ 'self-cgroup': '4:memory:/box\n8:pids:/\n0::/\n' }, ['cgroup/memory/box', 'cgroup/pids']);
    expect(detectCgroups(v1)).toEqual({ kind: 'v1', memory: path.join(v1.root, 'memory/box/waydesk'), pids: path.join(v1.root, 'pids/waydesk') });
    fs.rmSync(dir, { recursive: true, force: true });
    const bare = tree({ 'self-cgroup': '0::/\n' }, ['cgroup']);
    const none = detectCgroups(bare);
    expect(none.kind).toBe('none');
    const c = new SessionCgroups({ memoryBytes: 1 << 30, tasks: 64 }, createLogger('test'), bare);
    expect(c.launcher('user:bob')).toEqual([]);
    expect(await c.place('user:bob', process.pid)).toBe(false);
  });

  it('takes v2 only where memory and pids are available to its own cgroup', () => {
    const without = tree({ 'self-cgroup': '0::/box\n', 'cgroup/cgroup.controllers': 'cpu io memory pids\n', 'cgroup/box/cgroup.controllers': 'cpu io\n' });
    expect(detectCgroups(without)).toMatchObject({ kind: 'none', why: expect.stringContaining('memory and pids are not available') });
    fs.rmSync(dir, { recursive: true, force: true });
    const withThem = tree({ 'self-cgroup': '0::/box\n', 'cgroup/cgroup.controllers': 'memory pids\n', 'cgroup/box/cgroup.controllers': 'memory pids\n' });
    expect(detectCgroups(withThem)).toEqual({ kind: 'v2', base: path.join(withThem.root, 'box') });
    fs.rmSync(dir, { recursive: true, force: true });
    // never from the root cgroup: the server would move every process of the machine
    const atRoot = tree({ 'self-cgroup': '0::/\n', 'cgroup/cgroup.controllers': 'memory pids\n' });
    expect(detectCgroups(atRoot)).toMatchObject({ kind: 'none', why: expect.stringContaining('root cgroup') });
  });
});
