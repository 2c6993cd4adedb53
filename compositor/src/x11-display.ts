import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from './log.js';

/** Debian's xwayland package. */
const XWAYLAND = process.env.WAYDESK_XWAYLAND ?? '/usr/bin/Xwayland';
/** Where X11 clients look for the display's socket (the abstract socket has the same name). */
const X11_SOCKET_DIR = '/tmp/.X11-unix';
const WRAPPER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/xwayland-auth');
/** FamilyWild: the entry matches the display whatever address the client reaches it by. */
const FAMILY_WILD = 0xffff;
const COOKIE_NAME = 'MIT-MAGIC-COOKIE-1';

/**
 * As root, before the drop: X11 sockets of every user's desktop live in one directory, which must
 * be root's and sticky (as systemd's tmpfiles makes it at boot) so that one user's display cannot
 * be taken or replaced by another. Made if missing; left alone, and said, if it is someone else's.
 */
export function prepareX11SocketDir(log: Logger): void {
  try {
    fs.mkdirSync(X11_SOCKET_DIR, { mode: 0o1777 });
    fs.chmodSync(X11_SOCKET_DIR, 0o1777);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      log.warn({ dir: X11_SOCKET_DIR, err: (err as Error).message }, 'cannot make the X11 socket directory: X11 programs will not start');
      return;
    }
  }
  const st = fs.lstatSync(X11_SOCKET_DIR);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o1777) !== 0o1777) {
    log.warn(
      { dir: X11_SOCKET_DIR, uid: st.uid, mode: (st.mode & 0o7777).toString(8) },
      'the X11 socket directory is not root\'s with mode 1777: another user could take X11 displays (fix: chown root:root and chmod 1777 it)',
    );
  }
}

/** One xauth entry (the format libXau reads): big-endian lengths before each field. */
function xauthEntry(cookie: Buffer): Buffer {
  const field = (b: Buffer): Buffer => {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(b.length);
    return Buffer.concat([len, b]);
  };
  const family = Buffer.alloc(2);
  family.writeUInt16BE(FAMILY_WILD);
  // An empty display number matches any: the display is chosen when Xwayland starts.
  return Buffer.concat([family, field(Buffer.alloc(0)), field(Buffer.alloc(0)), field(Buffer.from(COOKIE_NAME)), field(cookie)]);
}

export interface X11Setup {
  /** The cookie file for the session's X11 programs (XAUTHORITY), or null: no X11 display. */
  xauthority: string | null;
}

/**
 * As the user: offers X11 programs a display if Xwayland is installed. The server is started by
 * wlroots on the first X11 client, through the wrapper that gives it this session's cookie file
 * (in the 0700 runtime directory, so only the user's own programs can read it).
 */
export function prepareXwayland(runtimeDir: string, log: Logger): X11Setup {
  try {
    fs.accessSync(XWAYLAND, fs.constants.X_OK);
    fs.accessSync(WRAPPER, fs.constants.X_OK);
  } catch {
    log.warn({ xwayland: XWAYLAND }, 'Xwayland is not installed: X11-only programs will not start (apt install xwayland)');
    return { xauthority: null };
  }
  const file = path.join(runtimeDir, 'xauthority');
  fs.writeFileSync(file, xauthEntry(randomBytes(16)), { mode: 0o600, flag: 'w' });
  fs.chmodSync(file, 0o600);
  process.env.WLR_XWAYLAND = WRAPPER;
  process.env.WAYDESK_XWAYLAND = XWAYLAND;
  process.env.WAYDESK_XAUTHORITY = file;
  return { xauthority: file };
}
