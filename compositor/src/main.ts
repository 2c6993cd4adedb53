// waydesk-compositor: one user's headless Wayland desktop.
import fs from 'node:fs';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { MAX_OUTPUT, MIN_OUTPUT } from '@waydesk/protocol/compositor-ipc';
import { exitWithParent, peerCredentials, preloadCompositorBinding } from '@waydesk/native-compositor';
import { preloadCodecBinding } from '@waydesk/native-codec';
import { createLogger } from './log.js';
import { CompositorSession } from './session.js';
import { chooseRenderer, dropPrivileges, lookupUser, makeRuntimeDir, type UserEntry } from './user-session.js';
import { runDemo } from './demo.js';
import { prepareX11SocketDir, prepareXwayland } from './x11-display.js';

const USAGE = `usage: waydesk-compositor [options] [-- COMMAND [ARGS...]]

Runs one headless Wayland desktop and serves it on $XDG_RUNTIME_DIR/SOCKET.
COMMAND (default: foot) is the session: when it exits, the desktop closes.
"--" with nothing after it starts no command (apps can still connect).

  --size WxH            output size (default 1920x1080)
  --refresh HZ          output refresh rate (default 60)
  --socket NAME         socket name (default: wayland-N, the first free one)
  --user NAME           run as this user (needs root): fresh XDG_RUNTIME_DIR, then setuid
  --runtime-parent DIR  make that XDG_RUNTIME_DIR in DIR (root's, sticky; its supervisor
                        removes it however the desktop ends) instead of /run/waydesk
  --ipc stdio|PATH      frame link to a parent: over stdin/stdout, or a Unix socket
                        this process listens on at PATH (its parent may re-attach). Only
                        root (started by root) or else the process that started this one
                        may attach (SO_PEERCRED)
  --exit-with-parent PID  end the desktop when PID, the process that started it, ends
  --keymap LAYOUT[:VARIANT]  xkb layout (default us)
  --renderer auto|pixman|gles2  (default auto: gles2 only where a render node exists)
  --demo                types a greeting into the session and prints how to look at it
  -h, --help            this text
`;

interface Args {
  width: number;
  height: number;
  refreshHz: number;
  socket?: string;
  user?: string;
  runtimeParent?: string;
  ipc?: string;
  keymap: { layout: string; variant?: string };
  renderer: 'auto' | 'pixman' | 'gles2';
  demo: boolean;
  /** The starter's pid, when the desktop must end with it. */
  exitWithParent?: number;
  command: string[];
}

class UsageError extends Error {}

function parseArgs(argv: string[]): Args {
  const a: Args = { width: 1920, height: 1080, refreshHz: 60, keymap: { layout: 'us' }, renderer: 'auto', demo: false, command: ['foot'] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--size': {
        const m = /^(\d+)x(\d+)$/.exec(value());
        const w = Number(m?.[1]);
        const h = Number(m?.[2]);
        if (!m || w < MIN_OUTPUT.width || h < MIN_OUTPUT.height || w > MAX_OUTPUT.width || h > MAX_OUTPUT.height) {
          throw new UsageError(`--size wants WIDTHxHEIGHT between ${MIN_OUTPUT.width}x${MIN_OUTPUT.height} and ${MAX_OUTPUT.width}x${MAX_OUTPUT.height}`);
        }
        a.width = w;
        a.height = h;
        break;
      }
      case '--refresh': {
        const hz = Number(value());
        if (!(hz >= 1 && hz <= 240)) throw new UsageError('--refresh wants a rate between 1 and 240 Hz');
        a.refreshHz = hz;
        break;
      }
      case '--socket': {
        const s = value();
        if (!/^[A-Za-z0-9._-]{1,60}$/.test(s)) throw new UsageError('--socket wants a plain name (letters, digits, . _ -)');
        a.socket = s;
        break;
      }
      case '--user':
        a.user = value();
        break;
      case '--runtime-parent':
        a.runtimeParent = value();
        break;
      case '--ipc':
        a.ipc = value();
        break;
      case '--keymap': {
        const [layout, variant] = value().split(':');
        if (!layout) throw new UsageError('--keymap wants LAYOUT or LAYOUT:VARIANT');
        a.keymap = variant ? { layout, variant } : { layout };
        break;
      }
      case '--renderer': {
        const r = value();
        if (r !== 'auto' && r !== 'pixman' && r !== 'gles2') throw new UsageError('--renderer wants auto, pixman or gles2');
        a.renderer = r;
        break;
      }
      case '--demo':
        a.demo = true;
        break;
      case '--exit-with-parent': {
        const pid = Number(value());
        if (!Number.isInteger(pid) || pid < 2) throw new UsageError('--exit-with-parent wants the pid of the process that starts the desktop');
        a.exitWithParent = pid;
        break;
      }
      case '-h':
      case '--help':
        process.stdout.write(USAGE);
        process.exit(0);
      // falls through (exit does not return)
      case '--':
        a.command = argv.slice(i + 1);
        return a;
      default:
        throw new UsageError(`unknown option '${arg}'`);
    }
  }
  return a;
}

async function main(): Promise<void> {
  const log = createLogger('waydesk-compositor');
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`waydesk-compositor: ${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    throw err;
  }

  let user: UserEntry | null = null;
  if (args.user) user = lookupUser(args.user);
  if (process.getuid?.() === 0 && (!user || user.uid === 0)) {
    process.stderr.write('waydesk-compositor: started by root, it needs --user NAME (an ordinary user): the desktop never runs as root\n');
    process.exit(2);
  }
  // Whoever started us is the only parent we take: root for the session-manager, else this uid.
  const parentUid = process.getuid?.() ?? -1;
  const parentPid = process.ppid;
  const runtimeDir = makeRuntimeDir(user, args.runtimeParent);
  const ownRuntimeDir = runtimeDir !== process.env.XDG_RUNTIME_DIR;
  // Load native code while we may still read it, then give up root for good.
  preloadCompositorBinding();
  preloadCodecBinding();
  let ipcServer: net.Server | null = null;
  if (args.ipc && args.ipc !== 'stdio') {
    // Listen before dropping root: the socket stays root's, in the parent's private directory,
    // and the listening descriptor keeps working after the drop.
    ipcServer = await listenIpc(args.ipc);
  }
  if (process.getuid?.() === 0) prepareX11SocketDir(log);
  if (user) dropPrivileges(user);
  // After the drop: changing credentials clears the kernel's parent-death signal.
  if (args.exitWithParent !== undefined && (parentPid !== args.exitWithParent || !exitWithParent(parentPid))) {
    log.error({ parentPid: args.exitWithParent }, 'the process that started this desktop is gone; not starting');
    process.exit(1);
  }

  const x11 = prepareXwayland(runtimeDir, log);
  const renderer = chooseRenderer(args.renderer);
  const session = new CompositorSession({
    width: args.width,
    height: args.height,
    refreshHz: args.refreshHz,
    socket: args.socket,
    pixman: renderer.pixman,
    keymap: args.keymap,
    command: args.command,
    runtimeDir,
    xauthority: x11.xauthority,
    user,
    pauseWhenDetached: args.ipc !== undefined,
    log,
  });
  log.info(
    { socket: session.socketPath, x11Display: session.core.xwaylandDisplay, renderer: session.core.renderer, why: renderer.reason, uid: process.getuid?.(), size: `${args.width}x${args.height}` },
    'serving Wayland',
  );

  let closing = false;
  const shutdown = async (code: number): Promise<void> => {
    if (closing) return;
    closing = true;
    ipcServer?.close();
    await session.close();
    if (ownRuntimeDir) {
      try {
        fs.rmSync(runtimeDir, { recursive: true, force: true });
      } catch (err) {
        log.warn({ runtimeDir, err: (err as Error).message }, 'could not remove the runtime directory');
      }
    }
    if (args.ipc && args.ipc !== 'stdio') {
      try {
        fs.rmSync(args.ipc, { force: true });
      } catch {
        // root's socket in root's directory: the parent removes it
      }
    }
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  session.on('command-exit', (code: number | null) => void shutdown(code ?? 1));

  if (args.ipc === 'stdio') {
    session.attach(Duplex.from({ readable: process.stdin, writable: process.stdout }));
    // The parent closing our stdin means it is gone for good: end the session with it.
    process.stdin.on('end', () => void shutdown(0));
  } else if (ipcServer) {
    // Only the session-manager may drive this desktop: not one of the user's own apps, nor anyone else.
    ipcServer.on('connection', (sock) => {
      let peer;
      try {
        peer = peerCredentials(sock);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'refused a link connection: cannot tell who it is');
        sock.destroy();
        return;
      }
      // Root's desktop link lies in root's 0700 directory: a root peer is the session-manager, also
      // one restarted since (it adopts the desktops it left running). Otherwise only the very
      // process that started us, since the user's own apps share our uid.
      if (peer.uid !== parentUid || (parentUid !== 0 && peer.pid !== parentPid)) {
        // One of the user's own apps (or anyone else) may not take the stream or type into it.
        log.warn({ peerPid: peer.pid, peerUid: peer.uid, parentUid }, 'refused a link connection from a process that did not start this desktop');
        sock.destroy();
        return;
      }
      session.attach(sock);
    });
  }

  session.spawnCommand();
  if (args.demo) runDemo(session, runtimeDir, log);
}

function listenIpc(path: string): Promise<net.Server> {
  fs.rmSync(path, { force: true });
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err) => reject(new Error(`cannot listen on ${path}: ${err.message}`)));
    server.listen(path, () => {
      fs.chmodSync(path, 0o600);
      resolve(server);
    });
  });
}

main().catch((err: Error) => {
  process.stderr.write(`waydesk-compositor: ${err.message}\n`);
  process.exit(1);
});
