// Hot-desking: a PIV card moved between two terminals, through a real pcscd with vpcd readers and
// the real login server. Measured from the card event at the new terminal (its reader reporting
// the card: what the terminal can know) to the first whole picture of the session painted there,
// for terminals of the same size and for a move that resizes the desktop; and, apart, how late
// pcscd reports a card after it went in (its polling), so the time a user feels is honest.
import { execFileSync } from 'node:child_process';
import type { PcscCardReader } from '../../client-firmware/src/card-reader.js';
import { createLogger } from '../../client-firmware/src/log.js';
import type { Terminal } from '../../client-firmware/src/terminal.js';
import { cardTerminal, pivToken } from '../helpers/card-terminal.js';
import { FakeCard, makePivKey } from '../helpers/fake-card.js';
import { foreignPcscd, Pcscd } from '../helpers/pcscd.js';
import { isRoot, sleep, waitFor } from '../helpers/compositor.js';
import { SERVER_BIN, startLoginServer, type DevServer } from '../helpers/server.js';
import { makeAccount, removeAccount } from '../helpers/test-user.js';
import { percentile, type Report } from './report.js';

const USER = 'wdbench-card';
const PASSWORD = 'bench card battery staple';
const MOVES = 20;

interface Desk {
  terminal: Terminal;
  cards: PcscCardReader;
  /** When its reader last reported a card (ms, performance.now()). */
  insertedAt: number;
  /** When it last painted a whole picture that was not the greeter's. */
  wholeAt: number;
}

function desk(s: DevServer, id: string, size: { width: number; height: number }, reader: string): Desk {
  const log = createLogger(`bench-${id}`);
  log.level = 'error';
  const { terminal, cards } = cardTerminal(s, size, id, reader, log);
  const d: Desk = { terminal, cards, insertedAt: 0, wholeAt: 0 };
  cards.on('inserted', () => (d.insertedAt = performance.now()));
  // emitted as soon as the picture is painted
  terminal.on('frame', (f) => {
    if (f.full && !terminal.atGreeter) d.wholeAt = performance.now();
  });
  return d;
}

/** Moves the card from one desk to the next: ms from the card event there to its whole picture, and pcscd's lateness. */
async function move(card: FakeCard, to: Desk, port: number): Promise<{ ms: number; lateMs: number }> {
  await card.remove();
  // pcscd must see the card leave (it polls every 400 ms) before it is put in elsewhere
  await sleep(600);
  const before = { inserted: to.insertedAt, whole: to.wholeAt };
  const t0 = performance.now();
  await card.insert(port);
  await waitFor('the card at the new terminal', () => to.insertedAt !== before.inserted, 10_000, 2);
  await waitFor('the whole picture at the new terminal', () => to.wholeAt !== before.whole && to.wholeAt >= to.insertedAt, 15_000, 2);
  return { ms: to.wholeAt - to.insertedAt, lateMs: to.insertedAt - t0 };
}

export async function benchHotdesk(r: Report): Promise<void> {
  if (!isRoot()) return r.note('hotdesk: skipped (needs root: PAM, pcscd and desktops started as the user)');
  const other = foreignPcscd();
  if (other !== null) return r.note(`hotdesk: skipped (a pcscd this bench did not start runs, pid ${other})`);
  r.note(`hotdesk (a PIV card moved ${MOVES} times between two terminals; pcscd with vpcd readers, loopback TLS, foot)`);
  makeAccount(USER, PASSWORD, 'hot-desking bench');
  const pcscd = new Pcscd('waydesk bench');
  let s: DevServer | undefined;
  const desks: Desk[] = [];
  const key = makePivKey(USER);
  const card = new FakeCard({ piv: key });
  try {
    await pcscd.start();
    s = await startLoginServer(['foot', '-o', 'cursor.blink=no', 'sh']);
    execFileSync(process.execPath, [SERVER_BIN, 'bind-card', pivToken(key), USER, '--state', s.state]);
    for (const [label, sizes] of [
      ['same_size', [{ width: 1920, height: 1080 }, { width: 1920, height: 1080 }]],
      ['resize', [{ width: 1920, height: 1080 }, { width: 1280, height: 1024 }]],
    ] as const) {
      const pair = [desk(s, `bench-${label}-1`, sizes[0], pcscd.readers[0]), desk(s, `bench-${label}-2`, sizes[1], pcscd.readers[1])];
      desks.push(...pair);
      await waitFor('both readers', () => pair.every((d) => d.cards.state === 'ready' && d.terminal.atGreeter), 15_000);
      await card.insert(pcscd.ports[0]);
      await waitFor('the session at the first terminal', () => pair[0]!.wholeAt > 0, 30_000);
      const ms: number[] = [];
      const late: number[] = [];
      for (let i = 0; i < MOVES; i++) {
        const to = (i + 1) % 2;
        const m = await move(card, pair[to]!, pcscd.ports[to]!);
        ms.push(m.ms);
        late.push(m.lateMs);
        await sleep(300);
      }
      r.add('hotdesk', `card_event_to_whole_picture_${label}_p50`, percentile(ms, 50), 'ms');
      r.add('hotdesk', `card_event_to_whole_picture_${label}_p95`, percentile(ms, 95), 'ms');
      r.add('hotdesk', `pcscd_reports_card_late_${label}_p50`, percentile(late, 50), 'ms');
      r.add('hotdesk', `pcscd_reports_card_late_${label}_p95`, percentile(late, 95), 'ms');
      await card.remove();
      for (const d of pair) {
        d.cards.stop();
        d.terminal.stop();
      }
      await sleep(600);
    }
  } finally {
    await card.remove();
    for (const d of desks) {
      d.cards.stop();
      d.terminal.stop();
    }
    await s?.stop();
    await pcscd.stop();
    removeAccount(USER);
  }
}
