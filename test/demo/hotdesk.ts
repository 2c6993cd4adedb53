// npm run demo:hotdesk [-- DIR]: smartcard hot-desking to watch, on this machine. A pcscd with two
// virtual readers, the login server, two headless terminals (1920x1080 and 1280x1024), a demo
// user and a PIV card of our own bound to them. The card goes into terminal 1, the user types,
// the card moves to terminal 2: pictures of both terminals are written to DIR before and after.
// Needs root (PAM, pcscd, a desktop started as the user); the user and the card are removed after.
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { PcscCardReader } from '../../client-firmware/src/card-reader.js';
import type { HeadlessPresenter } from '../../client-firmware/src/headless-presenter.js';
import { createLogger } from '../../client-firmware/src/log.js';
import type { Terminal } from '../../client-firmware/src/terminal.js';
import { keystrokes } from '../../protocol/src/us-keys.js';
import { cardTerminal, pivToken } from '../helpers/card-terminal.js';
import { FakeCard, makePivKey } from '../helpers/fake-card.js';
import { foreignPcscd, Pcscd } from '../helpers/pcscd.js';
import { isRoot, sleep, waitFor } from '../helpers/compositor.js';
import { SERVER_BIN, quiet, startLoginServer, type DevServer } from '../helpers/server.js';
import { makeAccount, removeAccount } from '../helpers/test-user.js';

const USER = 'wddemo-card';
const out = path.resolve(process.argv.slice(2).find((a) => a !== '--') ?? 'demo-hotdesk');
const say = (s: string): void => void process.stdout.write(`demo: ${s}\n`);

if (!isRoot()) {
  process.stderr.write('demo:hotdesk needs root: it makes a user, starts pcscd and a desktop as that user\n');
  process.exit(2);
}
const other = foreignPcscd();
if (other !== null) {
  process.stderr.write(`demo:hotdesk starts its own pcscd, and one runs already (pid ${other}): stop it first\n`);
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });
const log = createLogger('demo');
log.level = 'warn';
makeAccount(USER, crypto.randomBytes(12).toString('hex'), 'hot-desking demo');
const pcscd = new Pcscd('waydesk demo');
const key = makePivKey(USER);
const card = new FakeCard({ piv: key, uid: Buffer.from('04de0de0de0de0', 'hex') });
let s: DevServer | undefined;
const terminals: Array<{ t: Terminal; cards: PcscCardReader; png: HeadlessPresenter }> = [];
try {
  await pcscd.start();
  say(`pcscd runs with two virtual readers: ${pcscd.readers.join(', ')}`);
  s = await startLoginServer(['foot', '-o', 'cursor.blink=no', 'sh']);
  execFileSync(process.execPath, [SERVER_BIN, 'bind-card', pivToken(key), USER, '--state', s.state], { stdio: 'inherit' });
  for (const [i, size] of [{ width: 1920, height: 1080 }, { width: 1280, height: 1024 }].entries()) {
    const d = cardTerminal(s, size, `demo-desk-${i + 1}`, pcscd.readers[i]!, log);
    terminals.push({ t: d.terminal, cards: d.cards, png: d.presenter });
  }
  const [one, two] = terminals as [(typeof terminals)[0], (typeof terminals)[0]];
  await waitFor('both greeters', () => terminals.every((x) => x.t.atGreeter && x.cards.state === 'ready'), 20_000);
  await sleep(1000);
  say('the card goes into terminal 1');
  await card.insert(pcscd.ports[0]);
  await waitFor("the user's desktop at terminal 1", () => !one.t.atGreeter && one.t.painter.width === 1920, 30_000);
  await quiet(one.t, 800);
  for (const k of keystrokes('echo typed at terminal 1, before the card moved\n')) one.t.key(k.code, k.pressed);
  await quiet(one.t, 800);
  await quiet(two.t, 300);
  one.png.writePng(path.join(out, 'before-terminal-1.png'));
  two.png.writePng(path.join(out, 'before-terminal-2.png'));
  say('the card moves to terminal 2');
  await card.remove();
  await sleep(600);
  await card.insert(pcscd.ports[1]);
  await waitFor("the user's desktop at terminal 2", () => !two.t.atGreeter && two.t.painter.width === 1280, 30_000);
  await quiet(two.t, 800);
  await quiet(one.t, 300);
  one.png.writePng(path.join(out, 'after-terminal-1.png'));
  two.png.writePng(path.join(out, 'after-terminal-2.png'));
  say(`pictures in ${out}: before-terminal-{1,2}.png, after-terminal-{1,2}.png`);
} finally {
  await card.remove();
  for (const x of terminals) {
    x.cards.stop();
    x.t.stop();
  }
  await s?.stop();
  await pcscd.stop();
  removeAccount(USER);
}
