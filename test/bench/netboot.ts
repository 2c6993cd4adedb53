// The netboot terminal: the image's size, how long it takes to build, and power-on → greeter in a
// QEMU guest booting over PXE (TCG; this machine's KVM cannot run a stock kernel).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildImage, IMAGE_BUDGET_BYTES } from '../../pxe/build.js';
import { isRoot } from '../helpers/compositor.js';
import { QEMU, bootTerminal } from '../helpers/netboot.js';
import { startLoginServer } from '../helpers/server.js';
import type { Report } from './report.js';

export async function benchNetboot(r: Report): Promise<void> {
  if (!isRoot() || !fs.existsSync(QEMU)) return r.note('netboot: skipped (needs root for the login server, and qemu-system-x86)');
  r.note('netboot (image from this machine\'s Debian packages; QEMU TCG guest booting over PXE through iPXE, HTTP from the host)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-bench-netboot-'));
  const s = await startLoginServer(['foot']);
  try {
    const t0 = performance.now();
    const image = buildImage(path.join(dir, 'http'));
    r.add('netboot', 'image_build', (performance.now() - t0) / 1000, 's');
    r.add('netboot', 'image_kernel_plus_initramfs', (image.bytes.kernel + image.bytes.initrd) / 1048576, 'MiB');
    r.add('netboot', 'image_budget', IMAGE_BUDGET_BYTES / 1048576, 'MiB');
    r.add('netboot', 'initramfs_unpacked', image.bytes.initrdRaw / 1048576, 'MiB');
    const guest = await bootTerminal(image, { port: Number(new URL(s.url).port), state: s.state }, dir);
    r.add('netboot', 'power_on_to_greeter_tcg', guest.msToGreeter / 1000, 's');
    await guest.stop();
  } finally {
    await s.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
