import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData } from 'ws';
import { MAX_TERMINAL_MESSAGE } from '@waydesk/protocol/wire';
import type { Logger } from './log.js';

/**
 * One terminal connection, whatever carries it: reliable and ordered (control, input and
 * frames alike; frames never pile up because the compositor only sends against credits).
 */
export interface TerminalChannel {
  readonly transport: string;
  readonly remote: string;
  send(data: Uint8Array): void;
  /** Bytes accepted but not yet handed to the network. */
  readonly bufferedAmount: number;
  /** Ends the connection with a reason the peer can read. */
  close(code: number, reason: string): void;
  /** Drops the connection at once: for a peer that does not read, a close message would only queue. */
  terminate(): void;
  onMessage(cb: (data: Uint8Array) => void): void;
  onClose(cb: () => void): void;
}

export interface TransportServer {
  readonly name: string;
  close(): void;
  connections(): number;
}

export interface TransportAvailability {
  name: string;
  available: boolean;
  reason: string;
}

/**
 * The origin a browser page of this server has: the scheme and the Host the browser asked for.
 * An upgrade from any other page (another site's script reaching a server the user once
 * trusted) is cross-site WebSocket hijacking.
 */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true; // not a browser: terminals authenticate with the token
  const host = req.headers.host;
  return host !== undefined && origin.toLowerCase() === `https://${host.toLowerCase()}`;
}

function refuseUpgrade(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** WebSocket (RFC 6455) over the server's TLS, at `path`: what every deployment and browser gets. */
export function listenWebSocket(server: Server, path: string, log: Logger, onChannel: (ch: TerminalChannel) => void): TransportServer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_TERMINAL_MESSAGE, perMessageDeflate: false });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if ((req.url ?? '').split('?')[0] !== path) return refuseUpgrade(socket, '404 Not Found');
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    if (!sameOrigin(req)) {
      log.warn({ remote, origin: String(req.headers.origin).slice(0, 200), host: String(req.headers.host).slice(0, 200) }, 'refused a WebSocket upgrade from a foreign origin');
      return refuseUpgrade(socket, '403 Forbidden');
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const sock = req.socket as { setNoDelay?: (v: boolean) => void; setKeepAlive?: (on: boolean, ms: number) => void };
      sock.setNoDelay?.(true);
      // A vanished terminal (cable pulled) is noticed without traffic on an idle desktop.
      sock.setKeepAlive?.(true, 15_000);
      let closing = false;
      onChannel({
        transport: 'websocket',
        remote,
        send: (data) => {
          if (ws.readyState === ws.OPEN) ws.send(data);
        },
        get bufferedAmount() {
          return ws.bufferedAmount;
        },
        close: (code, reason) => {
          if (closing) return;
          closing = true;
          // a close reason is at most 123 bytes of UTF-8
          let r = reason.slice(0, 120);
          while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
          ws.close(code, r);
          // a peer that does not answer the close handshake is cut off
          setTimeout(() => ws.terminate(), 2000).unref();
        },
        terminate: () => {
          closing = true;
          ws.terminate();
        },
        onMessage: (cb) =>
          ws.on('message', (data: RawData, isBinary: boolean) => {
            // Text frames are not part of the protocol: hand over an empty message, which is refused.
            if (!isBinary) return cb(new Uint8Array(0));
            cb(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer));
          }),
        onClose: (cb) => ws.on('close', cb),
      });
      ws.on('error', () => {});
    });
  });
  return {
    name: 'websocket',
    close: () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
    },
    connections: () => wss.clients.size,
  };
}

/**
 * WebTransport over HTTP/3 is offered only where its native package really installed: its
 * HTTP/3 build downloads from GitHub at install time (impossible offline) and its HTTP/2
 * fallback stalls on Node 20. Detected, never assumed.
 */
export async function webTransportAvailability(): Promise<TransportAvailability> {
  const pkg = '@fails-components/webtransport-transport-http3-quiche';
  try {
    await import(pkg);
  } catch (err) {
    return { name: 'webtransport', available: false, reason: `${pkg} is not installed (${(err as Error).message.split('\n')[0]})` };
  }
  return { name: 'webtransport', available: false, reason: `${pkg} is present, but this release has no WebTransport endpoint yet` };
}

export async function transports(): Promise<TransportAvailability[]> {
  return [{ name: 'websocket', available: true, reason: 'built in (ws over TLS)' }, await webTransportAvailability()];
}
