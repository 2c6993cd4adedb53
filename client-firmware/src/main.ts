// waydesk-terminal: the terminal program (headless presenter; DRM/KMS comes with the netboot image).
import fs from 'node:fs';
import os from 'node:os';
import { HeadlessPresenter } from './headless-presenter.js';
import { createLogger } from './log.js';
import { Terminal } from './terminal.js';

const USAGE = `usage: WAYDESK_TOKEN=… waydesk-terminal --server wss://HOST:PORT/terminal --fingerprint SHA256 [options]

  --server URL          the session-manager's terminal endpoint
  --fingerprint FP      SHA-256 fingerprint of the server certificate (pinned)
  --token-file FILE     read the server's token from FILE (default: $WAYDESK_TOKEN; a
                        token on the command line would show in every user's ps)
  --size WxH            this terminal's display (default 1920x1080)
  --id ID               terminal id (default: the host name)
  --png FILE            keep FILE updated with what the terminal shows (at most once a second)
`;

function fail(message: string): never {
  process.stderr.write(`waydesk-terminal: ${message}\n\n${USAGE}`);
  process.exit(2);
}

const argv = process.argv.slice(2);
let url = '';
let fingerprint = '';
let size = { width: 1920, height: 1080 };
let id = os.hostname().replace(/[^A-Za-z0-9:._-]/g, '-').slice(0, 64) || 'terminal';
let png = '';
let tokenFile = '';
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!;
  const v = (): string => argv[++i] ?? fail(`${a} needs a value`);
  if (a === '--server') url = v();
  else if (a === '--fingerprint') fingerprint = v();
  else if (a === '--size') {
    const m = /^(\d+)x(\d+)$/.exec(v());
    if (!m) fail('--size wants WIDTHxHEIGHT');
    size = { width: Number(m[1]), height: Number(m[2]) };
  } else if (a === '--id') id = v();
  else if (a === '--png') png = v();
  else if (a === '--token-file') tokenFile = v();
  else if (a === '-h' || a === '--help') {
    process.stdout.write(USAGE);
    process.exit(0);
  } else fail(`unknown option '${a}'`);
}
if (!url || !fingerprint) fail('--server and --fingerprint are required');
let token = process.env.WAYDESK_TOKEN ?? '';
if (tokenFile) {
  try {
    token = fs.readFileSync(tokenFile, 'utf8').trim();
  } catch (err) {
    fail(`cannot read --token-file: ${(err as Error).message}`);
  }
}
if (!token) fail("the server's token is required: set WAYDESK_TOKEN (the server prints it) or pass --token-file");

const log = createLogger('waydesk-terminal');
const terminal = new Terminal({ url, fingerprint, token, terminalId: id, display: { ...size, refreshMhz: 60000 }, kind: 'headless', log });
const presenter = new HeadlessPresenter(terminal);
terminal.on('status', (s) => log.info(s, s.message));
let pngTimer: NodeJS.Timeout | null = null;
terminal.on('frame', () => {
  if (!png || pngTimer) return;
  pngTimer = setTimeout(() => {
    pngTimer = null;
    presenter.writePng(png);
  }, 1000);
});
terminal.start();
const stop = (): void => {
  terminal.stop();
  if (png) presenter.writePng(png);
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
