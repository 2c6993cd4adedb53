// The netboot terminal, booted for real: the image pxe/build.ts makes from this machine's Debian
// packages, a QEMU guest (TCG: this machine's KVM cannot run a stock kernel) that boots with
// `-boot n` through iPXE, gets its boot script from QEMU's user-mode TFTP and the kernel and
// initramfs over HTTP from the host, finds the server from its kernel command line, and reaches
// the login server on the host's loopback as 10.0.2.2, its certificate pinned, and shows the
// greeter on its screen through DRM/KMS. One guest for every case: its screen is read with
// QMP's screendump, its keyboard typed on with input-send-event, its cable pulled with
// set_link; the last case reboots it with a wrong fingerprint in its boot script.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drawStatusScreen } from '../../client-firmware/src/status-screen.js';
import { statusText } from '../../client-firmware/src/drm-presenter.js';
import { buildImage, IMAGE_BUDGET_BYTES, type Image } from '../../pxe/build.js';
import { KEY } from '../../protocol/src/us-keys.js';
import { ROOT, isRoot, waitFor } from '../helpers/compositor.js';
import { GUEST_MAC, GUEST_NIC, QEMU, bootTerminal, type BootedTerminal } from '../helpers/netboot.js';
import type { Picture } from '../helpers/qmp.js';
import { pivToken } from '../helpers/card-terminal.js';
import { FakeCard, makePivKey } from '../helpers/fake-card.js';
import { SERVER_BIN } from '../helpers/server.js';
import { quiet, startLoginServer, startTerminal, type DevServer } from '../helpers/server.js';
import { makeAccount, removeAccount } from '../helpers/test-user.js';

const run = promisify(execFile);
const USER = 'wdnet-a';
const PASSWORD = 'netboot horse battery staple';

/** Where the guest's pointer sits until something moves it: the middle of its 1280x800 screen. */
const POINTER = { x: 640, y: 400 };
/** Around the pointer: the cursor there is the terminal's own drawing, not the server's picture. */
const CURSOR_BOX = { x: POINTER.x - 32, y: POINTER.y - 32, width: 96, height: 96 };

/** Pixels where the guest's screen differs from a BGRX picture, outside `mask`. */
function differing(shot: Picture, bgrx: Buffer, width: number, height: number, mask = CURSOR_BOX): number {
  if (shot.width !== width || shot.height !== height) return width * height;
  let n = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (x >= mask.x && x < mask.x + mask.width && y >= mask.y && y < mask.y + mask.height) continue;
      const i = y * width + x;
      if (shot.rgb[i * 3] !== bgrx[i * 4 + 2] || shot.rgb[i * 3 + 1] !== bgrx[i * 4 + 1] || shot.rgb[i * 3 + 2] !== bgrx[i * 4]) n++;
    }
  }
  return n;
}

/** What grim reads off the user's desktop, as BGRX. */
async function desktop(s: DevServer, uid: number, width: number, height: number): Promise<Buffer> {
  const { stdout } = await run('grim', ['-t', 'ppm', '-'], { env: s.env(uid), encoding: 'buffer', maxBuffer: 64 << 20 });
  const rgb = (stdout as Buffer).subarray((stdout as Buffer).length - width * height * 3);
  const out = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height; i++) out.set([rgb[i * 3 + 2]!, rgb[i * 3 + 1]!, rgb[i * 3]!, 0xff], i * 4);
  return out;
}

describe.skipIf(!isRoot() || !fs.existsSync(QEMU))('the netboot terminal in QEMU', () => {
  let dir = '';
  let image: Image;
  let s: DevServer;
  let guest: BootedTerminal | null = null;

  let uid = 0;
  let shots = 0;
  const screen = (): Promise<Picture> => guest!.qmp.screen(path.join(dir, `screen-${shots++}.ppm`));

  /**
   * Pixels where the guest's screen differs from the server's greeter at its size, as a terminal on
   * the host with a ready reader receives it (0, once the two agree: the greeter's clock turns each
   * minute, so the two are compared again for a few seconds).
   */
  const greeterDiff = async (id: string): Promise<number> => {
    const host = startTerminal(s, { width: 1280, height: 800 }, id, false, 'greeter');
    try {
      await waitFor('the host terminal at the greeter', () => host.terminal.atGreeter && host.terminal.painter.width === 1280, 15_000);
      host.terminal.send({ type: 'card', body: { event: 'reader', state: 'ready' } });
      await quiet(host.terminal, 300);
      let diff = Infinity;
      await waitFor('the greeter on the guest', async () => (diff = differing(await screen(), host.terminal.painter.framebuffer, 1280, 800)) === 0, 10_000, 500).catch(() => {});
      return diff;
    } finally {
      host.terminal.stop();
    }
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-netboot-'));
    makeAccount(USER, PASSWORD, 'netboot test');
    uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim());
    image = buildImage(path.join(dir, 'http'));
    s = await startLoginServer(['foot', '-o', 'cursor.blink=no']);
    guest = await bootTerminal(image, { port: Number(new URL(s.url).port), state: s.state }, dir, { cardReader: true });
  }, 400_000);

  afterAll(async () => {
    await guest?.stop();
    await s?.stop();
    removeAccount(USER);
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

  it("shows on its screen exactly the greeter the server draws for it (QMP screendump)", async () => {
    expect(guest!.serial()).toMatch(/waydesk-terminal: screen Virtual-1 1280x800@\d+ on \/dev\/dri\/card0 \(bochs-drm, software cursor\)/);
    // the guest's card reader (its pcscd, QEMU's USB CCID reader) is on its greeter's prompt line
    await waitFor('the card reader', () => /waydesk-terminal: card reader: ready/.test(guest!.serial()), 20_000, 200);
    expect(await greeterDiff('host-greeter')).toBe(0);
  });

  it('runs as a user of its own through seatd; Ctrl+Alt+F2 gives the seat away and Ctrl+Alt+F1 brings it back, with the picture', async () => {
    expect(guest!.serial()).toMatch(/waydesk-terminal: seat seat0, running as uid 1000/);
    const q = guest!.qmp;
    const chord = async (f: number): Promise<void> => {
      for (const k of [KEY.LEFTCTRL, KEY.LEFTALT, f]) await q.key(k, true);
      for (const k of [f, KEY.LEFTALT, KEY.LEFTCTRL]) await q.key(k, false);
    };
    const before = guest!.serial().length;
    await chord(60); // F2
    await waitFor('the seat to go to another session', () => /waydesk-terminal: the seat went to another session/.test(guest!.serial().slice(before)), 20_000, 200);
    // the kernel's console has the keyboard now, and takes Ctrl+Alt+F1 back to the terminal's session
    await chord(59); // F1
    await waitFor('the seat to come back', () => /waydesk-terminal: the seat is back/.test(guest!.serial().slice(before)), 20_000, 200);
    // with the keyboard taken up again
    await waitFor('the keyboard again', () => /the seat is back[^]*"product":"AT Translated Set 2 keyboard","keyboard":true/.test(guest!.serial().slice(before)), 20_000, 200);
    expect(guest!.serial().slice(before)).not.toMatch(/no keyboard/);
    expect(await greeterDiff('host-greeter-2')).toBe(0);
  });

  it("logs in with keys typed on the guest's keyboard; the keys reach the user's shell and the screen shows the desktop", async () => {
    await guest!.qmp.type(USER);
    await guest!.qmp.key(KEY.ENTER, true);
    await guest!.qmp.key(KEY.ENTER, false);
    await guest!.qmp.type(PASSWORD);
    await guest!.qmp.key(KEY.ENTER, true);
    await guest!.qmp.key(KEY.ENTER, false);
    await waitFor('the guest to show the session', () => /waydesk-terminal: showing a session/.test(guest!.serial()), 60_000, 200);
    expect(s.log()).toMatch(new RegExp(`"user":"${USER}"[^\n]*"event":"login-ok"`));
    const marker = path.join('/home', USER, 'typed-on-the-guest');
    await new Promise((r) => setTimeout(r, 1500)); // foot up and its shell reading
    await guest!.qmp.type(`touch ${marker}\n`);
    await waitFor('the typed command to run as the user', () => fs.existsSync(marker) && fs.statSync(marker).uid === uid, 30_000, 200);
    // what the guest shows is the user's desktop (the typed line in foot), pixel for pixel
    let diff = Infinity;
    await waitFor('the guest to show the desktop', async () => (diff = differing(await screen(), await desktop(s, uid, 1280, 800), 1280, 800)) === 0, 20_000, 500).catch(() => {});
    expect(diff).toBe(0);
  }, 120_000);

  it('a USB keyboard plugged in while it runs is taken up, and its keys reach the session; unplugged, it is let go', async () => {
    const before = guest!.serial().length;
    await guest!.qmp.execute('device_add', { driver: 'usb-kbd', id: 'kbd2', bus: 'usb0.0' });
    await waitFor('the guest to take up the USB keyboard', () => /"product":"[^"]*USB Keyboard","keyboard":true[^\n]*"msg":"input device"/.test(guest!.serial().slice(before)), 20_000, 200);
    const marker = path.join('/home', USER, 'typed-on-usb');
    // QEMU sends QMP's keys to the keyboard plugged in last: this one
    await guest!.qmp.type(`touch ${marker}\n`);
    await waitFor('the USB keyboard to type into foot', () => fs.existsSync(marker), 20_000, 200);
    await guest!.qmp.execute('device_del', { id: 'kbd2' });
    await waitFor('the guest to let the USB keyboard go', () => /"product":"[^"]*USB Keyboard","msg":"input device gone"/.test(guest!.serial().slice(before)), 20_000, 200);
  }, 60_000);

  it('with its cable pulled it marks the picture as not live within seconds; plugged back in, the session is there', async () => {
    await guest!.qmp.link(GUEST_NIC, false);
    try {
      await waitFor('the guest to say it lost the server', () => /waydesk-terminal: lost the server/.test(guest!.serial()), 20_000, 200);
      // the picture is dimmed under a band that says so (on the screen at the next flip after the console said it)
      const at = (p: Picture, x: number, y: number): number => (p.rgb[(y * 1280 + x) * 3]! << 16) | (p.rgb[(y * 1280 + x) * 3 + 1]! << 8) | p.rgb[(y * 1280 + x) * 3 + 2]!;
      const band = await waitFor('the band on the screen', async () => {
        const p = await screen();
        return at(p, 2, 2) === 0x30343a ? p : null;
      }, 5000, 200);
      expect(differing(band, await desktop(s, uid, 1280, 800), 1280, 800)).toBeGreaterThan(1280 * 700);
    } finally {
      await guest!.qmp.link(GUEST_NIC, true);
    }
    await waitFor('the guest to hear the server again', () => /waydesk-terminal: the server answers again: showing the session/.test(guest!.serial()), 60_000, 200);
    let diff = Infinity;
    await waitFor('the guest to show the desktop again', async () => (diff = differing(await screen(), await desktop(s, uid, 1280, 800), 1280, 800)) === 0, 20_000, 500).catch(() => {});
    expect(diff).toBe(0);
    expect(s.log()).not.toMatch(new RegExp(`"session":"user:${USER}"[^\n]*"event":"session-end"`));
  }, 120_000);

  it('told at the greeter that the server serves another image, it reboots into it: a user logging out makes that moment', async () => {
    const served = path.join(s.state, 'pxe', 'image-version');
    fs.mkdirSync(path.dirname(served), { recursive: true });
    fs.writeFileSync(served, '0.1.0+a-newer-one\n');
    const before = guest!.serial().length;
    const since = (): string => guest!.serial().slice(before);
    try {
      // with a session open the terminal is not told; the user logs out (foot ends, so does the session)
      await guest!.qmp.type('exit\n');
      await waitFor('the guest to boot the served image', () => /waydesk-terminal: the server serves image 0\.1\.0\+a-newer-one: booting it/.test(since()), 30_000, 200);
    } finally {
      // what it boots is what is served (one image here): it is not told again
      fs.writeFileSync(served, `${image.version}\n`);
    }
    expect(s.log()).toMatch(new RegExp(`"session":"user:${USER}"[^\n]*"event":"session-end"`));
    expect(s.log()).toMatch(/"image":"[^"]+","served":"0\.1\.0\+a-newer-one","event":"image-outdated"/);
    await waitFor('the rebooted guest at the greeter', () => {
      const out = since();
      const at = out.indexOf('waydesk-terminal: rebooting');
      return at >= 0 && /waydesk-terminal: at the greeter/.test(out.slice(at));
    }, 240_000, 200);
    const after = since().slice(since().indexOf('waydesk-terminal: rebooting'));
    expect(after).toMatch(/iPXE/);
    expect(after).not.toMatch(/booting it/);
  }, 300_000);

  it("a user's card in the guest's USB reader opens their desktop on its screen; taken out, the terminal is at the greeter and the desktop goes on", async () => {
    const key = makePivKey(`${USER}'s card`);
    execFileSync(process.execPath, [SERVER_BIN, 'bind-card', pivToken(key), USER, '--state', s.state], { stdio: ['ignore', 'ignore', 'inherit'] });
    const card = new FakeCard({ piv: key });
    const before = guest!.serial().length;
    const since = (): string => guest!.serial().slice(before);
    await guest!.cardSlot!.insert(card);
    await waitFor('the card to open the desktop on the guest', () => /waydesk-terminal: showing a session/.test(since()), 60_000, 200);
    expect(s.log()).toMatch(new RegExp(`"user":"${USER}"[^\n]*"event":"login-ok","by":"card"`));
    // it proved itself: the guest's pcscd passed the server's challenge to the card, which signed it
    expect(card.heard.some((a) => a.startsWith('0087119a'))).toBe(true);
    let diff = Infinity;
    await waitFor('the guest to show the desktop', async () => (diff = differing(await screen(), await desktop(s, uid, 1280, 800), 1280, 800)) === 0, 20_000, 500).catch(() => {});
    expect(diff).toBe(0);
    const ends = (): number => (s.log().match(new RegExp(`"session":"user:${USER}"[^\n]*"event":"session-end"`, 'g')) ?? []).length;
    const ended = ends();
    const out = guest!.serial().length;
    await guest!.cardSlot!.remove();
    await waitFor('the guest back at the greeter', () => /waydesk-terminal: at the greeter/.test(guest!.serial().slice(out)), 30_000, 200);
    await new Promise((r) => setTimeout(r, 1000));
    expect(ends()).toBe(ended);
  }, 120_000);

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

  it('rebooted with a wrong fingerprint in its boot script, it refuses the server and says so on its screen', async () => {
    const script = path.join(dir, 'tftp', 'boot.ipxe');
    const wrong = s.fingerprint.replace(/^../, (h) => (h === 'AA' ? 'BB' : 'AA'));
    fs.writeFileSync(script, fs.readFileSync(script, 'utf8').replace(s.fingerprint, wrong));
    const before = guest!.serial().length;
    await guest!.qmp.execute('system_reset');
    await waitFor('the guest to refuse the server', () => /waydesk-terminal: certificate does not match/.test(guest!.serial().slice(before)), 240_000, 200);
    expect(guest!.serial().slice(before)).not.toMatch(/at the greeter/);
    const want = drawStatusScreen(1280, 800, statusText({ connected: false, retrying: true, state: 'certificate', message: '' }));
    let diff = Infinity;
    await waitFor('the refusal on the screen', async () => (diff = differing(await screen(), want, 1280, 800, { x: 0, y: 0, width: 0, height: 0 })) === 0, 10_000, 500).catch(() => {});
    expect(diff).toBe(0);
  }, 300_000);
});
