import { EventEmitter } from 'node:events';
import type { CompositorLink } from '@waydesk/compositor/ipc-client';
import { CloseCode, WIRE_VERSION, type Display, type HelloBody, type ServerMessage, type TerminalMessage } from '@waydesk/protocol/wire';
import type { Logger } from './log.js';
import type { SupervisedDesktop } from './supervisor.js';

/** What the terminal endpoint hands the router: one connected, authenticated terminal. */
export interface TerminalPeer {
  readonly hello: HelloBody;
  /** The connection's address. */
  readonly remote: string;
  send(m: ServerMessage): void;
  /**
   * Its session left it: moved to another terminal (CloseCode.TakenOver) or over
   * (CloseCode.SessionEnded). A terminal endpoint that greets shows its greeter with the reason;
   * one that does not closes the connection with the code.
   */
  ended(code: number, reason: string): void;
}

/** A terminal attached to a session, and what the server tracks for it. */
interface Attached {
  peer: TerminalPeer;
  /** The link to the desktop it was greeted with: nothing of another (a restarted one) reaches it before its own welcome. */
  link: CompositorLink | null;
  /** Its display as it last said: what the desktop is sized to, also after a restart. */
  display: Display;
  /** Frames sent to it and not yet acknowledged: only these release the compositor's credits. */
  sent: Set<number>;
  /** Frames encoded before its whole picture continue a stream it never saw: skipped. */
  awaitFull: boolean;
}

/** A desktop under its key (the authenticated token it belongs to), and the terminal showing it. */
interface Session {
  key: string;
  desktop: SupervisedDesktop;
  terminal: Attached | null;
}

function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * Which terminal shows which session. Sessions are keyed by what a terminal proved (its
 * authenticated token), never by anything it chose. A terminal only ever receives the picture
 * of the session attached to it; attaching a session elsewhere takes it from where it was.
 * Moving a session between terminals is a re-route here: the compositor only sees a new size.
 */
/** Where the router's events go besides the log: the store's audit trail. */
export type AuditSink = (event: string, fields: Record<string, unknown>) => void;

export class Router extends EventEmitter<{ attach: [string, TerminalPeer]; detach: [string, TerminalPeer] }> {
  readonly #log: Logger;
  readonly #audit: AuditSink;
  readonly #sessions = new Map<string, Session>();
  readonly #byPeer = new Map<TerminalPeer, Session>();

  constructor(log: Logger, audit: AuditSink = () => {}) {
    super();
    this.#log = log;
    this.#audit = audit;
  }

  get sessions(): ReadonlyArray<{ key: string; desktop: SupervisedDesktop; terminal: string | null }> {
    return [...this.#sessions.values()].map((s) => ({ key: s.key, desktop: s.desktop, terminal: s.terminal?.peer.hello.terminalId ?? null }));
  }

  add(key: string, desktop: SupervisedDesktop): void {
    if (this.#sessions.has(key)) throw new Error(`a session for ${key} exists already`);
    const s: Session = { key, desktop, terminal: null };
    this.#sessions.set(key, s);
    desktop.on('up', (link) => {
      // A terminal that waited through a restart gets the new desktop at once; a desktop nobody
      // shows (adopted after the server's restart) may give back what it keeps for a viewer.
      if (s.terminal) this.#greet(s, s.terminal);
      else link.send({ type: 'detached' });
    });
    desktop.on('down', (why) => {
      if (!s.terminal) return;
      s.terminal.link = null;
      s.terminal.peer.send({ type: 'error', message: why });
    });
    desktop.on('frame', (f, link) => {
      const t = s.terminal;
      // Nobody watching: no acknowledgement, so the compositor runs out of credits and idles.
      if (!t) return;
      // A terminal not yet greeted by this desktop gets nothing of it; its whole picture follows the welcome.
      if (t.link !== link || (t.awaitFull && !f.full)) {
        link.ack(f.seq);
        return;
      }
      if (f.full) {
        t.awaitFull = false;
        // The whole picture supersedes what is in flight, at the compositor too.
        t.sent.clear();
      }
      t.sent.add(f.seq);
      t.peer.send({ type: 'frame', body: f });
    });
    desktop.on('cursor', (c, link) => {
      if (s.terminal?.link === link) s.terminal.peer.send({ type: 'cursor', body: c });
    });
  }

  has(key: string): boolean {
    return this.#sessions.has(key);
  }

  /** Forgets a session whose desktop is over; its terminal is told why and let go. */
  remove(key: string, why: string): void {
    const s = this.#sessions.get(key);
    if (!s) return;
    this.#sessions.delete(key);
    s.desktop.removeAllListeners();
    const t = s.terminal;
    if (t) {
      this.#byPeer.delete(t.peer);
      s.terminal = null;
      t.peer.ended(CloseCode.SessionEnded, why);
    }
    this.#log.info({ session: key }, 'session removed');
  }

  /** Shows the session under `key` on this terminal; false if there is none. */
  attach(key: string, peer: TerminalPeer): boolean {
    const s = this.#sessions.get(key);
    if (!s) return false;
    const prev = s.terminal;
    if (prev) {
      this.detach(prev.peer);
      prev.peer.ended(CloseCode.TakenOver, `your session moved to terminal ${peer.hello.terminalId}`);
    }
    const t: Attached = { peer, link: null, display: peer.hello.displays[0]!, sent: new Set(), awaitFull: true };
    s.terminal = t;
    this.#byPeer.set(peer, s);
    this.#log.info({ terminal: peer.hello.terminalId, kind: peer.hello.kind, display: t.display, session: key, event: 'attach' }, 'terminal attached');
    this.#audit('attach', { session: key, terminal: peer.hello.terminalId, kind: peer.hello.kind, width: t.display.width, height: t.display.height });
    this.emit('attach', key, peer);
    s.desktop.setViewed(true);
    this.#greet(s, t);
    return true;
  }

  #greet(s: Session, t: Attached): void {
    const link = s.desktop.link;
    if (!link) return; // a desktop is starting; it greets when it is up
    t.link = link;
    s.desktop.resize(t.display);
    t.peer.send({ type: 'welcome', body: { version: WIRE_VERSION, width: t.display.width, height: t.display.height, serverTimeUs: nowUs() } });
    if (link.cursor) t.peer.send({ type: 'cursor', body: link.cursor });
    link.send({ type: 'trace', on: t.peer.hello.trace === true });
    t.awaitFull = true;
    t.sent.clear();
    link.send({ type: 'request-full' });
  }

  detach(peer: TerminalPeer): void {
    const s = this.#byPeer.get(peer);
    if (!s) return;
    this.#byPeer.delete(peer);
    if (s.terminal?.peer !== peer) return;
    s.terminal = null;
    // Whatever that terminal held down is released now, not when the next one comes; and the
    // compositor may let go of what it keeps for a viewer.
    s.desktop.link?.send({ type: 'detached' });
    s.desktop.setViewed(false);
    this.#log.info({ terminal: peer.hello.terminalId, session: s.key, event: 'detach' }, 'terminal detached');
    this.#audit('detach', { session: s.key, terminal: peer.hello.terminalId });
    this.emit('detach', s.key, peer);
  }

  fromTerminal(peer: TerminalPeer, m: TerminalMessage): void {
    const s = this.#byPeer.get(peer);
    const t = s?.terminal;
    if (!s || t?.peer !== peer) return;
    if (m.type === 'resize') {
      // Kept while no desktop runs: the next one is made at this size.
      t.display = m.display;
      s.desktop.resize(m.display);
      return;
    }
    const link = t.link;
    if (!link || link !== s.desktop.link) return;
    switch (m.type) {
      case 'key':
      case 'pointer-motion':
      case 'pointer-button':
      case 'pointer-axis':
        link.send(m);
        break;
      case 'frame-ack':
        if (t.sent.delete(m.seq)) link.ack(m.seq);
        break;
      case 'keyframe-request':
        // One whole picture at a time: requests while one is on its way are the same request.
        if (t.awaitFull) break;
        // What is in flight continues the stream the terminal just lost: only the whole picture helps.
        t.awaitFull = true;
        link.send({ type: 'request-full' });
        break;
      default:
        break;
    }
  }
}
