// `waydesk-server pxe-config --address ADDR/PREFIX …`: what an admin needs to netboot terminals on a
// real network, written with this server's address and certificate fingerprint filled in: the
// iPXE script that boots the terminal image, a dnsmasq configuration that answers PXE beside the
// network's own DHCP server (proxy-DHCP: it hands out no addresses) and serves the files over
// TFTP, and those files (the image, iPXE's own loaders). It starts nothing.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from './config.js';
import { loadOrCreateIdentity } from './tls.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Debian's ipxe package: iPXE for a card's BIOS PXE ROM to chainload, and for UEFI. */
const IPXE_LOADERS: Record<string, string> = { 'undionly.kpxe': '/usr/lib/ipxe/undionly.kpxe', 'ipxe.efi': '/usr/lib/ipxe/ipxe.efi' };

/** Where pxe-config writes by default, and where the server looks for the image it serves. */
export function pxeDir(state: string): string {
  return path.join(state, 'pxe');
}

/**
 * The version of the image the server serves terminals (pxe-config's copy in STATE/pxe), or
 * null when it serves none: terminals that run another are told to boot this one.
 */
export function servedImageVersion(state: string): string | null {
  try {
    return fs.readFileSync(path.join(pxeDir(state), 'image-version'), 'utf8').trim() || null;
  } catch {
    return null;
  }
}

const USAGE = `usage: waydesk-server pxe-config --address ADDR/PREFIX [--port N] [--out DIR] [--image DIR]
                                  [--interface IFACE] [--http URL] [--serial-console] [--state DIR]

  --address ADDR/PREFIX  the server's IPv4 address on the terminals' network, with its prefix
                         (e.g. 192.168.10.5/24): terminals reach the server there
  --port N               the server's TLS port (default: the configuration's, 8443)
  --out DIR              where to write (default STATE/pxe); point dnsmasq's tftp-root there
  --image DIR            the image, from npm run pxe:build (default pxe/out)
  --interface IFACE      the interface dnsmasq answers on (default: every one)
  --http URL             fetch the kernel and initramfs from URL (HTTP) instead of TFTP
  --serial-console       the terminals' console on their serial port (tests, headless boxes)
`;

function fail(message: string): never {
  process.stderr.write(`waydesk-server pxe-config: ${message}\n\n${USAGE}`);
  process.exit(2);
}

/** The network an IPv4 address with its prefix is in, as dnsmasq's dhcp-range wants it. */
export function networkOf(cidr: string): { address: string; network: string; prefix: number } {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) throw new Error(`--address wants ADDR/PREFIX, an IPv4 address with its prefix (192.168.10.5/24), not '${cidr}'`);
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix < 8 || prefix > 30) throw new Error(`--address: ${cidr} is not an address with a prefix of 8..30`);
  const n = octets.reduce((a, o) => a * 256 + o, 0);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const net = (n & mask) >>> 0;
  return { address: octets.join('.'), network: [24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.'), prefix };
}

export interface PxeFiles {
  bootIpxe: string;
  dnsmasqConf: string;
}

/** The two files, as text: the iPXE script and dnsmasq's configuration. */
export function pxeFiles(o: { address: string; network: string; port: number; fingerprint: string; version: string; out: string; interface?: string; http?: string; serialConsole?: boolean }): PxeFiles {
  const base = o.http ? o.http.replace(/\/$/, '') : `tftp://${o.address}`;
  // the last console= is the one the terminal's status lines go to: its screen, unless told otherwise
  const consoles = o.serialConsole ? 'console=tty0 console=ttyS0' : 'console=ttyS0 console=tty0';
  const bootIpxe = `#!ipxe
# waydesk terminal image ${o.version}, for the server at ${o.address}:${o.port}
# (written by waydesk-server pxe-config: the fingerprint is the server's certificate, pinned by the terminal)
kernel ${base}/vmlinuz ${consoles} quiet waydesk.server=${o.address}:${o.port} waydesk.fingerprint=${o.fingerprint}
initrd ${base}/initrd.zst
boot
`;
  const dnsmasqConf = `# waydesk netboot: proxy-DHCP beside the network's own DHCP server (it hands out no
# addresses, only where to boot from) and TFTP for the terminal image.
# Written by waydesk-server pxe-config for the server at ${o.address}:${o.port}.
# Check it: dnsmasq --test -C ${path.join(o.out, 'dnsmasq.conf')}
# Run it:   dnsmasq --no-daemon -C ${path.join(o.out, 'dnsmasq.conf')}
# no DNS
port=0
log-dhcp
${o.interface ? `interface=${o.interface}\nbind-interfaces\n` : ''}dhcp-range=${o.network},proxy
# a card's own PXE ROM gets iPXE first; iPXE (it says so in option 175) gets the script
dhcp-match=set:ipxe,175
pxe-service=tag:!ipxe,x86PC,"waydesk terminal",undionly.kpxe
pxe-service=tag:!ipxe,X86-64_EFI,"waydesk terminal",ipxe.efi
dhcp-boot=tag:ipxe,boot.ipxe
enable-tftp
tftp-root=${o.out}
`;
  return { bootIpxe, dnsmasqConf };
}

export async function runPxeConfig(argv: string[], defaultState: string): Promise<void> {
  const o: Record<string, string> = {};
  let serialConsole = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--serial-console') serialConsole = true;
    else if (['--address', '--port', '--out', '--image', '--interface', '--http', '--state', '--config'].includes(a)) o[a.slice(2)] = argv[++i] ?? fail(`${a} needs a value`);
    else fail(`unknown option '${a}'`);
  }
  if (!o.address) fail('--address is required: the address terminals reach the server at, with its prefix');
  let config;
  try {
    config = loadConfig(o.config).config;
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const state = o.state ?? config.state ?? defaultState;
  let net;
  try {
    net = networkOf(o.address);
  } catch (err) {
    fail((err as Error).message);
  }
  const port = o.port ? Number(o.port) : config.port;
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail('--port wants 1..65535');
  if (o.http && !/^http:\/\/[^\s/]+(\/\S*)?$/.test(o.http)) fail('--http wants an http:// URL (iPXE has no HTTPS here)');
  if (o.interface && !/^[A-Za-z0-9_.:-]{1,15}$/.test(o.interface)) fail('--interface wants an interface name');
  const image = path.resolve(o.image ?? path.join(REPO, 'pxe/out'));
  for (const f of ['vmlinuz', 'initrd.zst', 'image-version']) {
    if (!fs.existsSync(path.join(image, f))) fail(`${image} has no ${f}: build the image first (npm run pxe:build)`);
  }
  const out = path.resolve(o.out ?? pxeDir(state));
  // both files are line-based: a newline in a path would add a directive of its own
  if (/[\x00-\x1f\x7f\s"]/.test(out)) fail(`the output directory's path may not hold spaces, quotes or control characters: ${JSON.stringify(out)}`);
  const identity = loadOrCreateIdentity(state);
  const version = fs.readFileSync(path.join(image, 'image-version'), 'utf8').trim();
  if (!/^[A-Za-z0-9.+_-]{1,80}$/.test(version)) fail(`${path.join(image, 'image-version')} does not hold an image version: build the image again`);
  const files = pxeFiles({ ...net, port, fingerprint: identity.fingerprint, version, out, interface: o.interface, http: o.http, serialConsole });
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'boot.ipxe'), files.bootIpxe);
  fs.writeFileSync(path.join(out, 'dnsmasq.conf'), files.dnsmasqConf);
  for (const f of ['vmlinuz', 'initrd.zst', 'image-version']) fs.copyFileSync(path.join(image, f), path.join(out, f));
  const missing: string[] = [];
  for (const [name, from] of Object.entries(IPXE_LOADERS)) {
    if (fs.existsSync(from)) fs.copyFileSync(from, path.join(out, name));
    else missing.push(`${name} (${from})`);
  }
  process.stdout.write(
    [
      `wrote ${out}: boot.ipxe, dnsmasq.conf, the image ${version} (vmlinuz, initrd.zst)${missing.length ? '' : ', undionly.kpxe and ipxe.efi'}`,
      `  terminals will reach the server at ${net.address}:${port}, fingerprint ${identity.fingerprint}`,
      `  check: dnsmasq --test -C ${path.join(out, 'dnsmasq.conf')}`,
      `  run:   dnsmasq --no-daemon -C ${path.join(out, 'dnsmasq.conf')}   (as root, on the terminals' network)`,
      `  terminals booted another way find the server in DHCP option 224 (text), from the site's DHCP server:`,
      `         "waydesk.server=${net.address}:${port} waydesk.fingerprint=${identity.fingerprint}"`,
      ...(missing.length ? [`  missing iPXE loaders: ${missing.join(', ')}: install Debian's ipxe package`] : []),
      '',
    ].join('\n'),
  );
}
