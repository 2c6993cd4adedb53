// The netboot terminal: the image's size, how long it takes to build, and power-on → greeter in a
// QEMU guest booting over PXE (TCG; this machine's KVM cannot run a stock kernel).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildImage, IMAGE_BUDGET_BYTES } from '../../pxe/build.js';
import { isRoot } from '../helpers/compositor.js';
import { QEMU, bootTerminal } from '../helpers/netboot.js';
import { Screen, drmCards } from '../../native/drm/ts/index.js';
import { startLoginServer } from '../helpers/server.js';
import type { Report } from './report.js';

/**
 * The DRM presenter's cost for full motion: every pixel new in every frame, copied into the back
 * buffer and flipped, on this machine's own screen where it has one (a terminal's work, measured
 * natively: under QEMU's TCG it would measure the emulator).
 */
async function benchPresenter(r: Report): Promise<void> {
  const card = drmCards()[0];
  if (!card) return r.note('netboot: the DRM presenter\'s cost per frame is not measured: this machine has no DRM device (/dev/dri/card*)');
  let screen: Screen;
  try {
    screen = new Screen(card);
  } catch (err) {
    return r.note(`netboot: the DRM presenter's cost per frame is not measured: ${(err as Error).message}`);
  }
  try {
    const { width, height } = screen.info;
    const pictures = [0x30, 0xc0].map((v) => Buffer.alloc(width * height * 4, v));
    const flipped = (): Promise<void> => new Promise((res) => screen.once('flip', () => res()));
    let copyUs = 0;
    const t0 = performance.now();
    const N = 120;
    for (let i = 0; i < N; i++) {
      const done = flipped();
      const c0 = performance.now();
      screen.present(pictures[i % 2]!, width, height, null);
      copyUs += (performance.now() - c0) * 1000;
      await done;
    }
    r.add('netboot', `drm_present_full_frame_${width}x${height}`, copyUs / N / 1000, 'ms');
    r.add('netboot', 'drm_full_motion_fps', N / ((performance.now() - t0) / 1000), 'fps');
  } finally {
    screen.close();
  }
}

export async function benchNetboot(r: Report): Promise<void> {
  await benchPresenter(r);
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
