// waydesk-server: the session-manager. Users log in (PAM) and get their own desktops; or, with
// --dev, one desktop opened with a per-run token.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp } from './app.js';
import { Router } from './router.js';
import { SupervisedDesktop } from './supervisor.js';
import { createLogger } from './log.js';
import { serveTerminal, WaitingRoom, type Authenticator } from './terminal-endpoint.js';
import { PamLogin } from './pam-login.js';
import { Sessions } from './sessions.js';
import { Cards } from './cards.js';
import { CardLogin } from './card-login.js';
import { FailureThrottle } from './throttle.js';
import { SessionCgroups } from './session-cgroup.js';
import { LevelStore } from './store.js';
import { ConfigError, DEFAULTS, DEFAULT_CONFIG_FILE, loadConfig } from './config.js';
import { listenWebSocket, transports } from './transport.js';
import { loadOrCreateIdentity, type ServerIdentity } from './tls.js';
import { createRunToken, tokenMatches } from './run-token.js';
import { chooseDesktopUser, DesktopUserError } from './desktop-user.js';
import { MAX_OUTPUT, MIN_OUTPUT } from '@waydesk/protocol/limits';
import { FontError } from '@waydesk/protocol/bitmap-font';
import { ADMIN_SOCKET, listenAdmin } from './admin.js';
import { ADMIN_COMMANDS, runAdminCommand } from './admin-cli.js';
import { runPxeConfig, servedImageVersion } from './pxe-config.js';
import { greeterLayout } from './greeter-picture.js';


const USAGE = `usage: waydesk-server [--dev] [options] [-- COMMAND [ARGS...]]

  (no --dev)            users log in with their password (PAM service 'waydesk'); each gets
                        their own desktop running COMMAND (default foot) as them; needs root
  --dev                 one desktop, one terminal at a time; the printed address carries this
                        run's secret token
  --user NAME           --dev: whose desktop it is (started by root; default: SUDO_USER, else
                        the unprivileged 'waydesk' account, made if no other user exists)
  --config FILE         the configuration (default ${DEFAULT_CONFIG_FILE}, if it exists);
                        the options below override it
  --check-config        check the configuration, print what is in effect, and exit
  --listen ADDR         address to listen on (default 127.0.0.1)
  --port N              TLS port for terminals and browsers (default 8443; 0 picks a free one)
  --state DIR           where the server keeps its TLS identity, store and link sockets
                        (default /var/lib/waydesk as root, else ~/.local/state/waydesk)
  --size WxH            desktop size until a terminal says its own (default 1920x1080)

       waydesk-server sessions|terminals|audit [--json] [--limit N] [--state DIR]
       waydesk-server end-session USER [--state DIR]
                        ask the running login server (as root): what runs, the terminals it
                        has seen, the audit trail; end USER's session (their terminal is told)
       waydesk-server cards [--json] | bind-card CARD USER | block-card CARD |
                      unblock-card CARD | forget-card CARD   [--state DIR]
                        the registered smartcards (CARD: uid:HEX or piv:FINGERPRINT, as
                        'cards' and the audit trail name them); bind one to a user, block it
                        (it opens nothing), unblock it, or forget it
       waydesk-server pxe-config --address ADDR/PREFIX [options]
                        write the iPXE script and a proxy-DHCP dnsmasq configuration for
                        netbooting terminals, with this server's address and fingerprint
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
  if (ADMIN_COMMANDS.includes(argv[0] ?? '')) return runAdminCommand(argv, DEFAULTS.state);
  if (argv[0] === 'pxe-config') return runPxeConfig(argv.slice(1), DEFAULTS.state);
  let dev = false;
  let checkOnly = false;
  let configFile: string | undefined;
  const flags: { listen?: string; port?: number; state?: string; size?: string; command?: string[] } = {};
  let userFlag: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string => argv[++i] ?? fail(`${a} needs a value`);
    if (a === '--dev') dev = true;
    else if (a === '--config') configFile = v();
    else if (a === '--check-config') checkOnly = true;
    else if (a === '--listen') flags.listen = v();
    else if (a === '--user') userFlag = v();
    else if (a === '--port') {
      flags.port = Number(v());
      if (!Number.isInteger(flags.port) || flags.port < 0 || flags.port > 65535) fail('--port wants 0..65535');
    } else if (a === '--state') flags.state = v();
    else if (a === '--size') flags.size = v();
    else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      return;
    } else if (a === '--') {
      flags.command = argv.slice(i + 1);
      break;
    } else fail(`unknown option '${a}'`);
  }
  let cfg;
  try {
    cfg = loadConfig(configFile);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`waydesk-server: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // The command line wins over the file, which wins over the defaults.
  const listen = flags.listen ?? cfg.config.listen;
  const port = flags.port ?? cfg.config.port;
  const state = flags.state ?? cfg.config.state;
  const command = flags.command ?? cfg.config.session.command;
  const sizeText = flags.size ?? cfg.config.session.size;
  const m = /^(\d+)x(\d+)$/.exec(sizeText);
  if (!m) fail('--size wants WIDTHxHEIGHT');
  const size = { width: Number(m[1]), height: Number(m[2]) };
  if (size.width < MIN_OUTPUT.width || size.height < MIN_OUTPUT.height || size.width > MAX_OUTPUT.width || size.height > MAX_OUTPUT.height) {
    fail(`--size wants ${MIN_OUTPUT.width}x${MIN_OUTPUT.height}..${MAX_OUTPUT.width}x${MAX_OUTPUT.height}`);
  }
  if (checkOnly) {
    const effective = { listen, port, state, session: { ...cfg.config.session, command, size: sizeText }, pam: cfg.config.pam };
    process.stdout.write(`configuration from ${cfg.from} is valid; in effect (with the command line):\n${JSON.stringify(effective, null, 2)}\n`);
    return;
  }
  // The identity first: a key that others can read stops the start before any account is made.
  const identity = loadOrCreateIdentity(state);
  const display = { ...size, refreshMhz: 60000 };
  if (!dev) {
    // the greeter's font, checked before anyone connects: a missing one is an install problem
    try {
      greeterLayout(display.width, display.height);
    } catch (err) {
      if (err instanceof FontError) fail(err.message);
      throw err;
    }
    fs.mkdirSync(state, { recursive: true, mode: 0o700 });
    const linkDir = path.join(state, 'links');
    fs.mkdirSync(linkDir, { recursive: true, mode: 0o700 });
    const store = await LevelStore.open(path.join(state, 'db'));
    // the audit trail in the store: what an admin reads back after the fact
    const audit = (event: string, fields: Record<string, unknown>): void =>
      void store.audit(event, fields).catch((err: Error) => log.error({ err: err.message }, 'could not write the audit trail'));
    const router = new Router(log, audit);
    // wrong passwords, refused cards and wrong PINs count together, by terminal and address
    const throttle = new FailureThrottle();
    const pam = new PamLogin({ service: cfg.config.pam.service, log, audit, throttle });
    const timeout = cfg.config.session.detachedTimeoutSeconds;
    const cgroups = new SessionCgroups({ memoryBytes: cfg.config.session.memoryMaxMiB * 1024 * 1024, tasks: cfg.config.session.tasksMax }, log);
    const sessions = new Sessions({ pam, router, log, command, display, store, linkDir, cgroups, perUser: cfg.config.session.perUser, detachedTimeoutMs: timeout === null ? null : timeout * 1000 });
    const cards = new Cards(cfg.config.cards, store, log, audit);
    const cardLogin = new CardLogin(cards, sessions, log, audit, throttle);
    const adopted = await sessions.adopt();
    if (adopted) log.info({ adopted }, 'adopted the sessions the last run left running');
    const banner = (hostPort: string, url: string): string[] => [
      `waydesk-server is serving logins on ${hostPort}: every user logs in with their own password and gets their own desktop`,
      `  certificate fingerprint: ${identity.fingerprint}`,
      `  headless terminal: WAYDESK_PASSWORD=… npx waydesk-terminal --server ${url} --fingerprint ${identity.fingerprint} --user NAME --png /tmp/terminal.png`,
      `  browser terminal: https://${hostPort}/  (log in with your user name and password; self-signed: check the fingerprint)`,
    ];
    // the admin API, for `waydesk-server sessions` and friends: root's alone, on a Unix socket
    const adminApp = await listenAdmin(
      {
        sessions: () => sessions.list(),
        terminals: () => store.terminals(),
        audit: (limit) => store.auditTrail(limit),
        end: (user) => sessions.endByAdmin(user),
        cards: () => store.cards(),
        bindCard: (token, user) => cards.bind(token, user),
        blockCard: (token, blocked) => cards.setBlocked(token, blocked),
        forgetCard: (token) => cards.forget(token),
      },
      path.join(state, ADMIN_SOCKET),
    );
    return serve({
      log, identity, listen, port, router, banner, ready: {}, owner: 'each user who logs in', servedImage: () => servedImageVersion(state),
      exposure: 'Anyone who can reach it may try to log in as any user of this machine (failures are throttled and logged)',
      auth: { login: (b, from) => sessions.login(b, from), card: cardLogin },
      healthy: () => sessions.healthy,
      stopSessions: async () => {
        await adminApp.close();
        await sessions.release();
      },
    });
  }
  let who;
  try {
    who = chooseDesktopUser(userFlag);
  } catch (err) {
    if (err instanceof DesktopUserError) fail(err.message);
    throw err;
  }
  const token = createRunToken();
  const owner = who.user ?? os.userInfo().username;
  const router = new Router(log);
  // Single-user mode is one configuration of the same parts: one session, the chosen user's,
  // opened by this run's token.
  const key = `user:${owner}`;
  const desktop = new SupervisedDesktop({ user: who.user, command, display }, log);
  router.add(key, desktop);
  await desktop.start();
  const note = who.note;
  const ownUser = who.user === null;
  const banner = (hostPort: string, url: string): string[] => {
    const hello = desktop.link?.hello;
    return [
      `waydesk-server (dev) is serving one desktop on ${hostPort}; ${note}`,
      `  browser terminal: https://${hostPort}/#token=${token}`,
      `    (self-signed: check the certificate fingerprint, then accept it)`,
      `  certificate fingerprint: ${identity.fingerprint}`,
      `  headless terminal: WAYDESK_TOKEN=${token} npx waydesk-terminal --server ${url} --fingerprint ${identity.fingerprint} --png /tmp/terminal.png`,
      `  the token is this run's secret: whoever has it gets this desktop`,
      hello && ownUser ? `  apps on the desktop: XDG_RUNTIME_DIR=${hello.runtimeDir} WAYLAND_DISPLAY=${hello.socket} weston-terminal &` : '',
    ];
  };
  return serve({
    log, identity, listen, port, router, banner, ready: { token }, owner,
    exposure: `Anyone who has the address with its token gets the desktop of ${owner} and types as that user`,
    auth: { token: (a) => (tokenMatches(token, a.token) ? key : null) },
    healthy: () => desktop.healthy,
    stopSessions: () => desktop.stop(),
  });
}

interface ServeOptions {
  log: ReturnType<typeof createLogger>;
  identity: ServerIdentity;
  listen: string;
  port: number;
  router: Router;
  auth: Authenticator;
  healthy: () => boolean;
  stopSessions: () => Promise<void>;
  banner: (hostPort: string, url: string) => string[];
  /** More for the line on WAYDESK_READY_FD (the dev token, for tests and supervisors). */
  ready: Record<string, string>;
  /** Whose desktops are served (for the log). */
  owner: string;
  /** What a listener beyond loopback lets the network do, for its warning. */
  exposure: string;
  /** The netboot image the login server serves (none for the dev server: it has no greeter). */
  servedImage?: () => string | null;
}

/** Both configurations from here on: the HTTP side, the terminal endpoint, the console, the signals. */
async function serve(o: ServeOptions): Promise<void> {
  const { log, identity, listen, port } = o;
  const app = await buildApp({ identity, healthy: o.healthy });
  const waiting = new WaitingRoom();
  const serverName = os.hostname();
  const endpoint = listenWebSocket(app.server, '/terminal', log, (ch) => serveTerminal(ch, { router: o.router, auth: o.auth, log, serverName, waiting, servedImage: o.servedImage }));
  for (const t of await transports()) log.info(t, t.available ? `transport ${t.name}: on` : `transport ${t.name}: off`);
  await app.listen({ host: listen, port });
  const addr = app.server.address();
  const actualPort = typeof addr === 'object' && addr ? addr.port : port;
  const hostPort = `${listen.includes(':') ? `[${listen}]` : listen}:${actualPort}`;
  const url = `wss://${hostPort}/terminal`;
  log.info({ url, fingerprint: identity.fingerprint, user: o.owner }, 'listening');
  process.stderr.write(['', ...o.banner(hostPort, url).filter(Boolean), ''].join('\n') + '\n');
  if (!isLoopback(listen)) {
    process.stderr.write(
      `waydesk-server: WARNING: listening on ${listen}, not loopback: the browser page and the terminal endpoint on port ${actualPort} ` +
        `are reachable from the network. ${o.exposure}; the traffic is encrypted, but the certificate is self-signed (compare the fingerprint).\n\n`,
    );
    log.warn({ listen }, 'listening on a non-loopback address');
  }
  // Tests and supervisors read this line to find the port (and, with --dev, the token).
  if (process.env.WAYDESK_READY_FD) fs.writeSync(Number(process.env.WAYDESK_READY_FD), JSON.stringify({ url, fingerprint: identity.fingerprint, ...o.ready }) + '\n');

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    endpoint.close();
    await app.close();
    await o.stopSessions();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((err: Error) => {
  process.stderr.write(`waydesk-server: ${err.message}\n`);
  process.exit(1);
});
