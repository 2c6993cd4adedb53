// What a panel sees and does through wlr-foreign-toplevel-management: the open windows with their
// titles, app ids and which one is focused; activating one focuses it, closing one asks it to
// close. The panel here is a raw-wire client of the test's own (no Debian client scripts it).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startCompositor, waitFor, type Started } from '../helpers/compositor.js';
import { WireClient, readString } from '../helpers/wayland-wire.js';

interface Listed {
  id: number;
  title: string;
  appId: string;
  states: number[];
  closed: boolean;
}
const MINIMIZED = 1;
const ACTIVATED = 2;

/** Binds the seat and the window list as a panel does, and follows every entry's title, app id and state. */
async function listWindows(panel: WireClient): Promise<{ seat: number; listed: Map<number, Listed> }> {
  const seat = panel.bind('wl_seat', 1);
  panel.on(seat, () => {});
  const manager = panel.bind('zwlr_foreign_toplevel_manager_v1', 3);
  const listed = new Map<number, Listed>();
  panel.on(manager, (op, body) => {
    if (op !== 0) return;
    // toplevel(new_id): the compositor made an object for one window
    const t: Listed = { id: body.readUInt32LE(0), title: '', appId: '', states: [], closed: false };
    listed.set(t.id, t);
    panel.on(t.id, (eop, b) => {
      if (eop === 0) t.title = readString(b, 0)[0];
      else if (eop === 1) t.appId = readString(b, 0)[0];
      else if (eop === 4) {
        const n = b.readUInt32LE(0) / 4;
        t.states = Array.from({ length: n }, (_, i) => b.readUInt32LE(4 + 4 * i));
      } else if (eop === 6) t.closed = true;
    });
  });
  await panel.roundtrip();
  await panel.roundtrip();
  return { seat, listed };
}

let c: Started | undefined;
afterEach(async () => {
  await c?.stop();
  c = undefined;
});

describe('the window list a panel sees', () => {
  it('lists the open windows with their titles and focus, focuses the one activated and closes the one closed', async () => {
    c = await startCompositor({ command: ['foot', '-o', 'cursor.blink=no', 'sh'] });
    await waitFor('foot to map', () => c!.link.windows.length === 1);
    const shm = spawn('weston-simple-shm', [], { env: c.env, stdio: 'ignore' });
    const shmGone = new Promise<number | null>((r) => shm.once('exit', (code) => r(code)));
    const panel = await WireClient.connect(path.join(c.env.XDG_RUNTIME_DIR!, c.env.WAYLAND_DISPLAY!));
    try {
      await waitFor('simple-shm focused', () => c!.link.windows.find((w) => w.title === 'simple-shm')?.focused);
      const { seat, listed } = await listWindows(panel);
      const find = (pred: (t: Listed) => boolean): Listed | undefined => [...listed.values()].find(pred);
      const foot = await waitFor('foot in the list', () => find((t) => t.appId === 'foot'));
      const simple = await waitFor('simple-shm in the list', () => find((t) => t.title === 'simple-shm'));
      expect(listed.size).toBe(2);
      expect(simple.states).toContain(ACTIVATED);
      expect(foot.states).not.toContain(ACTIVATED);
      // activate(seat) on foot's entry: the desktop focuses foot, and the list says so
      panel.send(foot.id, 4, [{ o: seat }]);
      await waitFor('foot focused', () => c!.link.windows.find((w) => w.appId === 'foot')?.focused);
      await panel.roundtrip();
      await waitFor('the list following focus', () => foot.states.includes(ACTIVATED) && !simple.states.includes(ACTIVATED));
      // close on simple-shm's entry: the window is asked to close, and does
      panel.send(simple.id, 5, []);
      expect(await shmGone).toBe(0);
      await waitFor('simple-shm gone from the desktop', () => !c!.link.windows.some((w) => w.title === 'simple-shm'));
      await panel.roundtrip();
      await waitFor('its entry closed', () => simple.closed);
      expect(foot.closed).toBe(false);
    } finally {
      panel.close();
      shm.kill();
    }
  });

  it('minimizes a window at a panel\'s request, and brings it back by the panel or Alt+Tab', async () => {
    c = await startCompositor({ command: ['foot', '-o', 'cursor.blink=no', 'sh'] });
    await waitFor('foot to map', () => c!.link.windows.length === 1);
    const shm = spawn('weston-simple-shm', [], { env: c.env, stdio: 'ignore' });
    const panel = await WireClient.connect(path.join(c.env.XDG_RUNTIME_DIR!, c.env.WAYLAND_DISPLAY!));
    try {
      const link = c.link;
      const shmInfo = () => link.windows.find((w) => w.title === 'simple-shm');
      await waitFor('simple-shm focused', () => shmInfo()?.focused);
      const { seat, listed } = await listWindows(panel);
      const simple = await waitFor('simple-shm in the list', () => [...listed.values()].find((t) => t.title === 'simple-shm'));
      // simple-shm animates in the top-left corner: that corner changes while it is shown
      const corner = (): number => link.framebuffer.readUInt32LE((100 * 1920 + 100) * 4);
      const animating = async (): Promise<boolean> => {
        const a = corner();
        await new Promise((r) => setTimeout(r, 300));
        return corner() !== a;
      };
      expect(await animating()).toBe(true);

      panel.send(simple.id, 2, []); // set_minimized
      await waitFor('simple-shm minimized, foot focused', () => shmInfo()?.minimized && link.windows.find((w) => w.appId === 'foot')?.focused);
      await panel.roundtrip();
      await waitFor('the list saying so', () => simple.states.includes(MINIMIZED) && !simple.states.includes(ACTIVATED));
      expect(await animating()).toBe(false);
      // a click where it was goes to foot, not to the hidden window
      link.send({ type: 'pointer-motion', x: 100, y: 100 });
      link.send({ type: 'pointer-button', button: 0x110, pressed: true });
      link.send({ type: 'pointer-button', button: 0x110, pressed: false });
      await new Promise((r) => setTimeout(r, 200));
      expect(shmInfo()?.minimized).toBe(true);

      panel.send(simple.id, 4, [{ o: seat }]); // activate: back, in front, focused
      await waitFor('simple-shm restored and focused', () => shmInfo()?.focused && !shmInfo()?.minimized);
      await panel.roundtrip();
      await waitFor('the list saying so', () => !simple.states.includes(MINIMIZED) && simple.states.includes(ACTIVATED));
      await waitFor('simple-shm drawing again', () => animating());

      panel.send(simple.id, 2, []);
      await waitFor('minimized again', () => shmInfo()?.minimized);
      link.key(56, true); // Alt+Tab lands on the hidden window and shows it
      link.key(15, true);
      link.key(15, false);
      link.key(56, false);
      await waitFor('simple-shm restored by Alt+Tab', () => shmInfo()?.focused && !shmInfo()?.minimized);
    } finally {
      panel.close();
      shm.kill();
    }
  });
});
