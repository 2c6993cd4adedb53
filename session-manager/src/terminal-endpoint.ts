import {
  CloseCode,
  WIRE_VERSION,
  WireError,
  decodeTerminalMessage,
  encodeServerMessage,
  type AuthBody,
  type CardBody,
  type Display,
  type LoginBody,
  type HelloBody,
  type ServerMessage,
} from '@waydesk/protocol/wire';
import { Greeter, type GreeterAsk, type GreeterOutcome, type ReaderLine } from './greeter.js';
import type { Router, TerminalPeer } from './router.js';
import type { Logger } from './log.js';
import type { TerminalChannel } from './transport.js';

/** A connection must say hello and authenticate within this time, or it is closed. */
export const GREETING_TIMEOUT_MS = 5000;
/** Longest a password login may take with PAM before the terminal is told to try again. */
const LOGIN_TIMEOUT_MS = 30_000;
/** What an unauthenticated connection may leave unread (pongs and one error) before it is dropped. */
const PREAUTH_BUFFER_LIMIT = 64 * 1024;
/** What a terminal at the greeter may leave unread: a few of its whole pictures, whatever size it claims. */
const GREETER_BUFFER_LIMIT = 4 * 1024 * 1024;

/**
 * Whom the waiting room counts together: an IPv4 address, or an IPv6 /64 (one host can take a
 * whole /64, so counting single IPv6 addresses would count nothing).
 */
export function waitingKey(remote: string): string {
  const host = remote.replace(/^\[/, '').replace(/\]?:\d+$/, '');
  if (!host.includes(':') || /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(host)) return host.replace(/^::ffff:/i, '');
  // expand "::" to get the first four groups
  const [head, tail = ''] = host.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = host.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/**
 * What a terminal that does not read may leave in the server's send buffer: about two whole
 * pictures of its display (3 bytes a pixel, what incompressible tiles take), plus room for
 * control messages. Past it the terminal is dropped: the server never buffers for a reader
 * that stopped.
 */
export function sendBufferLimit(d: { width: number; height: number }): number {
  return 2 * d.width * d.height * 3 + 1024 * 1024;
}

/** What a login outcome may say besides its message: the password must be changed first. */
export type LoginResult =
  | { key: string }
  | { message: string; changePassword?: (newPassword: string) => Promise<LoginResult>; cancel?: () => void };

/** What a card at a terminal opens: a session, nothing (why), or the greeter asking for a password, or the card's PIN, first. */
export type CardOutcome =
  | { key: string }
  | { message: string }
  | { password: { user: string | null; prompt: string; login: (body: LoginBody) => Promise<LoginResult> } }
  | { pin: { prompt: string; message: string; submit: (pin: string) => Promise<CardOutcome> } };

/** The card wants its PIN before it signs (or the one given was wrong, or it is blocked). */
export class CardPinNeeded extends Error {
  override name = 'CardPinNeeded';
  constructor(
    readonly triesLeft: number | null,
    readonly blocked: boolean,
  ) {
    super('the card wants its PIN');
  }
}

/** Card logins: the card in a terminal's reader, proved where it can be. */
export interface CardAuth {
  /** `prove` has the card sign a challenge digest (through the terminal, with the PIN if given) and gives the signature; CardPinNeeded: it wants the PIN. */
  inserted(card: Extract<CardBody, { event: 'inserted' }>, from: { remote: string; terminal: string }, prove: (digest: Buffer, pin?: string) => Promise<Buffer>): Promise<CardOutcome>;
  /** The card that opened the session `key` at this terminal was taken out: detach it, or it was ended (logged out). */
  removed(key: string, from: { remote: string; terminal: string }): Promise<'detach' | 'ended'>;
}

/** How long a card has to sign the server's challenge. */
const CARD_PROOF_MS = 10_000;

/** Decides what a terminal's credentials open: the key of its session. */
export interface Authenticator {
  /** Cards. Absent: card events are ignored here. */
  card?: CardAuth;
  /** A token (the single-user server, kiosks): the session's key, or null for a wrong one. Absent: tokens are not taken here. */
  token?(auth: AuthBody): string | null;
  /** A user's password: the session's key (made if the user has none), or what to tell the terminal. Absent: no logins here. */
  login?(body: LoginBody, from: { remote: string; terminal: string }): Promise<LoginResult>;
}

export interface EndpointOptions {
  router: Router;
  auth: Authenticator;
  log: Logger;
  /** The greeter's title (a server that logs users in shows a greeter to every terminal without a session). */
  serverName: string;
  /** Connections not yet showing a session, per address. */
  waiting: WaitingRoom;
  /** The version of the netboot image the server serves now (null: none), read at each hello. */
  servedImage?: () => string | null;
}

/**
 * Bounds connections that have not logged in: a greeter is cheap, but not free, and anyone who
 * reaches the port can open one.
 */
export class WaitingRoom {
  readonly #byAddress = new Map<string, number>();
  constructor(readonly perAddress = 32) {}
  enter(address: string): boolean {
    const n = this.#byAddress.get(address) ?? 0;
    if (n >= this.perAddress) return false;
    this.#byAddress.set(address, n + 1);
    return true;
  }
  leave(address: string): void {
    const n = (this.#byAddress.get(address) ?? 1) - 1;
    if (n <= 0) this.#byAddress.delete(address);
    else this.#byAddress.set(address, n);
  }
}

/**
 * The terminal protocol over one channel, a state machine: unauthenticated (hello, auth or
 * login, ping) → at the greeter (a server that logs users in: keys go to the login form) →
 * attached (to a session) → at the greeter again when the session moves on or ends. Anything
 * malformed, oversized or out of order gets an error message and a closed connection. Nothing a
 * terminal sends before it is attached reaches a desktop.
 */
export function serveTerminal(ch: TerminalChannel, o: EndpointOptions): void {
  const { router, auth, log } = o;
  const address = waitingKey(ch.remote);
  let hello: HelloBody | null = null;
  let peer: TerminalPeer | null = null;
  let greeter: Greeter | null = null;
  let closed = false;
  /** A login message is with PAM: nothing but pings until it is decided. */
  let pending = false;
  /** A login typed at the greeter is with PAM. */
  let greeterBusy = false;
  let limit = PREAUTH_BUFFER_LIMIT;
  let display: Display | null = null;
  /** Counted in the waiting room: at the greeter, not logged in. */
  let waiting = false;
  /** Keys pressed at the greeter: their releases belong to it, not to the session that follows. */
  const heldAtGreeter = new Set<number>();
  /** The session shown here, and whether a card in the reader opened it (its removal then detaches it). */
  let shownKey: string | null = null;
  let cardKey: string | null = null;
  let reader: ReaderLine = null;
  /** Bumps with every card event: what was decided for a card that left since is dropped. */
  let cardGeneration = 0;
  /** The card's answer to the challenge, awaited. */
  let proof: { resolve: (sig: Buffer) => void; reject: (err: Error) => void } | null = null;
  const leaveWaiting = (): void => {
    if (waiting) o.waiting.leave(address);
    waiting = false;
  };
  /** Ends it here at once, whatever the network does with the close: nothing more goes to it or comes from it. */
  const finish = (): void => {
    closed = true;
    clearTimeout(greetingTimer);
    greeter?.stop();
    greeter = null;
    leaveWaiting();
    proof?.reject(new Error('the terminal went away'));
    proof = null;
    // a terminal that goes away can no longer say its card left: where the policy logs a card's
    // session out when it does, it does so now, rather than trust a card nobody can see
    const key = cardKey !== null && shownKey === cardKey ? cardKey : null;
    if (peer) router.detach(peer);
    if (key !== null && hello) {
      auth.card?.removed(key, { remote: ch.remote, terminal: hello.terminalId }).catch((err: Error) => log.error({ session: key, err: err.message }, 'the session of a card could not be ended'));
    }
  };
  const drop = (reason: string): void => {
    if (closed) return;
    log.warn({ remote: ch.remote, terminal: hello?.terminalId, reason }, 'dropping terminal connection');
    finish();
    ch.terminate();
  };
  const send = (m: ServerMessage): void => {
    if (closed) return;
    const data = encodeServerMessage(m);
    // Around a resize, a session's pictures of the old size are still on their way: they count at
    // their size. The greeter's stay under its own limit, whatever size the terminal claims.
    if (m.type === 'frame' && display && peer) limit = Math.max(sendBufferLimit(m.body), sendBufferLimit(display));
    // Checked before the message is queued, so the limit is what is ever held, not one picture more.
    const waitingBytes = ch.bufferedAmount + data.length;
    if (waitingBytes > limit) return drop(`it does not read what it is sent: ${waitingBytes} bytes waiting, the limit is ${limit}`);
    ch.send(data);
  };
  const close = (code: number, message: string): void => {
    if (closed) return;
    log.warn({ remote: ch.remote, terminal: hello?.terminalId, code, reason: message }, 'closing terminal connection');
    // A displaced terminal is not at fault: its close code alone says why, and it must arrive
    // (an error message queued behind pictures could get it dropped instead).
    if (code !== CloseCode.TakenOver) send({ type: 'error', message });
    if (closed) return;
    finish();
    ch.close(code, message);
  };
  const refuse = (message: string): void => close(CloseCode.Protocol, message);
  const greetingTimer = setTimeout(() => {
    if (!hello) return refuse(`no hello within ${GREETING_TIMEOUT_MS} ms`);
    if (auth.login) return;
    log.warn({ remote: ch.remote, terminal: hello.terminalId, event: 'auth-missing' }, 'refused a terminal: no credentials');
    close(CloseCode.Unauthorized, `no token within ${GREETING_TIMEOUT_MS} ms`);
  }, GREETING_TIMEOUT_MS);

  const from = (): { remote: string; terminal: string } => ({ remote: ch.remote, terminal: hello!.terminalId });
  const open = (key: string): boolean => {
    const h = hello!;
    // one session per connection: a second login that succeeds while one is shown opens nothing here
    if (peer) return false;
    log.info({ remote: ch.remote, terminal: h.terminalId, event: 'auth-ok' }, 'terminal authenticated');
    display ??= h.displays[0]!;
    limit = sendBufferLimit(display);
    // The session is sized to the display as the terminal last said it (a resize at the greeter counts).
    const p: TerminalPeer = { hello: { ...h, displays: [display] }, remote: ch.remote, send, ended: (code, why) => ended(p, code, why) };
    if (!router.attach(key, p)) return false;
    greeter?.stop();
    greeter = null;
    peer = p;
    shownKey = key;
    leaveWaiting();
    return true;
  };
  /** Takes the session shown here off this terminal (it runs on, detached), as a card taken out or another put in does. */
  const letGo = (): void => {
    if (!peer) return;
    const p = peer;
    peer = null;
    shownKey = null;
    router.detach(p);
  };
  /** The session left this terminal: a greeting server shows its greeter again, with why. */
  const ended = (p: TerminalPeer, code: number, why: string): void => {
    if (peer !== p || closed) return;
    peer = null;
    shownKey = null;
    cardKey = null;
    if (!auth.login) return close(code, why);
    heldAtGreeter.clear();
    showGreeter(why, true);
  };
  /** `returning`: a user's session just left this terminal; it is not turned away for others' connections. */
  const showGreeter = (message: string, returning = false, ask: GreeterAsk | null = null): void => {
    if (closed || peer || !hello) return;
    if (!waiting) {
      waiting = o.waiting.enter(address);
      if (!waiting && !returning) {
        log.warn({ remote: ch.remote, terminal: hello.terminalId, event: 'too-many-waiting' }, 'refused a terminal: too many greeters for its address');
        return close(CloseCode.Protocol, `more than ${o.waiting.perAddress} terminals at ${address} are at the greeter: close some`);
      }
    }
    display ??= hello.displays[0]!;
    limit = GREETER_BUFFER_LIMIT;
    greeter ??= new Greeter({
      display,
      serverName: o.serverName,
      imageUpdate: () => {
        const served = hello?.image ? (o.servedImage?.() ?? null) : null;
        if (!served || served === hello!.image) return null;
        log.info({ terminal: hello!.terminalId, remote: ch.remote, image: hello!.image, served, event: 'image-outdated' }, 'the terminal runs an old image: told to boot the one served');
        return served;
      },
      send,
      submit: async (user, password) => {
        greeterBusy = true;
        let timer: NodeJS.Timeout | undefined;
        try {
          // A PAM module that hangs does not hold the greeter on "checking…" forever; what it
          // decides later is dropped (a session it opens waits for its user as a detached one).
          const late = new Promise<LoginResult>((res) => {
            timer = setTimeout(() => res({ message: `the login was not decided within ${LOGIN_TIMEOUT_MS / 1000} s: try again` }), LOGIN_TIMEOUT_MS);
          });
          return toGreeter(await Promise.race([auth.login!({ user, password }, from()), late]));
        } finally {
          clearTimeout(timer);
          greeterBusy = false;
        }
      },
    });
    greeter.reader(reader);
    greeter.show(message, ask);
  };

  const onCard = (c: CardBody): void => {
    if (c.event === 'reader') {
      reader = c.state;
      greeter?.reader(reader);
      return;
    }
    if (c.event === 'signed') {
      proof?.resolve(Buffer.from(c.signature, 'base64'));
      proof = null;
      return;
    }
    if (c.event === 'pin-needed') {
      proof?.reject(new CardPinNeeded(c.triesLeft, c.blocked));
      proof = null;
      return;
    }
    const cards = auth.card;
    if (!cards || !auth.login) return;
    const gen = ++cardGeneration;
    proof?.reject(new Error(c.event === 'removed' ? 'the card was taken out' : 'the card could not be read'));
    proof = null;
    const h = hello!;
    if (c.event === 'unreadable') {
      log.warn({ remote: ch.remote, terminal: h.terminalId, why: c.why, event: 'card-unreadable' }, 'a card could not be read');
      if (!peer) showGreeter('the card could not be read: try it again');
      return;
    }
    if (c.event === 'removed') {
      const key = cardKey;
      cardKey = null;
      if (key === null || shownKey !== key) {
        // a card that was asked for a password, or refused: the plain greeter again
        if (!peer) showGreeter('');
        return;
      }
      cards.removed(key, from()).then(
        (what) => {
          if (closed || what !== 'detach' || shownKey !== key) return;
          letGo();
          showGreeter('card out: your session goes on', true);
        },
        (err: Error) => log.error({ session: key, err: err.message }, 'the session of a card taken out could not be ended'),
      );
      return;
    }
    clearTimeout(greetingTimer);
    const prove = (digest: Buffer, pin?: string): Promise<Buffer> =>
      new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the card did not answer within ${CARD_PROOF_MS / 1000} s`)), CARD_PROOF_MS);
        // one challenge at a time: an earlier one still waiting is over
        proof?.reject(new Error('another challenge replaced it'));
        proof = {
          resolve: (sig) => {
            clearTimeout(timer);
            resolve(sig);
          },
          reject: (err) => {
            clearTimeout(timer);
            reject(err);
          },
        };
        send({ type: 'card-challenge', body: { challenge: digest.toString('base64'), ...(pin !== undefined ? { pin } : {}) } });
      });
    /** Shows what a card's check came to: its session, a refusal, or what the greeter must ask first. */
    const present = (r: Exclude<CardOutcome, { pin: unknown }>): void => {
        if (closed || gen !== cardGeneration) return;
        if ('message' in r) {
          // a refused card does not take the session shown here away from its user
          if (!peer) showGreeter(r.message);
          return;
        }
        if ('key' in r) {
          if (shownKey === r.key) {
            cardKey = r.key;
            return;
          }
          letGo();
          if (open(r.key)) cardKey = r.key;
          else showGreeter('no desktop for this card on this server: ask an administrator');
          return;
        }
        // a password first: whoever sits here is the card's, not the session's shown here
        letGo();
        const ask = r.password;
        log.info({ remote: ch.remote, terminal: h.terminalId, user: ask.user, event: 'card-password' }, 'the card needs a password at this terminal');
        showGreeter('', true, {
          user: ask.user,
          prompt: ask.prompt,
          submit: async (user, password) => {
            // typed for a card that has left since: it opens nothing
            if (gen !== cardGeneration) return { ok: false, message: 'the card was taken out' };
            const out = toGreeter(await ask.login({ user, password }));
            // the card in the reader opened it: taking the card out detaches it
            if (out.ok && gen === cardGeneration && shownKey !== null) cardKey = shownKey;
            return out;
          },
        });
    };
    const failed = (err: Error): void => {
      log.error({ err: err.message }, 'a card could not be checked inside the server');
      if (!closed && !peer && gen === cardGeneration) showGreeter('the card could not be checked: try again');
    };
    const presentOrAsk = (r: CardOutcome): void => {
      if (!('pin' in r)) return present(r);
      if (closed || gen !== cardGeneration) return;
      // the card's PIN, typed here, goes to the card through the terminal and nowhere else
      letGo();
      const ask = r.pin;
      log.info({ remote: ch.remote, terminal: h.terminalId, event: 'card-pin' }, 'the card wants its PIN');
      showGreeter(ask.message, true, {
        user: null,
        pin: true,
        prompt: ask.prompt,
        submit: async (_user, pin) => {
          if (gen !== cardGeneration) return { ok: false, message: 'the card was taken out' };
          try {
            presentOrAsk(await ask.submit(pin));
          } catch (err) {
            failed(err as Error);
          }
          return { ok: true };
        },
      });
    };
    void cards.inserted(c, from(), prove).then(presentOrAsk, failed);
  };
  const toGreeter = (r: LoginResult): GreeterOutcome => {
    if (closed) return { ok: true };
    if ('key' in r) return open(r.key) ? { ok: true } : { ok: false, message: 'no desktop for you on this server: ask an administrator' };
    const change = r.changePassword;
    if (change) return { ok: false, message: r.message, changePassword: async (pw) => toGreeter(await change(pw)), cancel: () => r.cancel?.() };
    return { ok: false, message: r.message };
  };

  ch.onMessage((data) => {
    if (closed) return;
    if (data.length === 0) return refuse('empty or text message: the terminal protocol is binary');
    let m;
    try {
      m = decodeTerminalMessage(data);
    } catch (err) {
      return refuse(err instanceof WireError ? err.message : 'malformed message');
    }
    // The pong carries our clock: the terminal derives the offset between the two clocks from it.
    if (m.type === 'ping') return send({ type: 'pong', id: m.id, timeUs: Number(process.hrtime.bigint() / 1000n) });
    if (!hello) {
      if (m.type !== 'hello') return refuse(`expected hello first, got ${m.type}`);
      if (m.body.version !== WIRE_VERSION) return refuse(`this server speaks terminal protocol version ${WIRE_VERSION}, not ${m.body.version}`);
      hello = m.body;
      log.info({ remote: ch.remote, terminal: hello.terminalId, kind: hello.kind, display: hello.displays[0], event: 'hello' }, 'a terminal said hello');
      // A terminal with its own credentials sends them with its hello, in the same read: it
      // never sees the greeter.
      if (auth.login) setImmediate(() => (pending ? undefined : showGreeter('')));
      return;
    }
    if (m.type === 'hello') return refuse('hello twice');
    if (m.type === 'card') return onCard(m.body);
    if (pending) return refuse(`${m.type} while the login is being checked: wait for its answer`);
    const h = hello;
    if (!peer) {
      if (m.type === 'auth') {
        if (!auth.token) return close(CloseCode.Unauthorized, 'this server logs users in: send a login, not a token');
        const key = auth.token(m.body);
        if (key === null) {
          log.warn({ remote: ch.remote, terminal: h.terminalId, event: 'auth-failed' }, 'refused a terminal: wrong token');
          return close(CloseCode.Unauthorized, "wrong token: open the address the server printed, with its #token=…");
        }
        clearTimeout(greetingTimer);
        if (!open(key)) close(CloseCode.Unauthorized, 'no desktop for these credentials on this server');
        return;
      }
      if (m.type === 'login') {
        if (!auth.login) return close(CloseCode.Unauthorized, 'this server opens its one desktop with its token, not a login');
        if (greeterBusy) return refuse('login while the one typed at the greeter is being checked');
        clearTimeout(greetingTimer);
        pending = true;
        // A PAM module that hangs (an unreachable directory) does not hold the terminal forever.
        const deadline = setTimeout(() => close(CloseCode.Unauthorized, `the login was not decided within ${LOGIN_TIMEOUT_MS / 1000} s: try again`), LOGIN_TIMEOUT_MS);
        void auth.login(m.body, from()).then(
          (r) => {
            clearTimeout(deadline);
            pending = false;
            if (closed) return;
            // A terminal that brought its credentials has no one to type a new password: it is told.
            if (!('key' in r)) {
              r.cancel?.();
              return close(CloseCode.Unauthorized, r.message);
            }
            if (!open(r.key)) close(CloseCode.Unauthorized, 'no desktop for these credentials on this server');
          },
          (err: Error) => {
            clearTimeout(deadline);
            pending = false;
            log.error({ err: err.message }, 'login failed inside the server');
            close(CloseCode.Unauthorized, 'the login could not be checked: try again');
          },
        );
        return;
      }
      if (greeter) {
        if (m.type === 'resize') display = m.display;
        if (m.type === 'key') {
          if (m.pressed) heldAtGreeter.add(m.code);
          else heldAtGreeter.delete(m.code);
        }
        return greeter.input(m);
      }
      // a greeting server's terminal between hello and its greeter (the same tick) has nothing to say yet
      if (auth.login) return;
      return refuse(`${m.type} before authenticating: send the server's token first`);
    }
    if (m.type === 'auth' || m.type === 'login') return refuse(`${m.type} after authenticating`);
    if (m.type === 'resize') display = m.display;
    if (m.type === 'key' && heldAtGreeter.delete(m.code) && !m.pressed) return;
    router.fromTerminal(peer, m);
  });
  ch.onClose(() => finish());
}
