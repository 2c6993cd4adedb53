// waydesk-server: the session-manager. For now: --dev, one desktop and one terminal, no login.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { DevSession } from './dev-session.js';
import { createLogger } from './log.js';
import { serveTerminal } from './terminal-endpoint.js';
import { listenWebSocket, transports } from './transport.js';
import { serveBrowserTerminal } from './browser-terminal.js';
import { loadOrCreateIdentity } from './tls.js';

const USAGE = `usage: waydesk-server --dev [options] [-- COMMAND [ARGS...]]

  --dev                 one desktop (COMMAND, default foot), one terminal at a time, no login
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

async function main(): Promise<void> {
  const log = createLogger('waydesk-server');
  const argv = process.argv.slice(2);
  let dev = false;
  let listen = '127.0.0.1';
  let port = 8443;
  let size = { width: 1920, height: 1080 };
  let state = process.getuid?.() === 0 ? '/var/lib/waydesk' : path.join(os.homedir(), '.local/state/waydesk');
  let command = ['foot'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string => argv[++i] ?? fail(`${a} needs a value`);
    if (a === '--dev') dev = true;
    else if (a === '--listen') listen = v();
    else if (a === '--port') {
      port = Number(v());
      if (!Number.isInteger(port) || port < 0 || port > 65535) fail('--port wants 0..65535');
    } else if (a === '--state') state = v();
    else if (a === '--size') {
      const m = /^(\d+)x(\d+)$/.exec(v());
      if (!m) fail('--size wants WIDTHxHEIGHT');
      size = { width: Number(m[1]), height: Number(m[2]) };
    } else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      return;
    } else if (a === '--') {
      command = argv.slice(i + 1);
      break;
    } else fail(`unknown option '${a}'`);
  }
  if (!dev) fail('only --dev exists so far: users, smartcards and many sessions come with the session-manager release');

  const identity = loadOrCreateIdentity(state);
  const session = new DevSession({ command, display: { ...size, refreshMhz: 60000 }, log });
  await session.start();

  const app = Fastify({ https: { key: identity.key, cert: identity.cert }, logger: false });
  app.get('/healthz', async () => ({ ok: true, desktop: session.compositorPid !== undefined }));
  serveBrowserTerminal(app);
  const endpoint = listenWebSocket(app.server, '/terminal', (ch) => serveTerminal(ch, session, log));
  for (const t of await transports()) log.info(t, t.available ? `transport ${t.name}: on` : `transport ${t.name}: off`);
  await app.listen({ host: listen, port });
  const addr = app.server.address();
  const actualPort = typeof addr === 'object' && addr ? addr.port : port;
  const url = `wss://${listen.includes(':') ? `[${listen}]` : listen}:${actualPort}/terminal`;
  log.info({ url, fingerprint: identity.fingerprint }, 'listening');
  const sock = session.socket;
  process.stderr.write(
    [
      '',
      `waydesk-server (dev) is serving one desktop on ${url}`,
      `  browser terminal: https://${listen.includes(':') ? `[${listen}]` : listen}:${actualPort}/  (self-signed: check the fingerprint, then accept it)`,
      `  certificate fingerprint: ${identity.fingerprint}`,
      `  headless terminal: npx waydesk-terminal --server ${url} --fingerprint ${identity.fingerprint} --png /tmp/terminal.png`,
      sock ? `  apps on the desktop: XDG_RUNTIME_DIR=${sock.runtimeDir} WAYLAND_DISPLAY=${sock.name} weston-terminal &` : '',
      '',
    ].join('\n') + '\n',
  );
  // Tests and supervisors read this line to find the port.
  if (process.env.WAYDESK_READY_FD) fs.writeSync(Number(process.env.WAYDESK_READY_FD), JSON.stringify({ url, fingerprint: identity.fingerprint }) + '\n');

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    endpoint.close();
    await app.close();
    await session.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((err: Error) => {
  process.stderr.write(`waydesk-server: ${err.message}\n`);
  process.exit(1);
});
