// waydesk-server: the session-manager. For now: --dev, one desktop and one terminal, opened with a per-run token.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp } from './app.js';
import { Router } from './router.js';
import { SupervisedDesktop } from './supervisor.js';
import { createLogger } from './log.js';
import { serveTerminal } from './terminal-endpoint.js';
import { listenWebSocket, transports } from './transport.js';
import { loadOrCreateIdentity } from './tls.js';
import { createRunToken, tokenMatches } from './run-token.js';
import { chooseDesktopUser, DesktopUserError } from './desktop-user.js';
import { MAX_OUTPUT, MIN_OUTPUT } from '@waydesk/protocol/limits';


const USAGE = `usage: waydesk-server --dev [options] [-- COMMAND [ARGS...]]

  --dev                 one desktop (COMMAND, default foot), one terminal at a time; the
                        printed address carries this run's secret token
  --user NAME           whose desktop it is (started by root; default: SUDO_USER, else the
                        unprivileged 'waydesk' account, made if no other user exists)
  --listen ADDR         address to listen on (default 127.0.0.1)
  --port N              TLS port for terminals and browsers (default 8443; 0 picks a free one)
  --state DIR           where the server keeps its TLS identity
                        (default /var/lib/waydesk as root, else ~/.local/state/waydesk)
  --size WxH            desktop size until a terminal says its own (default 1920x1080)
`;

function fail(message: string): never {
  process.stderr.write(`waydesk-server: ${message}\n\n${USAGE}`);
  process.exit(2);
}

/** Loopback only: 127.0.0.0/8, ::1, localhost. */
function isLoopback(addr: string): boolean {
  return addr === 'localhost' || addr === '::1' || /^127\.\d+\.\d+\.\d+$/.test(addr) || /^::ffff:127\./.test(addr);
}

async function main(): Promise<void> {
  const log = createLogger('waydesk-server');
  const argv = process.argv.slice(2);
  let dev = false;
  let listen = '127.0.0.1';
  let port = 8443;
  let size = { width: 1920, height: 1080 };
  let state = process.getuid?.() === 0 ? '/var/lib/waydesk' : path.join(os.homedir(), '.local/state/waydesk');
  let userFlag: string | undefined;
  let command = ['foot'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string => argv[++i] ?? fail(`${a} needs a value`);
    if (a === '--dev') dev = true;
    else if (a === '--listen') listen = v();
    else if (a === '--user') userFlag = v();
    else if (a === '--port') {
      port = Number(v());
      if (!Number.isInteger(port) || port < 0 || port > 65535) fail('--port wants 0..65535');
    } else if (a === '--state') state = v();
    else if (a === '--size') {
      const m = /^(\d+)x(\d+)$/.exec(v());
      if (!m) fail('--size wants WIDTHxHEIGHT');
      size = { width: Number(m[1]), height: Number(m[2]) };
      if (size.width < MIN_OUTPUT.width || size.height < MIN_OUTPUT.height || size.width > MAX_OUTPUT.width || size.height > MAX_OUTPUT.height) {
        fail(`--size wants ${MIN_OUTPUT.width}x${MIN_OUTPUT.height}..${MAX_OUTPUT.width}x${MAX_OUTPUT.height}`);
      }
    } else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      return;
    } else if (a === '--') {
      command = argv.slice(i + 1);
      break;
    } else fail(`unknown option '${a}'`);
  }
  if (!dev) fail('only --dev exists so far: users, smartcards and many sessions come with the session-manager release');

  // The identity first: a key that others can read stops the start before any account is made.
  const identity = loadOrCreateIdentity(state);
  let who;
  try {
    who = chooseDesktopUser(userFlag);
  } catch (err) {
    if (err instanceof DesktopUserError) fail(err.message);
    throw err;
  }
  const token = createRunToken();
  const owner = who.user ?? os.userInfo().username;
  // Single-user mode is one configuration of the same parts: one session, the chosen user's,
  // opened by this run's token.
  const key = `user:${owner}`;
  const desktop = new SupervisedDesktop({ user: who.user, command, display: { ...size, refreshMhz: 60000 } }, log);
  const router = new Router(log);
  router.add(key, desktop);
  await desktop.start();

  const app = await buildApp({ identity, healthy: () => desktop.healthy });
  const auth = { authenticate: (a: { token: string }) => (tokenMatches(token, a.token) ? key : null) };
  const endpoint = listenWebSocket(app.server, '/terminal', log, (ch) => serveTerminal(ch, router, auth, log));
  for (const t of await transports()) log.info(t, t.available ? `transport ${t.name}: on` : `transport ${t.name}: off`);
  await app.listen({ host: listen, port });
  const addr = app.server.address();
  const actualPort = typeof addr === 'object' && addr ? addr.port : port;
  const hostPort = `${listen.includes(':') ? `[${listen}]` : listen}:${actualPort}`;
  const url = `wss://${hostPort}/terminal`;
  log.info({ url, fingerprint: identity.fingerprint, user: owner }, 'listening');
  const hello = desktop.link?.hello;
  process.stderr.write(
    [
      '',
      `waydesk-server (dev) is serving one desktop on ${hostPort}; ${who.note}`,
      `  browser terminal: https://${hostPort}/#token=${token}`,
      `    (self-signed: check the certificate fingerprint, then accept it)`,
      `  certificate fingerprint: ${identity.fingerprint}`,
      `  headless terminal: WAYDESK_TOKEN=${token} npx waydesk-terminal --server ${url} --fingerprint ${identity.fingerprint} --png /tmp/terminal.png`,
      `  the token is this run's secret: whoever has it gets this desktop`,
      hello && who.user === null ? `  apps on the desktop: XDG_RUNTIME_DIR=${hello.runtimeDir} WAYLAND_DISPLAY=${hello.socket} weston-terminal &` : '',
      '',
    ].join('\n') + '\n',
  );
  if (!isLoopback(listen)) {
    process.stderr.write(
      `waydesk-server: WARNING: listening on ${listen}, not loopback: the browser page and the terminal endpoint on port ${actualPort} ` +
        `are reachable from the network. Anyone who has the address with its token gets the desktop of ${owner} ` +
        `and types as that user; the traffic is encrypted, but the certificate is self-signed (compare the fingerprint).\n\n`,
    );
    log.warn({ listen }, 'listening on a non-loopback address');
  }
  // Tests and supervisors read this line to find the port and the token.
  if (process.env.WAYDESK_READY_FD) fs.writeSync(Number(process.env.WAYDESK_READY_FD), JSON.stringify({ url, fingerprint: identity.fingerprint, token }) + '\n');

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    endpoint.close();
    await app.close();
    await desktop.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((err: Error) => {
  process.stderr.write(`waydesk-server: ${err.message}\n`);
  process.exit(1);
});
