import {
  WIRE_VERSION,
  WireError,
  decodeTerminalMessage,
  encodeServerMessage,
  type HelloBody,
  type ServerMessage,
} from '@waydesk/protocol/wire';
import type { DevSession, TerminalPeer } from './dev-session.js';
import type { Logger } from './log.js';
import { CLOSE_PROTOCOL, type TerminalChannel } from './transport.js';

const HELLO_TIMEOUT_MS = 5000;

/**
 * The terminal protocol over one channel: the first message must be a hello; anything
 * malformed, oversized, or out of order gets an error message and a closed connection.
 * Nothing a terminal sends can reach another terminal's session.
 */
export function serveTerminal(ch: TerminalChannel, session: DevSession, log: Logger): void {
  let peer: (TerminalPeer & { hello: HelloBody }) | null = null;
  let closed = false;
  const send = (m: ServerMessage): void => {
    if (!closed) ch.send(encodeServerMessage(m));
  };
  const refuse = (message: string): void => {
    if (closed) return;
    log.warn({ remote: ch.remote, terminal: peer?.hello.terminalId, reason: message }, 'closing terminal connection');
    send({ type: 'error', message });
    closed = true;
    ch.close(CLOSE_PROTOCOL, message);
  };
  const helloTimer = setTimeout(() => refuse(`no hello within ${HELLO_TIMEOUT_MS} ms`), HELLO_TIMEOUT_MS);

  ch.onMessage((data) => {
    if (closed) return;
    if (data.length === 0) return refuse('empty or text message: the terminal protocol is binary');
    let m;
    try {
      m = decodeTerminalMessage(data);
    } catch (err) {
      return refuse(err instanceof WireError ? err.message : 'malformed message');
    }
    if (!peer) {
      if (m.type !== 'hello') return refuse(`expected hello first, got ${m.type}`);
      if (m.body.version !== WIRE_VERSION) return refuse(`this server speaks terminal protocol version ${WIRE_VERSION}, not ${m.body.version}`);
      clearTimeout(helloTimer);
      peer = { hello: m.body, send, close: (reason) => refuse(reason) };
      session.attach(peer);
      return;
    }
    if (m.type === 'hello') return refuse('hello twice');
    // The pong carries our clock: the terminal derives the offset between the two clocks from it.
    if (m.type === 'ping') return send({ type: 'pong', id: m.id, timeUs: Number(process.hrtime.bigint() / 1000n) });
    session.fromTerminal(peer, m);
  });
  ch.onClose(() => {
    closed = true;
    clearTimeout(helloTimer);
    if (peer) session.detach(peer);
  });
}
