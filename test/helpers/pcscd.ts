// A pcscd of the test's own with two vsmartcard vpcd readers (one reader.conf entry gives two,
// on consecutive ports): the terminals' readers, into which fake cards are put (fake-card.ts).
// pcscd serves one socket per machine (/run/pcscd/pcscd.comm): a pcscd that the test did not
// start makes it stop rather than touch it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from './compositor.js';

export const PCSCD_SOCKET = '/run/pcscd/pcscd.comm';

/** A pcscd runs that is not ours (its pid), or null. */
export function foreignPcscd(): number | null {
  try {
    const out = execFileSync('pgrep', ['-x', 'pcscd'], { encoding: 'utf8' }).trim();
    return out ? Number(out.split('\n')[0]) : null;
  } catch {
    return null;
  }
}

function listening(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      // state 0A: LISTEN
      if (fs.readFileSync(f, 'utf8').split('\n').some((l) => l.includes(`:${hex} `) && / 0A /.test(l))) return true;
    } catch {
      // no IPv6
    }
  }
  return false;
}

export class Pcscd {
  proc: ChildProcess | null = null;
  readonly dir: string;
  /** The two readers' names, and the ports a card is put into each by. */
  readonly readers: [string, string];
  readonly ports: [number, number];
  #log = '';

  constructor(readonly name = 'waydesk test', base = 40_000 + (process.pid % 1000) * 2) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-pcscd-'));
    this.readers = [`${name} 00 00`, `${name} 00 01`];
    this.ports = [base, base + 1];
    fs.writeFileSync(
      path.join(this.dir, 'vpcd'),
      `FRIENDLYNAME "${name}"\nDEVICENAME   /dev/null:0x${base.toString(16)}\nLIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID    0x${base.toString(16)}\n`,
    );
  }

  get log(): string {
    return this.#log;
  }

  async start(): Promise<void> {
    const other = foreignPcscd();
    if (other !== null) throw new Error(`a pcscd this test did not start runs (pid ${other}): pcscd serves one socket per machine, stop it for this test`);
    const p = spawn('pcscd', ['--foreground', '--config', this.dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout.on('data', (d: Buffer) => (this.#log += d.toString()));
    p.stderr.on('data', (d: Buffer) => (this.#log += d.toString()));
    this.proc = p;
    await waitFor('pcscd and its readers', () => fs.existsSync(PCSCD_SOCKET) && listening(this.ports[0]) && listening(this.ports[1]), 10_000);
  }

  /** As a crash would: SIGKILL. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(signal);
    });
    this.proc = null;
    // a killed pcscd leaves its socket; the next one replaces it
  }

  async stop(): Promise<void> {
    await this.kill('SIGTERM');
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
