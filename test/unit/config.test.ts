// The server's configuration file: defaults, overrides, and errors that name the key and the fix.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, loadConfig } from '../../session-manager/src/config.js';
import { SERVER_BIN } from '../helpers/server.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-config-'));
const write = (name: string, text: string): string => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
};

describe('configuration', () => {
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a missing default file means the defaults; a missing named file is an error', () => {
    expect(loadConfig(undefined).config).toEqual(DEFAULTS);
    expect(() => loadConfig(path.join(dir, 'nope.json'))).toThrow(/cannot read .*nope\.json/);
  });

  it('takes what the file sets and the defaults for the rest', () => {
    const f = write('ok.json', JSON.stringify({ port: 9443, session: { command: ['weston-terminal'] } }));
    expect(loadConfig(f).config).toEqual({ ...DEFAULTS, port: 9443, session: { ...DEFAULTS.session, command: ['weston-terminal'] } });
    const t = write('timeout.json', JSON.stringify({ session: { detachedTimeoutSeconds: 30 } }));
    expect(() => loadConfig(t)).toThrow(/"session\.detachedTimeoutSeconds": must be >= 60: it wants seconds a session may go without a terminal/);
  });

  it('names every bad key, what is wrong with it and what it wants', () => {
    const f = write('bad.json', JSON.stringify({ port: 70000, sesion: {}, session: { command: 'foot', size: '99999x1' }, pam: { service: '../etc' } }));
    let msg = '';
    try {
      loadConfig(f);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      msg = (err as Error).message;
    }
    expect(msg).toMatch(/has 5 errors/);
    expect(msg).toMatch(/"sesion": not a key this server knows/);
    expect(msg).toMatch(/"port": must be <= 65535: it wants a TCP port/);
    expect(msg).toMatch(/"session\.command": must be array: it wants the session command as a list/);
    expect(msg).toMatch(/"session\.size": .*it wants a size WIDTHxHEIGHT/);
    expect(msg).toMatch(/"pam\.service": .*it wants the name of a file in \/etc\/pam\.d/);
    expect(() => loadConfig(write('json.json', '{ "port": 1,'))).toThrow(/is not valid JSON/);
  });

  it('waydesk-server --check-config says what is in effect, or fails with the errors', () => {
    const f = write('cli.json', JSON.stringify({ listen: '127.0.0.1', port: 9000 }));
    const out = execFileSync(process.execPath, [SERVER_BIN, '--check-config', '--config', f, '--port', '9001'], { encoding: 'utf8' });
    expect(out).toMatch(/is valid/);
    expect(out).toMatch(/"port": 9001/); // the command line wins over the file
    let code = 0;
    try {
      execFileSync(process.execPath, [SERVER_BIN, '--check-config', '--config', write('bad2.json', '{"port": "x"}')], { stdio: 'pipe' });
    } catch (err) {
      code = (err as { status: number }).status;
    }
    expect(code).toBe(2);
  });
});
