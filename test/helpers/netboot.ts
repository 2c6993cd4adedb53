// A netboot terminal booted in QEMU as a lab's would be over PXE: iPXE (QEMU's ROM) gets the boot
// script `waydesk-server pxe-config` wrote from QEMU's user-mode TFTP, the kernel and initramfs
// over HTTP from the host's loopback (seen by the guest as 10.0.2.2), and the kernel command line
// names the server and its certificate. TCG: this machine's KVM cannot run a stock kernel.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Image } from '../../pxe/build.js';
import { waitFor } from './compositor.js';
import { Qmp } from './qmp.js';
import { QemuCardSlot, ccidArgs } from './qemu-card-slot.js';
import { SERVER_BIN } from './server.js';

export const QEMU = '/usr/bin/qemu-system-x86_64';
export const GUEST_MAC = '52:54:00:12:34:56';
/** The guest's network card, as QMP's set_link names it. */
export const GUEST_NIC = 'nic0';

export interface BootedTerminal {
  /** What the guest's console said so far. */
  serial(): string;
  /** From QEMU's start to the console saying the terminal is at the greeter. */
  msToGreeter: number;
  /** The guest's machine controls: its screen, keyboard and network cable. */
  qmp: Qmp;
  /** The card reader plugged into it (USB CCID), when asked for. */
  cardSlot: QemuCardSlot | null;
  stop(): Promise<void>;
}

/** `state`: the server's state directory, whose certificate pxe-config names. */
export async function bootTerminal(image: Image, server: { port: number; state: string }, dir: string, o: { cardReader?: boolean } = {}): Promise<BootedTerminal> {
  const web = http.createServer((req, res) => {
    const f = path.join(image.dir, path.basename(req.url ?? ''));
    if (!fs.existsSync(f)) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': fs.statSync(f).size });
    fs.createReadStream(f).pipe(res);
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  const webPort = (web.address() as { port: number }).port;
  const tftp = path.join(dir, 'tftp');
  // the admin's command, as on a real network; QEMU's own DHCP and TFTP stand in for dnsmasq
  execFileSync(process.execPath, [SERVER_BIN, 'pxe-config', '--address', '10.0.2.2/24', '--port', String(server.port), '--state', server.state, '--image', image.dir, '--out', tftp, '--http', `http://10.0.2.2:${webPort}`, '--serial-console'], { stdio: ['ignore', 'ignore', 'inherit'] });
  let serial = '';
  const t0 = Date.now();
  const qmpSocket = path.join(dir, 'qmp.sock');
  const cardSocket = path.join(dir, 'ccid.sock');
  // -nographic: the BIOS and iPXE write to the serial console too; the VGA (bochs) is still there for screendump
  const qemu: ChildProcess = spawn(QEMU, ['-accel', 'tcg', '-m', '512', '-nographic', '-qmp', `unix:${qmpSocket},server=on,wait=off`, '-netdev', `user,id=n0,tftp=${tftp},bootfile=boot.ipxe`, '-device', `virtio-net-pci,netdev=n0,mac=${GUEST_MAC},id=${GUEST_NIC}`, ...(o.cardReader ? ccidArgs(cardSocket) : []), '-boot', 'n'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  qemu.stdout!.on('data', (d: Buffer) => (serial += d.toString()));
  qemu.stderr!.on('data', (d: Buffer) => (serial += d.toString()));
  let qmp: Qmp | null = null;
  let cardSlot: QemuCardSlot | null = null;
  const stop = async (): Promise<void> => {
    // the guest's console outlives the test's directory, for whoever reads why a run failed
    fs.writeFileSync(path.join(os.tmpdir(), 'waydesk-netboot-serial.log'), serial);
    qmp?.close();
    cardSlot?.close();
    if (qemu.exitCode === null && qemu.signalCode === null) {
      await new Promise<void>((r) => {
        qemu.once('exit', () => r());
        qemu.kill('SIGKILL');
      });
    }
    await new Promise<void>((r) => web.close(() => r()));
  };
  try {
    qmp = await Qmp.connect(qmpSocket);
    if (o.cardReader) cardSlot = await QemuCardSlot.connect(cardSocket);
    await waitFor('the terminal at the greeter', () => /waydesk-terminal: at the greeter/.test(serial) || qemu.exitCode !== null, 240_000, 200);
    if (qemu.exitCode !== null) throw new Error(`QEMU exited (${qemu.exitCode})`);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}; the guest's console said:\n${serial.replace(/\r/g, '').slice(-3000)}`);
  }
  return { serial: () => serial.replace(/\r/g, ''), msToGreeter: Date.now() - t0, qmp: qmp!, cardSlot, stop };
}
