import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import {
  MAX_TERMINAL_MESSAGE,
  WIRE_VERSION,
  WireError,
  decodeTerminalMessage,
  encodeServerMessage,
  type HelloBody,
  type ServerMessage,
} from '@waydesk/protocol/wire';
import type { DevSession, TerminalPeer } from './dev-session.js';
import type { Logger } from './log.js';

const HELLO_TIMEOUT_MS = 5000;
/** Policy violation: the close code for anything malformed. */
const CLOSE_PROTOCOL = 1008;

/**
 * The terminal endpoint: WebSocket (over the server's TLS) at /terminal. The first message
 * must be a hello; anything malformed, oversized, or out of order gets an error message
 * and a closed connection. Nothing a terminal sends can reach another terminal's session.
 */
export function attachTerminalEndpoint(server: Server, session: DevSession, log: Logger): { close(): void; connections(): number } {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_TERMINAL_MESSAGE, perMessageDeflate: false });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/terminal') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req));
  });

  function onConnection(ws: WebSocket, req: IncomingMessage): void {
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    (req.socket as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
    let peer: (TerminalPeer & { hello: HelloBody }) | null = null;
    let closed = false;
    const send = (m: ServerMessage): void => {
      if (!closed && ws.readyState === ws.OPEN) ws.send(encodeServerMessage(m));
    };
    const refuse = (message: string): void => {
      if (closed) return;
      log.warn({ remote, terminal: peer?.hello.terminalId, reason: message }, 'closing terminal connection');
      send({ type: 'error', message });
      closed = true;
      ws.close(CLOSE_PROTOCOL, message.slice(0, 120));
      // a peer that does not answer the close handshake is cut off
      setTimeout(() => ws.terminate(), 2000).unref();
    };
    const helloTimer = setTimeout(() => refuse(`no hello within ${HELLO_TIMEOUT_MS} ms`), HELLO_TIMEOUT_MS);

    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (closed) return;
      if (!isBinary) return refuse('text messages are not part of the terminal protocol');
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      let m;
      try {
        m = decodeTerminalMessage(buf);
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
      if (m.type === 'ping') return send({ type: 'pong', id: m.id, timeUs: m.timeUs });
      session.fromTerminal(peer, m);
    });
    ws.on('error', (err) => log.warn({ remote, err: err.message }, 'terminal connection error'));
    ws.on('close', () => {
      closed = true;
      clearTimeout(helloTimer);
      if (peer) session.detach(peer);
    });
  }

  return {
    close: () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
    },
    connections: () => wss.clients.size,
  };
}
