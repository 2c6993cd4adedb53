// The netboot terminal, booted for real: the image pxe/build.ts makes from this machine's Debian
// packages, a QEMU guest (TCG: this machine's KVM cannot run a stock kernel) that boots with
// `-boot n` through iPXE, gets its boot script from QEMU's user-mode TFTP and the kernel and
// initramfs over HTTP from the host, finds the server from its kernel command line, and reaches
// the login server on the host's loopback as 10.0.2.2, its certificate pinned. One boot; the
// refusal of a wrong fingerprint is the same program run on the host.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, IMAGE_BUDGET_BYTES, type Image } from '../../pxe/build.js';
import { ROOT, isRoot } from '../helpers/compositor.js';
import { GUEST_MAC, QEMU, bootTerminal, type BootedTerminal } from '../helpers/netboot.js';
import { startLoginServer, type DevServer } from '../helpers/server.js';

describe.skipIf(!isRoot() || !fs.existsSync(QEMU))('the netboot terminal in QEMU', () => {
  let dir = '';
  let image: Image;
  let s: DevServer;
  let guest: BootedTerminal | null = null;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-netboot-'));
    image = buildImage(path.join(dir, 'http'));
    s = await startLoginServer(['foot']);
    guest = await bootTerminal(image, { port: Number(new URL(s.url).port), state: s.state }, dir);
  }, 400_000);

  afterAll(async () => {
    await guest?.stop();
    await s?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('boots over PXE, finds the server on its kernel command line, pins it and reaches the greeter', () => {
    const serial = guest!.serial();
    expect(serial).toMatch(/iPXE/);
    expect(serial).toMatch(new RegExp(`waydesk-terminal: image ${image.version.replace(/[.+]/g, '\\$&')}`));
    expect(serial).toMatch(/waydesk-terminal: network on eth0: 10\.0\.2\.15\/24/);
    expect(serial).toMatch(/waydesk-terminal: server wss:\/\/10\.0\.2\.2:\d+\/terminal \(from the kernel command line\)/);
    expect(serial).toMatch(/waydesk-terminal: at the greeter \(1280x800\)/);
    // the server saw it: a terminal of the drm kind, named by its MAC address, at the greeter
    expect(s.log()).toMatch(new RegExp(`"terminal":"${GUEST_MAC}","kind":"drm","display":\\{"width":1280,"height":800[^\\n]*"event":"hello"`));
    expect(image.bytes.kernel + image.bytes.initrd).toBeLessThanOrEqual(IMAGE_BUDGET_BYTES);
  });

  it('writes what an admin needs for a real network: the iPXE script with the fingerprint, and a proxy-DHCP dnsmasq configuration dnsmasq accepts', () => {
    const tftp = path.join(dir, 'tftp');
    expect(fs.readFileSync(path.join(tftp, 'boot.ipxe'), 'utf8')).toContain(`waydesk.fingerprint=${s.fingerprint}`);
    for (const f of ['vmlinuz', 'initrd.zst', 'undionly.kpxe', 'ipxe.efi']) expect(fs.existsSync(path.join(tftp, f)), f).toBe(true);
    const conf = fs.readFileSync(path.join(tftp, 'dnsmasq.conf'), 'utf8');
    expect(conf).toMatch(/^dhcp-range=10\.0\.2\.0,proxy$/m);
    expect(conf).toMatch(/^port=0$/m);
    // checked, never started: it would answer on this machine's real interfaces
    const check = spawnSync('dnsmasq', ['--test', '-C', path.join(tftp, 'dnsmasq.conf')], { encoding: 'utf8' });
    expect(check.status, check.stderr).toBe(0);
    expect(check.stderr).toMatch(/syntax check OK/);
  });

  it('builds the same bytes from the same inputs', () => {
    const again = buildImage(path.join(dir, 'again'));
    expect(again.version).toBe(image.version);
    expect(fs.readFileSync(again.initrd).equals(fs.readFileSync(image.initrd))).toBe(true);
  }, 120_000);

  it('refuses a server whose certificate is not the one the boot configuration names, and says so', () => {
    const cmdline = path.join(dir, 'cmdline');
    const wrong = s.fingerprint.replace(/^../, (h) => (h === 'AA' ? 'BB' : 'AA'));
    fs.writeFileSync(cmdline, `console=ttyS0 waydesk.server=127.0.0.1:${new URL(s.url).port} waydesk.fingerprint=${wrong}\n`);
    let out = '';
    try {
      out = execFileSync(process.execPath, [path.join(ROOT, 'client-firmware/dist/netboot.js')], { env: { ...process.env, WAYDESK_CMDLINE: cmdline }, encoding: 'utf8', timeout: 4000 });
    } catch (err) {
      // it keeps refusing (and retrying) until it is stopped
      out = String((err as { stdout?: string }).stdout ?? '');
    }
    expect(out).toMatch(/waydesk-terminal: certificate does not match/);
    expect(out).not.toMatch(/at the greeter/);
  });
});
