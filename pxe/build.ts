// The netboot terminal's image (npm run pxe:build [-- --out DIR], pxe/cli.ts), made from this machine's own
// Debian packages (no debootstrap): Debian's kernel, busybox (static), Node and the libraries it
// links, the kernel modules a terminal needs (resolved with modprobe --show-depends), and the
// terminal program bundled into one file. Reproducible: the same inputs give the same bytes (a
// cpio written here with sorted names, no timestamps, root's ids; zstd at a fixed level and
// thread count). It prints what each part weighs and fails past its size budget.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
/** What a terminal fetches at boot (kernel + initramfs), compressed: it has to cross the LAN and unpack fast. */
export const IMAGE_BUDGET_BYTES = 40 * 1024 * 1024;
/** zstd unpacks fastest under emulation; -19 keeps its window at 8 MB, which the kernel's unpacker takes. */
const ZSTD = ['-19', '-T2'];
/**
 * Modules the terminal loads at boot, with what they need: networks (virtio, Intel e1000 for
 * QEMU's default and many thin clients), GPUs (QEMU's bochs and virtio-gpu), input, and the USB
 * host controllers that keyboards, mice and card readers hang off.
 */
export const MODULES = ['virtio_pci', 'virtio_net', 'e1000', 'e1000e', 'r8169', 'bochs', 'virtio-gpu', 'evdev', 'psmouse', 'virtio_input', 'usbhid', 'hid_generic', 'xhci_pci', 'ehci_pci', 'uhci_hcd', 'ohci_pci'];

interface Entry {
  /** A file to copy, or the bytes themselves. */
  from?: string;
  data?: Buffer;
  mode: number;
}

function say(s: string): void {
  process.stderr.write(`pxe: ${s}\n`);
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A binary that loads no shared library (ldd says so, and fails). */
function isStatic(bin: string): boolean {
  try {
    return /not a dynamic executable|statically linked/.test(run('ldd', [bin]));
  } catch (err) {
    return /not a dynamic executable/.test(String((err as { stdout?: string }).stdout ?? '') + String((err as { stderr?: string }).stderr ?? ''));
  }
}

/** The kernel to boot: the newest of /boot's, with its modules. */
function kernel(): { version: string; vmlinuz: string } {
  const versions = fs
    .readdirSync('/boot')
    .filter((f) => f.startsWith('vmlinuz-'))
    .map((f) => f.slice('vmlinuz-'.length))
    .filter((v) => fs.existsSync(`/lib/modules/${v}`))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const version = versions.at(-1);
  if (!version) throw new Error('no kernel in /boot with its modules in /lib/modules: install linux-image-amd64');
  return { version, vmlinuz: `/boot/vmlinuz-${version}` };
}

/** A binary and every shared library it loads, by the paths the loader looks for them. */
function withLibraries(bin: string, into: Map<string, Entry>): void {
  into.set(bin, { from: bin, mode: 0o755 });
  for (const line of run('ldd', [bin]).split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m) into.set(m[1]!, { from: fs.realpathSync(m[1]!), mode: 0o755 });
  }
}

/** A binary without its symbol table and debug sections (deterministic: same input, same bytes). */
function stripped(bin: string): Buffer {
  const out = path.join(os.tmpdir(), `waydesk-strip-${process.pid}`);
  try {
    execFileSync('strip', ['--strip-unneeded', '-o', out, bin], { stdio: ['ignore', 'ignore', 'pipe'] });
    return fs.readFileSync(out);
  } finally {
    fs.rmSync(out, { force: true });
  }
}

/** The .ko files of these modules and of what they depend on; the ones built in need none. */
function modules(version: string, names: string[], into: Map<string, Entry>): string[] {
  const loaded: string[] = [];
  for (const name of names) {
    let out: string;
    try {
      out = run('modprobe', ['-S', version, '--show-depends', name]);
    } catch (err) {
      throw new Error(`module ${name} is not in /lib/modules/${version}: ${(err as Error).message.split('\n')[0]}`);
    }
    for (const line of out.split('\n')) {
      const m = /^insmod (\S+)/.exec(line);
      if (!m) continue;
      into.set(m[1]!, { from: m[1]!, mode: 0o644 });
      const mod = path.basename(m[1]!).replace(/\.ko(\.\w+)?$/, '');
      if (!loaded.includes(mod)) loaded.push(mod);
    }
  }
  for (const f of ['modules.order', 'modules.builtin', 'modules.builtin.modinfo']) {
    const p = `/lib/modules/${version}/${f}`;
    if (fs.existsSync(p)) into.set(p, { from: p, mode: 0o644 });
  }
  return loaded;
}

/** The terminal program as one file (esbuild), so the image needs no node_modules. */
function bundle(): Buffer {
  const out = path.join(os.tmpdir(), `waydesk-netboot-${process.pid}.mjs`);
  try {
    execFileSync(
      path.join(ROOT, 'node_modules/.bin/esbuild'),
      [path.join(ROOT, 'client-firmware/dist/netboot.js'), '--bundle', '--platform=node', '--format=esm', '--target=node20', '--legal-comments=none', `--outfile=${out}`, '--log-level=warning',
        // ws is CommonJS: its require() of Node's own modules needs a require in the ES module
        "--banner:js=import { createRequire as wdCreateRequire } from 'node:module'; const require = wdCreateRequire(import.meta.url);",
        // ws's optional native helpers: absent, it uses its JavaScript
        '--external:bufferutil', '--external:utf-8-validate', ...EXTERNAL_PACKAGES.map((p) => `--external:${p}`)],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    return fs.readFileSync(out);
  } finally {
    fs.rmSync(out, { force: true });
  }
}

/**
 * The terminal's addons, where its bundled program looks for them (dist/../build/Release, the
 * layout of the packages they come from), with the libraries they link.
 */
const ADDONS = ['native/codec/build/Release/waydesk_codec.node', 'native/drm/build/Release/waydesk_drm.node'];
/**
 * npm packages the bundle leaves out because they load an addon of their own: shipped as they
 * are (their JavaScript, package.json and addon), where the bundle's imports find them.
 */
const EXTERNAL_PACKAGES = ['smartcard'];
/** The seat daemon: the terminal program gets its screen and input from it, not as root. */
const SEATD = '/usr/sbin/seatd';
/** Who the terminal program runs as: in the video group, which seatd's socket is open to. */
const ACCOUNTS = {
  '/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nterminal:x:1000:1000:waydesk terminal:/tmp:/bin/sh\n',
  '/etc/group': 'root:x:0:\nvideo:x:44:terminal\nterminal:x:1000:\n',
};
/** The PC/SC daemon and the CCID driver USB card readers need (Debian's pcscd and libccid). */
const PCSCD = '/usr/sbin/pcscd';
const CCID_BUNDLE = '/usr/lib/pcsc/drivers/ifd-ccid.bundle';
/** The font of the terminal's status screens (protocol/src/bitmap-font.ts reads Debian's consolefonts). */
const FONTS = /^Uni2-Terminus(Bold)?(16|20x10|24x12|28x14|32x16)\.psf\.gz$/;

/** Mount points and the like: directories the image has with nothing in them. */
const EMPTY_DIRS = ['/dev', '/proc', '/sys', '/tmp', '/run', '/root', '/etc/waydesk'];

/**
 * A newc cpio archive (what the kernel unpacks as its initramfs), byte for byte the same for the
 * same entries; with /dev/console, which the kernel opens for init before anything is mounted.
 */
export function cpio(entries: Map<string, Entry>): Buffer {
  const dirs = new Set<string>(EMPTY_DIRS);
  for (const p of entries.keys()) for (let d = path.dirname(p); d !== '/'; d = path.dirname(d)) dirs.add(d);
  const all: Array<[string, Entry | null]> = [...[...dirs].map((d): [string, null] => [d, null]), ...entries.entries()];
  all.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const parts: Buffer[] = [];
  const pad = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);
  let ino = 1;
  const put = (name: string, mode: number, data: Buffer, rdev: [number, number] = [0, 0]): void => {
    const hex = (v: number): string => v.toString(16).padStart(8, '0');
    const nameBytes = Buffer.from(`${name}\0`);
    const header = `070701${[ino++, mode, 0, 0, mode & 0o040000 ? 2 : 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0].map(hex).join('')}`;
    parts.push(Buffer.from(header), nameBytes, pad(110 + nameBytes.length), data, pad(data.length));
  };
  for (const [p, e] of all) {
    const name = p.replace(/^\//, '');
    if (e === null) put(name, p === '/tmp' ? 0o041777 : 0o040755, Buffer.alloc(0));
    else put(name, 0o100000 | e.mode, e.data ?? fs.readFileSync(e.from!));
    // the console, a character device 5:1, right after /dev
    if (p === '/dev') put('dev/console', 0o020600, Buffer.alloc(0), [5, 1]);
  }
  put('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}

export interface Image {
  dir: string;
  vmlinuz: string;
  initrd: string;
  version: string;
  bytes: { kernel: number; initrdRaw: number; initrd: number };
}

export function buildImage(outDir: string): Image {
  const t0 = Date.now();
  const k = kernel();
  say(`kernel ${k.version}`);
  const entries = new Map<string, Entry>();
  entries.set('/init', { from: path.join(ROOT, 'pxe/init'), mode: 0o755 });
  entries.set('/etc/udhcpc.script', { from: path.join(ROOT, 'pxe/udhcpc.script'), mode: 0o755 });
  if (!fs.existsSync('/bin/busybox') || !isStatic('/bin/busybox')) throw new Error('/bin/busybox is not the static one: install busybox-static');
  entries.set('/bin/busybox', { from: '/bin/busybox', mode: 0o755 });
  withLibraries(process.execPath, entries);
  // Node's release binary carries its debug symbols: 13 MB the terminal never reads (addons bind
  // to the dynamic symbol table, which strip keeps)
  const node = { data: stripped(process.execPath), mode: 0o755 };
  entries.set(process.execPath, node);
  entries.set('/usr/bin/node', node);
  const loaded = modules(k.version, MODULES, entries);
  entries.set('/etc/waydesk/modules', { data: Buffer.from(loaded.join('\n') + '\n'), mode: 0o644 });
  say(`${loaded.length} modules: ${loaded.join(' ')}`);
  for (const a of ADDONS) {
    const file = path.join(ROOT, a);
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: build it with \`npm run build\``);
    withLibraries(file, entries);
    entries.set(`/opt/waydesk/build/Release/${path.basename(a)}`, { from: file, mode: 0o755 });
    entries.delete(file);
  }
  for (const name of EXTERNAL_PACKAGES) {
    const dir = path.join(ROOT, 'node_modules', name);
    const walk = (rel: string): void => {
      for (const f of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
        const r = path.join(rel, f.name);
        if (f.isDirectory()) {
          if (!/^(node_modules|src|obj\.target|\.deps)$/.test(f.name)) walk(r);
        } else if (/\.(js|cjs|mjs|json|node)$/.test(f.name) && !/\.map$/.test(f.name)) {
          if (f.name.endsWith('.node')) withLibraries(path.join(dir, r), entries);
          entries.delete(path.join(dir, r));
          entries.set(`/opt/waydesk/node_modules/${name}/${r}`, { from: path.join(dir, r), mode: 0o644 });
        }
      }
    };
    walk('.');
  }
  if (!fs.existsSync(SEATD)) throw new Error(`${SEATD} is missing: install Debian's seatd`);
  withLibraries(SEATD, entries);
  for (const [p, text] of Object.entries(ACCOUNTS)) entries.set(p, { data: Buffer.from(text), mode: 0o644 });
  if (!fs.existsSync(PCSCD) || !fs.existsSync(CCID_BUNDLE)) throw new Error('pcscd or libccid is missing: install Debian\'s pcscd and libccid');
  withLibraries(PCSCD, entries);
  entries.set(`${CCID_BUNDLE}/Contents/Info.plist`, { from: `${CCID_BUNDLE}/Contents/Info.plist`, mode: 0o644 });
  withLibraries(`${CCID_BUNDLE}/Contents/Linux/libccid.so`, entries);
  const fontDir = '/usr/share/consolefonts';
  const fonts = fs.existsSync(fontDir) ? fs.readdirSync(fontDir).filter((f) => FONTS.test(f)) : [];
  if (fonts.length === 0) throw new Error(`no Terminus fonts in ${fontDir}: install Debian's console-setup-linux`);
  for (const f of fonts) entries.set(`${fontDir}/${f}`, { from: `${fontDir}/${f}`, mode: 0o644 });
  say('bundling the terminal program');
  entries.set('/opt/waydesk/dist/netboot.mjs', { data: bundle(), mode: 0o644 });
  // the image's version: what it is made of, so a terminal and the server can tell an old one
  const h = crypto.createHash('sha256');
  // and how it is put together
  h.update(fs.readFileSync(new URL(import.meta.url)));
  for (const [p, e] of [...entries.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) h.update(p).update(e.data ?? fs.readFileSync(e.from!));
  const version = `${JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version}+${h.digest('hex').slice(0, 12)}`;
  entries.set('/etc/waydesk/image-version', { data: Buffer.from(`${version}\n`), mode: 0o644 });
  // modules.dep and friends for the modules in the image (depmod on a staging copy)
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'waydesk-pxe-'));
  try {
    for (const [p, e] of entries) {
      if (!p.startsWith('/lib/modules/')) continue;
      fs.mkdirSync(path.join(stage, path.dirname(p)), { recursive: true });
      fs.copyFileSync(e.from!, path.join(stage, p));
    }
    run('depmod', ['-b', stage, k.version]);
    for (const f of ['modules.dep', 'modules.dep.bin', 'modules.alias', 'modules.alias.bin', 'modules.symbols.bin', 'modules.builtin.bin']) {
      const p = path.join(stage, 'lib/modules', k.version, f);
      if (fs.existsSync(p)) entries.set(`/lib/modules/${k.version}/${f}`, { data: fs.readFileSync(p), mode: 0o644 });
    }
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
  say(`${entries.size} files; writing the initramfs`);
  const archive = cpio(entries);
  fs.mkdirSync(outDir, { recursive: true });
  const vmlinuz = path.join(outDir, 'vmlinuz');
  const initrd = path.join(outDir, 'initrd.zst');
  fs.copyFileSync(k.vmlinuz, vmlinuz);
  say(`compressing ${(archive.length / 1048576).toFixed(1)} MiB with zstd ${ZSTD.join(' ')}`);
  execFileSync('zstd', ['-q', '-f', ...ZSTD, '-o', initrd], { input: archive, stdio: ['pipe', 'inherit', 'inherit'], maxBuffer: 1 << 30 });
  const bytes = { kernel: fs.statSync(vmlinuz).size, initrdRaw: archive.length, initrd: fs.statSync(initrd).size };
  const total = bytes.kernel + bytes.initrd;
  const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;
  say(`image ${version}: kernel ${mib(bytes.kernel)} + initramfs ${mib(bytes.initrd)} (${mib(bytes.initrdRaw)} unpacked) = ${mib(total)} of a ${mib(IMAGE_BUDGET_BYTES)} budget, in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (total > IMAGE_BUDGET_BYTES) throw new Error(`the image is ${mib(total)}, over its ${mib(IMAGE_BUDGET_BYTES)} budget: see what grew above`);
  fs.writeFileSync(path.join(outDir, 'image-version'), `${version}\n`);
  return { dir: outDir, vmlinuz, initrd, version, bytes };
}
