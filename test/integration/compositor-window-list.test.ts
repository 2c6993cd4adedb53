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
const ACTIVATED = 2;

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
});
