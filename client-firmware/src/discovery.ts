// Where a netbooted terminal finds its server, in this order: the kernel command line
// (`waydesk.server=HOST:PORT waydesk.fingerprint=SHA256`, written by the boot configuration the
// admin made), then DHCP option 224 with the same two words (pxe/udhcpc.script writes what the
// site's DHCP server sent to /run/waydesk/dhcp-server), then a config file in the image
// (/etc/waydesk/terminal.json). The fingerprint comes with the address, from the same place,
// and is pinned: a terminal never trusts a server it was not told about.
import fs from 'node:fs';

export interface ServerFound {
  url: string;
  fingerprint: string;
  /** Where it came from, for the terminal's status screen and the log. */
  from: string;
}

const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/;
const FINGERPRINT = /^(?:[0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$/;

export class DiscoveryError extends Error {
  override name = 'DiscoveryError';
}

function server(hostPort: string, fingerprint: string, from: string): ServerFound {
  const m = HOST_PORT.exec(hostPort);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new DiscoveryError(`${from}: waydesk.server must be HOST:PORT, not '${hostPort.slice(0, 80)}'`);
  if (!FINGERPRINT.test(fingerprint)) throw new DiscoveryError(`${from}: waydesk.fingerprint must be the server certificate's SHA-256 (64 hex digits, colons allowed)`);
  return { url: `wss://${m[1]}:${m[2]}/terminal`, fingerprint, from };
}

/** The `waydesk.*` parameters of a kernel command line (or of DHCP option 224). */
export function fromCmdline(cmdline: string, from = 'the kernel command line'): ServerFound | null {
  const params = new Map<string, string>();
  for (const word of cmdline.trim().split(/\s+/)) {
    const eq = word.indexOf('=');
    if (eq > 0 && word.startsWith('waydesk.')) params.set(word.slice(0, eq), word.slice(eq + 1));
  }
  const s = params.get('waydesk.server');
  if (s === undefined) return null;
  return server(s, params.get('waydesk.fingerprint') ?? '', from);
}

export function fromFile(file: string): ServerFound | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  let o: { server?: unknown; fingerprint?: unknown };
  try {
    o = JSON.parse(text) as typeof o;
  } catch {
    throw new DiscoveryError(`${file} is not valid JSON`);
  }
  return server(String(o.server ?? ''), String(o.fingerprint ?? ''), file);
}

function read(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    // not Linux, no /proc, no lease with the option: the next place is what there is
    return '';
  }
}

/** The first place that names a server, in order; null: none does. */
export function discover(o: { cmdline?: string; dhcpFile?: string; configFile?: string } = {}): ServerFound | null {
  return (
    fromCmdline(read(o.cmdline ?? '/proc/cmdline')) ??
    fromCmdline(read(o.dhcpFile ?? '/run/waydesk/dhcp-server'), 'DHCP option 224') ??
    fromFile(o.configFile ?? '/etc/waydesk/terminal.json')
  );
}
