// The netbooted terminal's program (pxe/: the image's /init starts it): finds the server
// (discovery.ts), shows the greeter and the desktop on the screen through DRM/KMS, sends the
// keyboard and mouse, and says on its screen (and its console) what is wrong when there is no
// server to show: looking for it, unreachable, a certificate that does not match, no keyboard.
import fs from 'node:fs';
import { directly, drmCards, Screen, Seat, type DeviceOpener } from '@waydesk/native-drm';
import { PcscCardReader } from './card-reader.js';
import { DiscoveryError, discover } from './discovery.js';
import { DrmPresenter } from './drm-presenter.js';
import { EvdevInput } from './evdev-input.js';
import { createLogger } from './log.js';
import { drawStatusScreen } from './status-screen.js';
import { Terminal } from './terminal.js';

/** A ping a second: about 60 bytes a second each way, so a lost server shows within SILENT_MS. */
const HEARTBEAT_MS = 1000;
/** What /init does when the program ends with this: reboot (into the image the server serves). */
const EXIT_REBOOT = 3;
const IMAGE_VERSION_FILE = '/etc/waydesk/image-version';
const say = (s: string): void => void process.stdout.write(`waydesk-terminal: ${s}\n`);
const log = createLogger('waydesk-terminal');

/**
 * The seat (seatd, which the image's /init starts): the devices come from it, and the program
 * need not be root. Without one, root opens them itself; anyone else has no screen.
 */
async function openSeat(): Promise<Seat | null> {
  let seat: Seat;
  try {
    seat = new Seat();
  } catch (err) {
    say(`no seat (${(err as Error).message}); ${process.getuid?.() === 0 ? 'opening the devices directly, as root' : 'without root there is no screen or input'}`);
    return null;
  }
  if (!seat.active) await new Promise<void>((r) => seat.once('enable', () => r()));
  say(`seat ${seat.name}, running as uid ${process.getuid?.()}`);
  return seat;
}

/** The first DRM device that drives a monitor; null (and why, on the console) when none does. */
function openScreen(opener: DeviceOpener): Screen | null {
  const cards = drmCards();
  if (cards.length === 0) say('no screen: no DRM device (/dev/dri/card*); is the GPU driver in the image?');
  for (const card of cards) {
    try {
      const s = new Screen(card, opener);
      say(`screen ${s.info.connector} ${s.info.width}x${s.info.height}@${(s.info.refreshMhz / 1000).toFixed(0)} on ${card} (${s.info.driver}, ${s.info.hwCursor ? 'hardware' : 'software'} cursor)`);
      return s;
    } catch (err) {
      say(`no screen on ${card}: ${(err as Error).message}`);
    }
  }
  return null;
}

/** A problem the terminal cannot get past by itself: on the screen and the console, for good. */
function stuck(screen: Screen | null, title: string, detail: string): never {
  say(`${title}: ${detail}`);
  if (screen) screen.present(drawStatusScreen(screen.info.width, screen.info.height, { title, detail, problem: true }), screen.info.width, screen.info.height, null);
  // nothing to retry: keep the message up until someone fixes the boot configuration
  setInterval(() => {}, 1 << 30);
  throw new Error('unreachable');
}

async function main(): Promise<void> {
  say('looking for the server');
  const seat = await openSeat();
  const opener = seat ?? directly;
  const screen = openScreen(opener);
  let found;
  try {
    found = discover({ cmdline: process.env.WAYDESK_CMDLINE, configFile: process.env.WAYDESK_TERMINAL_CONFIG });
  } catch (err) {
    if (!(err instanceof DiscoveryError)) throw err;
    stuck(screen, 'the boot configuration is wrong', err.message);
  }
  if (!found) stuck(screen, 'no server named', 'the boot configuration must give waydesk.server=HOST:PORT and waydesk.fingerprint=SHA256');
  say(`server ${found.url} (from ${found.from})`);
  const terminalId = (process.env.WAYDESK_TERMINAL_ID || 'netboot').replace(/[^A-Za-z0-9:._-]/g, '-').slice(0, 64);
  const display = screen ? { width: screen.info.width, height: screen.info.height, refreshMhz: screen.info.refreshMhz } : { width: 1280, height: 800, refreshMhz: 60000 };
  // a heartbeat: the screen must not show a frozen picture as live when the cable is pulled
  const image = fs.existsSync(IMAGE_VERSION_FILE) ? fs.readFileSync(IMAGE_VERSION_FILE, 'utf8').trim() : undefined;
  // the first card reader pcscd has (the image's pcscd, USB CCID readers)
  const cards = new PcscCardReader({ log });
  const terminal = new Terminal({ url: found.url, fingerprint: found.fingerprint, terminalId, display, kind: 'drm', log, heartbeatMs: HEARTBEAT_MS, image, cards });
  const presenter = screen ? new DrmPresenter(screen, terminal, { title: 'looking for the server', detail: found.url }, log) : null;
  const input = presenter ? new EvdevInput({ terminal, pointer: presenter, log, opener, ...(seat ? { switchSession: (n: number) => void seat.switchSession(n) } : {}) }) : null;
  // The seat goes to another session (Ctrl+Alt+Fn) and comes back: let go of the devices, and
  // take them up again with the whole picture.
  seat?.on('disable', () => {
    say('the seat went to another session');
    presenter?.pause();
    input?.stop();
    seat.ackDisable();
  });
  // seatd ended (crashed, restarted): its devices are gone with it, and this libseat cannot get
  // them back. The image's init restarts seatd and this program.
  seat?.on('gone', () => {
    say('the seat daemon went away: starting again');
    process.exit(1);
  });
  seat?.on('enable', () => {
    say('the seat is back');
    try {
      screen?.acquire();
    } catch (err) {
      say(`the screen did not come back: ${(err as Error).message}`);
    }
    presenter?.resume();
    input?.start();
  });
  let last = '';
  const report = (s: string): void => {
    if (s !== last) say(s);
    last = s;
  };
  // Without a keyboard nobody can log in at the greeter: say so rather than show a form no one can fill.
  let noKeyboard = false;
  const keyboardCheck = (): void => {
    // while the seat is away its devices are too: that is not a missing keyboard
    if (!presenter || !input || !terminal.atGreeter || (seat && !seat.active)) return;
    if (input.keyboards === 0 && !noKeyboard) {
      noKeyboard = true;
      report('no keyboard');
      presenter.notice({ title: 'no keyboard', detail: 'plug a keyboard into this terminal to log in', problem: true });
    } else if (input.keyboards > 0 && noKeyboard) {
      noKeyboard = false;
      report('keyboard found');
      presenter.notice(null);
    }
  };
  terminal.on('status', (s) => {
    if (s.state === 'greeter') {
      report(`at the greeter (${terminal.painter.width || display.width}x${terminal.painter.height || display.height})`);
      setTimeout(keyboardCheck, 2000).unref();
    } else if (s.state === 'certificate') report(`certificate does not match: ${s.message}; not connecting to it`);
    else if (s.state === 'silent') report('lost the server: the picture is marked as not live');
    else if (s.state === 'connected' && last.startsWith('lost the server')) report(terminal.atGreeter ? 'the server answers again: at the greeter' : 'the server answers again: showing the session');
    else report(s.message);
  });
  terminal.on('frame', () => {
    if (!terminal.atGreeter && last.startsWith('at the greeter')) report('showing a session');
  });
  // a second later: devices go and come in bursts (a seat switch revokes them before it says so)
  input?.on('change', () => setTimeout(keyboardCheck, 1000).unref());
  // Told only at the greeter: nobody's session is open here, so now is the idle moment.
  terminal.on('image-update', (version) => {
    say(`the server serves image ${version}: booting it`);
    presenter?.status({ title: 'updating this terminal', detail: `booting image ${version}` });
    terminal.stop();
    setTimeout(() => process.exit(EXIT_REBOOT), 500);
  });
  cards.on('state', (state) => say(`card reader: ${state}`));
  terminal.start();
  input?.start();
  cards.start();
  const stop = (): void => {
    input?.stop();
    cards.stop();
    terminal.stop();
    presenter?.close();
    screen?.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

await main();
