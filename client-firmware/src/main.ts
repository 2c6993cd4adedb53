// waydesk-terminal: the terminal program (headless presenter; DRM/KMS comes with the netboot image).
import fs from 'node:fs';
import os from 'node:os';
import { PcscCardReader } from './card-reader.js';
import { HeadlessPresenter } from './headless-presenter.js';
import { createLogger } from './log.js';
import { Terminal } from './terminal.js';

const USAGE = `usage: waydesk-terminal --server wss://HOST:PORT/terminal --fingerprint SHA256 [options]
       WAYDESK_TOKEN=… waydesk-terminal --server … --fingerprint … [options]
       WAYDESK_PASSWORD=… waydesk-terminal --server … --fingerprint … --user NAME [options]

  Without a token or a user, the terminal shows the server's greeter (a server that logs
  users in); the single-user server (--dev) needs its token.

  --server URL          the session-manager's terminal endpoint
  --fingerprint FP      SHA-256 fingerprint of the server certificate (pinned)
  --token-file FILE     read the single-user server's token from FILE (default: $WAYDESK_TOKEN;
                        a secret on the command line would show in every user's ps)
  --user NAME           log in as NAME (a server that logs users in); the password comes from
                        $WAYDESK_PASSWORD or --password-file FILE
  --size WxH            this terminal's display (default 1920x1080)
  --id ID               terminal id (default: the host name)
  --png FILE            keep FILE updated with what the terminal shows (at most once a second)
  --card-reader NAME    use the PC/SC reader whose name starts with NAME for cards (pcscd);
                        'none': no card reader (default: the first reader pcscd has)
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
let user = '';
let passwordFile = '';
let readerName: string | undefined;
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
  else if (a === '--user') user = v();
  else if (a === '--password-file') passwordFile = v();
  else if (a === '--card-reader') readerName = v();
  else if (a === '-h' || a === '--help') {
    process.stdout.write(USAGE);
    process.exit(0);
  } else fail(`unknown option '${a}'`);
}
if (!url || !fingerprint) fail('--server and --fingerprint are required');
function secret(file: string, env: string | undefined, what: string): string {
  if (!file) return env ?? '';
  try {
    return fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    fail(`cannot read the ${what} file: ${(err as Error).message}`);
  }
}
let credentials: { token: string } | { user: string; password: string } | undefined;
if (user) {
  const password = secret(passwordFile, process.env.WAYDESK_PASSWORD, 'password');
  if (!password) fail('--user needs a password: set WAYDESK_PASSWORD or pass --password-file');
  credentials = { user, password };
} else {
  const token = secret(tokenFile, process.env.WAYDESK_TOKEN, 'token').trim();
  // none: a server that logs users in shows its greeter
  if (token) credentials = { token };
}

const log = createLogger('waydesk-terminal');
const cards = readerName === 'none' ? undefined : new PcscCardReader({ readerName, log });
const terminal = new Terminal({ url, fingerprint, credentials, terminalId: id, display: { ...size, refreshMhz: 60000 }, kind: 'headless', log, cards });
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
cards?.start();
terminal.start();
const stop = (): void => {
  cards?.stop();
  terminal.stop();
  if (png) presenter.writePng(png);
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
