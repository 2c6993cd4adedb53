import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './compositor.js';

/**
 * Builds one of the test's own C Wayland clients (test/helpers/NAME.c) with xdg-shell from
 * wayland-scanner, into a temporary directory; returns the binary's path.
 */
export function buildClient(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `wd-${name}-`));
  fs.chmodSync(dir, 0o755);
  const xml = '/usr/share/wayland-protocols/stable/xdg-shell/xdg-shell.xml';
  execFileSync('wayland-scanner', ['client-header', xml, path.join(dir, 'xdg-shell-client-protocol.h')]);
  execFileSync('wayland-scanner', ['private-code', xml, path.join(dir, 'xdg-shell-protocol.c')]);
  const bin = path.join(dir, name);
  execFileSync('gcc', ['-O1', '-o', bin, '-I', dir, path.join(ROOT, 'test/helpers', `${name}.c`), path.join(dir, 'xdg-shell-protocol.c'), '-lwayland-client']);
  return bin;
}
