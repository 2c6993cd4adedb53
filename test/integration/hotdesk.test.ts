// Smartcard hot-desking with real parts: a pcscd of the test's own with two vsmartcard vpcd
// readers (one per terminal), fake cards of ours that speak vpcd's socket protocol (a uid card,
// and PIV cards holding real EC P-256 keys that sign the server's challenge), real PAM against
// accounts this test makes and removes, and the real login server with foot desktops.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY, keystrokes } from '../../protocol/src/us-keys.js';
import type { Terminal } from '../../client-firmware/src/terminal.js';
import { cardTerminal, pivToken } from '../helpers/card-terminal.js';
import { FakeCard, makePivKey } from '../helpers/fake-card.js';
import { greeterSays } from '../helpers/greeter.js';
import { foreignPcscd, Pcscd } from '../helpers/pcscd.js';
import { isRoot, sleep, waitFor } from '../helpers/compositor.js';
import { SERVER_BIN, differsFromDesktop, quiet, startLoginServer, type DevServer } from '../helpers/server.js';
import { inkLines } from '../helpers/text.js';
import { makeAccount, removeAccount } from '../helpers/test-user.js';

const PASSWORD = 'card horse battery staple';
const A = 'wdcard-a';
const B = 'wdcard-b';
const DETACHED = 'card out: your session goes on';
/** evdev KEY_X */
const KEY_X = 45;

function uidOf(name: string): number {
  return Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
}

function admin(s: DevServer, ...args: string[]): string {
  return execFileSync(process.execPath, [SERVER_BIN, ...args, '--state', s.state], { encoding: 'utf8' });
}

function typeText(t: Terminal, text: string): void {
  for (const k of keystrokes(text)) t.key(k.code, k.pressed);
}

function typePassword(t: Terminal, password: string): void {
  typeText(t, password);
  t.key(KEY.ENTER, true);
  t.key(KEY.ENTER, false);
}

/** foot's background: the colour of the bottom-right pixel of an idle foot window. */
function background(t: Terminal): number {
  const { width, height, framebuffer } = t.painter;
  return framebuffer.readUInt32LE(((height - 1) * width + width - 1) * 4) & 0xffffff;
}

/** The pixels of the text lines at the top-left of a foot window (rows, at most `w` wide). */
function topText(t: Terminal, w: number): { lines: number; px: Buffer } {
  const { width, height, framebuffer } = t.painter;
  const lines = inkLines(framebuffer, width, height, background(t), w);
  const bottom = lines.at(-1)?.bottom ?? 0;
  const px = Buffer.alloc(w * bottom * 4);
  for (let y = 0; y < bottom; y++) framebuffer.copy(px, y * w * 4, y * width * 4, (y * width + w) * 4);
  return { lines: lines.length, px };
}

async function showsDesktopOf(s: DevServer, t: Terminal, user: string, w: number, h: number): Promise<boolean> {
  if (t.atGreeter || t.painter.width !== w || t.painter.height !== h) return false;
  try {
    return (await differsFromDesktop(s, t.painter.framebuffer, w, h, uidOf(user))) === 0;
  } catch {
    return false;
  }
}

describe.skipIf(!isRoot() || foreignPcscd() !== null)('smartcard hot-desking', () => {
  const pcscd = new Pcscd();
  let s: DevServer;
  let dir = '';
  const keyA = makePivKey('wdcard-a');
  const other = makePivKey('someone else');
  const uidB = Buffer.from('04b0b0b0b0b001', 'hex');
  const made: string[] = [];
  const terminals: Array<{ stop: () => void }> = [];
  const cards: FakeCard[] = [];
  const card = (o: ConstructorParameters<typeof FakeCard>[0]): FakeCard => {
    const c = new FakeCard(o);
    cards.push(c);
    return c;
  };

  beforeAll(async () => {
    for (const name of [A, B]) {
      makeAccount(name, PASSWORD, 'card test');
      made.push(name);
    }
    await pcscd.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-hotdesk-'));
    s = await startLoginServer(['foot', '-o', 'cursor.blink=no', 'sh']);
    admin(s, 'bind-card', pivToken(keyA), A);
    admin(s, 'bind-card', `uid:${uidB.toString('hex')}`, B);
  }, 60_000);
  afterAll(async () => {
    for (const t of terminals) t.stop();
    for (const c of cards) await c.remove();
    await s?.stop();
    await pcscd.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    for (const name of made) removeAccount(name);
  });

  it('two users, two cards: each their own desktop; a card moved to the other terminal takes its desktop along, resized, with what was typed', async () => {
    const t1 = cardTerminal(s, { width: 1920, height: 1080 }, 'desk-1', pcscd.readers[0]);
    const t2 = cardTerminal(s, { width: 1280, height: 1024 }, 'desk-2', pcscd.readers[1]);
    terminals.push(t1, t2);
    const a = card({ uid: Buffer.from('04a0a0a0a0a001', 'hex'), piv: keyA });
    const b = card({ uid: uidB });
    await waitFor('both greeters', () => greeterSays(t1.terminal, '') && greeterSays(t2.terminal, ''), 15_000);

    // A's PIV card proves itself: the desktop opens without a password
    await a.insert(pcscd.ports[0]);
    await waitFor("A's desktop at terminal 1", () => showsDesktopOf(s, t1.terminal, A, 1920, 1080), 30_000);
    expect(s.log()).toMatch(/"by":"card"[^\n]*"msg":"logged in with a card"|"msg":"logged in with a card"/);
    // B's uid card was never used at terminal 2: the password, once, there
    await b.insert(pcscd.ports[1]);
    await waitFor("the greeter asking for B's password", () => /"terminal":"desk-2"[^\n]*"event":"card-password"/.test(s.log()), 10_000);
    typePassword(t2.terminal, PASSWORD);
    await waitFor("B's desktop at terminal 2", () => showsDesktopOf(s, t2.terminal, B, 1280, 1024), 30_000);
    // B takes the card out: the desktop goes on without a terminal, terminal 2 says so
    await b.remove();
    await waitFor('terminal 2 at the greeter', () => greeterSays(t2.terminal, DETACHED), 10_000);

    // A types at terminal 1, then takes the card to terminal 2
    await quiet(t1.terminal, 500);
    const before = topText(t1.terminal, 1280).lines;
    typeText(t1.terminal, 'echo moved with the card\n');
    await waitFor('the typed line and its output', () => topText(t1.terminal, 1280).lines >= before + 2, 10_000);
    await quiet(t1.terminal, 500);
    const typed = topText(t1.terminal, 1280);
    await a.remove();
    await waitFor('terminal 1 at the greeter', () => greeterSays(t1.terminal, DETACHED), 10_000);
    await a.insert(pcscd.ports[1]);
    await waitFor("A's desktop at terminal 2, at its size", () => showsDesktopOf(s, t2.terminal, A, 1280, 1024), 30_000);
    await quiet(t2.terminal, 600);
    // the same lines, pixel for pixel, where they were: the same desktop, only resized
    const moved = topText(t2.terminal, 1280);
    expect(moved.lines).toBe(typed.lines);
    expect(moved.px.equals(typed.px)).toBe(true);
    // and back: the same session at terminal 1, at its size again
    await a.remove();
    await a.insert(pcscd.ports[0]);
    await waitFor("A's desktop back at terminal 1", () => showsDesktopOf(s, t1.terminal, A, 1920, 1080), 30_000);
    expect(s.log().match(/"session":"user:wdcard-a"[^\n]*"event":"session-new"/g)).toHaveLength(1);
    await a.remove();
    await waitFor('terminal 1 at the greeter', () => greeterSays(t1.terminal, DETACHED), 10_000);
    t1.stop();
    t2.stop();
  }, 180_000);

  it('a key held down while the card moves is released: nothing repeats or sticks at the next terminal', async () => {
    const t1 = cardTerminal(s, { width: 1024, height: 768 }, 'desk-3', pcscd.readers[0]);
    const t2 = cardTerminal(s, { width: 1024, height: 768 }, 'desk-4', pcscd.readers[1]);
    terminals.push(t1, t2);
    const a = card({ piv: keyA });
    await waitFor('both greeters', () => greeterSays(t1.terminal, '') && greeterSays(t2.terminal, ''), 15_000);
    await a.insert(pcscd.ports[0]);
    await waitFor("A's desktop at terminal 3", () => showsDesktopOf(s, t1.terminal, A, 1024, 768), 30_000);
    typeText(t1.terminal, 'clear\n');
    await quiet(t1.terminal, 600);
    // x goes down at terminal 3 and is never let go there: the card leaves with the key held
    t1.terminal.key(KEY_X, true);
    await sleep(100);
    await a.remove();
    await a.insert(pcscd.ports[1]);
    await waitFor("A's desktop at terminal 4", () => showsDesktopOf(s, t2.terminal, A, 1024, 768), 30_000);
    // foot would repeat a held key every 40 ms after 600: the picture stays as it is
    await quiet(t2.terminal, 1500);
    const still = Buffer.from(t2.terminal.painter.framebuffer);
    await sleep(1500);
    expect(t2.terminal.painter.framebuffer.equals(still)).toBe(true);
    // what terminal 3 sends now (its x let go, more typing) reaches nothing
    t1.terminal.key(KEY_X, false);
    typeText(t1.terminal, 'echo from the old terminal\n');
    await sleep(800);
    expect(t2.terminal.painter.framebuffer.equals(still)).toBe(true);
    await a.remove();
    t1.stop();
    t2.stop();
  }, 120_000);

  it('a copied UID is taken only as the policy says; a PIV card with the wrong key, or a replayed answer, is refused and logged', async () => {
    const t1 = cardTerminal(s, { width: 800, height: 600 }, 'desk-5', pcscd.readers[0]);
    terminals.push(t1);
    await waitFor('the greeter', () => greeterSays(t1.terminal, ''), 15_000);
    // B's UID copied onto a card with a key of its own: a PIV card nobody registered
    const copied = card({ uid: uidB, piv: other });
    await copied.insert(pcscd.ports[0]);
    await waitFor('the refusal', () => greeterSays(t1.terminal, 'card not registered: ask an administrator'), 10_000);
    await copied.remove();
    // the UID alone, at a terminal where B's card was not last used: the password first (uidAlone: same-terminal)
    const uidOnly = card({ uid: uidB });
    await uidOnly.insert(pcscd.ports[0]);
    await waitFor('the greeter asking for the password', () => /"terminal":"desk-5"[^\n]*"event":"card-password"/.test(s.log()), 10_000);
    expect(t1.terminal.atGreeter).toBe(true);
    expect(s.log()).not.toMatch(/"terminal":"desk-5"[^\n]*"event":"attach"/);
    await uidOnly.remove();
    // A's certificate, signed with another key
    const forged = card({ piv: { ...keyA, privateKey: other.privateKey } });
    await forged.insert(pcscd.ports[0]);
    await waitFor('the forged card refused', () => greeterSays(t1.terminal, 'card check failed: ask an administrator'), 10_000);
    await forged.remove();
    // the log is written as it goes, not before the greeter's answer arrives: waited for
    await waitFor('the refusal logged', () => /"reason":"bad-signature"/.test(s.log()), 5000);
    // a card that answers every challenge with its first answer: let in once, then refused
    const replaying = card({ piv: keyA, replay: true });
    await replaying.insert(pcscd.ports[0]);
    await waitFor("A's desktop", () => showsDesktopOf(s, t1.terminal, A, 800, 600), 30_000);
    await replaying.remove();
    await waitFor('the greeter', () => greeterSays(t1.terminal, DETACHED), 10_000);
    const refusals = s.log().match(/"reason":"bad-signature"/g)?.length ?? 0;
    await replaying.insert(pcscd.ports[0]);
    await waitFor('the replay refused', () => greeterSays(t1.terminal, 'card check failed: ask an administrator'), 10_000);
    await waitFor('the replay logged', () => (s.log().match(/"reason":"bad-signature"/g)?.length ?? 0) === refusals + 1, 5000);
    await replaying.remove();
    // the audit trail has them, for the administrator
    expect(admin(s, 'audit', '--limit', '200')).toMatch(/card-refused[^\n]*reason=bad-signature/);
    t1.stop();
  }, 120_000);

  it('an unknown card is refused where users may not register cards, and registered after a password login where they may', async () => {
    const t1 = cardTerminal(s, { width: 800, height: 600 }, 'desk-6', pcscd.readers[0]);
    terminals.push(t1);
    await waitFor('the greeter', () => greeterSays(t1.terminal, ''), 15_000);
    const fresh = card({ uid: Buffer.from('04c0c0c0c0c001', 'hex') });
    await fresh.insert(pcscd.ports[0]);
    await waitFor('the refusal', () => greeterSays(t1.terminal, 'card not registered: ask an administrator'), 10_000);
    await fresh.remove();
    await waitFor('the refusal logged with its token', () => /"token":"uid:04c0c0c0c0c001"[^\n]*"reason":"not-registered"/.test(s.log()), 5000);
    t1.stop();

    const config = path.join(dir, 'self-register.json');
    fs.writeFileSync(config, JSON.stringify({ cards: { selfRegister: true } }));
    const open = await startLoginServer(['foot', 'sh'], ['--config', config]);
    try {
      const t = cardTerminal(open, { width: 800, height: 600 }, 'desk-7', pcscd.readers[0]);
      terminals.push(t);
      await waitFor('the greeter', () => greeterSays(t.terminal, ''), 15_000);
      await fresh.insert(pcscd.ports[0]);
      await waitFor('the greeter asking to register the card', () => /"terminal":"desk-7"[^\n]*"event":"card-password"/.test(open.log()), 10_000);
      // whoever logs in now registers the card: the user name, then the password
      typeText(t.terminal, B);
      t.terminal.key(KEY.ENTER, true);
      t.terminal.key(KEY.ENTER, false);
      typePassword(t.terminal, PASSWORD);
      await waitFor("B's desktop", () => showsDesktopOf(open, t.terminal, B, 800, 600), 30_000);
      expect(admin(open, 'cards')).toMatch(/uid:04c0c0c0c0c001\s+wdcard-b\s+ok/);
      // the registered card, out and in at the same terminal: B's desktop without the password
      await fresh.remove();
      await waitFor('the greeter', () => greeterSays(t.terminal, DETACHED), 10_000);
      await fresh.insert(pcscd.ports[0]);
      await waitFor("B's desktop again", () => showsDesktopOf(open, t.terminal, B, 800, 600), 30_000);
      // blocked by an administrator: it opens nothing any more
      await fresh.remove();
      admin(open, 'block-card', 'uid:04c0c0c0c0c001');
      await fresh.insert(pcscd.ports[0]);
      await waitFor('the blocked card refused', () => greeterSays(t.terminal, 'this card is blocked: ask an administrator'), 10_000);
      await fresh.remove();
      t.stop();
    } finally {
      await open.stop();
    }
  }, 120_000);

  it('a card whose key wants its PIN asks for it at the greeter: a wrong one is told with the tries left, the right one opens the desktop, and neither is logged', async () => {
    const t1 = cardTerminal(s, { width: 800, height: 600 }, 'desk-9', pcscd.readers[1]);
    terminals.push(t1);
    const withPin = card({ piv: keyA, pin: '246810' });
    await waitFor('the reader', () => t1.cards.state === 'ready' && greeterSays(t1.terminal, ''), 15_000);
    await sleep(1000);
    await withPin.insert(pcscd.ports[1]);
    await waitFor('the greeter asking for the PIN', () => /"terminal":"desk-9"[^\n]*"event":"card-pin"/.test(s.log()), 10_000);
    typePassword(t1.terminal, '135791');
    await waitFor('the wrong PIN told', () => greeterSays(t1.terminal, 'wrong PIN: 2 tries left'), 10_000);
    typePassword(t1.terminal, '246810');
    await waitFor("A's desktop", () => showsDesktopOf(s, t1.terminal, A, 800, 600), 30_000);
    // the PINs reached the card as typed, through the terminal, and stayed out of the log and the audit trail
    expect(withPin.pinsGiven).toEqual(['135791', '246810']);
    expect(s.log()).not.toMatch(/135791|246810/);
    expect(admin(s, 'audit', '--limit', '500')).not.toMatch(/135791|246810/);
    expect(admin(s, 'audit', '--limit', '500')).toMatch(/card-pin-wrong[^\n]*triesLeft=2/);
    await withPin.remove();
    await waitFor('the greeter', () => greeterSays(t1.terminal, DETACHED), 10_000);
    t1.stop();
  }, 120_000);

  it('slows down a terminal that keeps putting in cards that are refused, as it does wrong passwords', async () => {
    const t1 = cardTerminal(s, { width: 800, height: 600 }, 'desk-11', pcscd.readers[1]);
    terminals.push(t1);
    await waitFor('the reader', () => t1.cards.state === 'ready' && greeterSays(t1.terminal, ''), 15_000);
    await sleep(1000);
    const refused = (): number => s.log().match(/"terminal":"desk-11@[^\n]*"reason":"not-registered"/g)?.length ?? 0;
    const throttled = (): number => s.log().match(/"terminal":"desk-11"[^\n]*"event":"card-throttled"/g)?.length ?? 0;
    // unknown cards one after another, as fast as a person could: three are free, then each waits
    // twice as long as the last (1 s, 2 s, 4 s), and what comes sooner is not even looked at
    let sawWait = false;
    for (let i = 0; i < 6; i++) {
      const guess = card({ uid: Buffer.from([0x04, 0xee, 0xee, i]) });
      const before = refused() + throttled();
      await guess.insert(pcscd.ports[1]);
      await waitFor(`an answer to card ${i + 1}`, () => refused() + throttled() > before, 15_000);
      sawWait ||= ['1', '2', '3', '4'].some((n) => greeterSays(t1.terminal, `too many failed logins: try again in ${n} s`));
      await guess.remove();
      await sleep(600);
    }
    expect(refused()).toBeGreaterThanOrEqual(3);
    expect(throttled()).toBeGreaterThanOrEqual(1);
    expect(refused() + throttled()).toBe(6);
    expect(sawWait).toBe(true);
    t1.stop();
  }, 120_000);

  it('logs the session out when its card is taken out, where the policy says so', async () => {
    const config = path.join(dir, 'logout.json');
    fs.writeFileSync(config, JSON.stringify({ cards: { onRemove: 'logout' } }));
    const strict = await startLoginServer(['foot', 'sh'], ['--config', config]);
    try {
      admin(strict, 'bind-card', pivToken(keyA), A);
      const t = cardTerminal(strict, { width: 800, height: 600 }, 'desk-10', pcscd.readers[1]);
      terminals.push(t);
      const a = card({ piv: keyA });
      await waitFor('the reader', () => t.cards.state === 'ready' && greeterSays(t.terminal, ''), 15_000);
      await sleep(1000);
      await a.insert(pcscd.ports[1]);
      await waitFor("A's desktop", () => showsDesktopOf(strict, t.terminal, A, 800, 600), 30_000);
      await a.remove();
      await waitFor('the greeter saying the session is over', () => greeterSays(t.terminal, 'card out: you are logged out'), 10_000);
      await waitFor(`the session over (log: ${strict.log().slice(-2000)})`, () => /"session":"user:wdcard-a"[^\n]*"event":"session-end"/.test(strict.log()), 30_000);
      t.stop();
    } finally {
      await strict.stop();
    }
  }, 120_000);

  it('survives pcscd being killed and started again: the next card still opens its desktop', async () => {
    const t1 = cardTerminal(s, { width: 800, height: 600 }, 'desk-8', pcscd.readers[0]);
    terminals.push(t1);
    const a = card({ piv: keyA });
    await waitFor('the reader', () => t1.cards.state === 'ready', 10_000);
    // pcscd polls its readers every 400 ms: a card pulled out just before (the last test's) and
    // put in again within one poll is never seen to leave, so this one waits a poll out
    await sleep(1000);
    await a.insert(pcscd.ports[0]);
    await waitFor("A's desktop", () => showsDesktopOf(s, t1.terminal, A, 800, 600), 30_000);
    await pcscd.kill();
    // nobody can see the card any more: the session is not left open on trust
    await waitFor('the greeter once pcscd is gone', () => t1.terminal.atGreeter, 10_000);
    expect(t1.cards.state).toBe('unavailable');
    await a.remove();
    await pcscd.start();
    await waitFor('the reader back', () => t1.cards.state === 'ready', 10_000);
    await a.insert(pcscd.ports[0]);
    await waitFor("A's desktop again", () => showsDesktopOf(s, t1.terminal, A, 800, 600), 30_000);
    await a.remove();
    t1.stop();
  }, 120_000);
});
