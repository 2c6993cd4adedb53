import {
  CloseCode,
  WIRE_VERSION,
  WireError,
  decodeTerminalMessage,
  encodeServerMessage,
  type AuthBody,
  type Display,
  type LoginBody,
  type HelloBody,
  type ServerMessage,
} from '@waydesk/protocol/wire';
import type { Router, TerminalPeer } from './router.js';
import type { Logger } from './log.js';
import type { TerminalChannel } from './transport.js';

/** A connection must say hello and authenticate within this time, or it is closed. */
export const GREETING_TIMEOUT_MS = 5000;
/** Longest a password login may take with PAM before the terminal is told to try again. */
const LOGIN_TIMEOUT_MS = 30_000;
/** What an unauthenticated connection may leave unread (pongs and one error) before it is dropped. */
const PREAUTH_BUFFER_LIMIT = 64 * 1024;

/**
 * What a terminal that does not read may leave in the server's send buffer: about two whole
 * pictures of its display (3 bytes a pixel, what incompressible tiles take), plus room for
 * control messages. Past it the terminal is dropped: the server never buffers for a reader
 * that stopped.
 */
export function sendBufferLimit(d: { width: number; height: number }): number {
  return 2 * d.width * d.height * 3 + 1024 * 1024;
}

/** Decides what a terminal's credentials open: the key of its session. */
export interface Authenticator {
  /** A token (the single-user server, kiosks): the session's key, or null for a wrong one. Absent: tokens are not taken here. */
  token?(auth: AuthBody): string | null;
  /** A user's password: the session's key (made if the user has none), or what to tell the terminal. Absent: no logins here. */
  login?(body: LoginBody, from: { remote: string; terminal: string }): Promise<{ key: string } | { message: string }>;
}

/**
 * The terminal protocol over one channel, a state machine: unauthenticated (hello, auth and
 * ping only) → attached. Anything malformed, oversized or out of order gets an error message
 * and a closed connection. Nothing a terminal sends before authenticating reaches a desktop.
 */
export function serveTerminal(ch: TerminalChannel, router: Router, auth: Authenticator, log: Logger): void {
  let hello: HelloBody | null = null;
  let peer: TerminalPeer | null = null;
  let closed = false;
  /** A login is with PAM: nothing but pings until it is decided. */
  let pending = false;
  let limit = PREAUTH_BUFFER_LIMIT;
  let display: Display | null = null;
  /** Ends it here at once, whatever the network does with the close: nothing more goes to it or comes from it. */
  const finish = (): void => {
    closed = true;
    clearTimeout(greetingTimer);
    if (peer) router.detach(peer);
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
    // Around a resize, pictures of the old size are still on their way: they count at their size.
    if (m.type === 'frame' && display) limit = Math.max(sendBufferLimit(m.body), sendBufferLimit(display));
    // Checked before the message is queued, so the limit is what is ever held, not one picture more.
    const waiting = ch.bufferedAmount + data.length;
    if (waiting > limit) return drop(`it does not read what it is sent: ${waiting} bytes waiting, the limit is ${limit}`);
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
    log.warn({ remote: ch.remote, terminal: hello.terminalId, event: 'auth-missing' }, 'refused a terminal: no credentials');
    close(CloseCode.Unauthorized, `no ${auth.login ? 'login' : 'token'} within ${GREETING_TIMEOUT_MS} ms`);
  }, GREETING_TIMEOUT_MS);

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
      return;
    }
    if (m.type === 'hello') return refuse('hello twice');
    if (pending) return refuse(`${m.type} while the login is being checked: wait for its answer`);
    const h = hello;
    const open = (key: string): void => {
      log.info({ remote: ch.remote, terminal: h.terminalId, event: 'auth-ok' }, 'terminal authenticated');
      display = h.displays[0]!;
      limit = sendBufferLimit(display);
      peer = { hello: h, send, close };
      if (!router.attach(key, peer)) close(CloseCode.Unauthorized, 'no desktop for these credentials on this server');
    };
    if (!peer) {
      if (m.type === 'auth') {
        if (!auth.token) return close(CloseCode.Unauthorized, 'this server logs users in: send a login, not a token');
        const key = auth.token(m.body);
        if (key === null) {
          log.warn({ remote: ch.remote, terminal: h.terminalId, event: 'auth-failed' }, 'refused a terminal: wrong token');
          return close(CloseCode.Unauthorized, "wrong token: open the address the server printed, with its #token=…");
        }
        clearTimeout(greetingTimer);
        return open(key);
      }
      if (m.type === 'login') {
        if (!auth.login) return close(CloseCode.Unauthorized, 'this server opens its one desktop with its token, not a login');
        clearTimeout(greetingTimer);
        pending = true;
        // A PAM module that hangs (an unreachable directory) does not hold the terminal forever.
        const deadline = setTimeout(() => close(CloseCode.Unauthorized, `the login was not decided within ${LOGIN_TIMEOUT_MS / 1000} s: try again`), LOGIN_TIMEOUT_MS);
        void auth.login(m.body, { remote: ch.remote, terminal: h.terminalId }).then(
          (r) => {
            clearTimeout(deadline);
            pending = false;
            if (closed) return;
            if ('message' in r) return close(CloseCode.Unauthorized, r.message);
            open(r.key);
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
      return refuse(`${m.type} before authenticating: ${auth.login ? 'log in' : "send the server's token"} first`);
    }
    if (m.type === 'auth' || m.type === 'login') return refuse(`${m.type} after authenticating`);
    if (m.type === 'resize') display = m.display;
    router.fromTerminal(peer, m);
  });
  ch.onClose(() => finish());
}
