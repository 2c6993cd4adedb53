import { once } from 'node:events';
import tls from 'node:tls';
import WebSocket from 'ws';
import { MAX_SERVER_MESSAGE } from '@waydesk/protocol/wire';

export class PinError extends Error {
  override name = 'PinError';
}

function normalize(fp: string): string {
  return fp.replace(/[^0-9a-f]/gi, '').toUpperCase();
}

/** The terminal's end of a connection, whatever carries it: reliable and ordered. */
export interface ServerChannel {
  readonly transport: string;
  readonly open: boolean;
  send(data: Uint8Array): void;
  close(code: number, reason: string): void;
  /** Drops the connection at once, as a pulled cable would. */
  terminate(): void;
  onMessage(cb: (data: Uint8Array) => void): void;
  onClose(cb: (code: number, reason: string) => void): void;
}

/** WebSocket over TLS with the server's certificate pinned. */
export async function connectWebSocket(url: string, fingerprint: string, timeoutMs = 5000): Promise<ServerChannel> {
  const { ws, sock } = await connectPinned(url, fingerprint, timeoutMs);
  let corked = false;
  return {
    transport: 'websocket',
    get open() {
      return ws.readyState === ws.OPEN;
    },
    send: (data) => {
      if (ws.readyState !== ws.OPEN) return;
      // Messages sent in one callback of the event loop (a key's press and release read together, an
      // acknowledgement and a ping) leave as one TLS record: 22 bytes of record each saved,
      // and no wait, since the socket is uncorked before the loop polls again.
      if (!corked) {
        corked = true;
        sock.cork();
        process.nextTick(() => {
          corked = false;
          sock.uncork();
        });
      }
      ws.send(data);
    },
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
    onMessage: (cb) => ws.on('message', (data: Buffer) => cb(data)),
    onClose: (cb) => ws.on('close', (code, reason) => cb(code, reason.toString())),
  };
}

/**
 * Opens the TLS connection first and checks the server certificate's SHA-256 fingerprint
 * against the pinned one before a single byte of the protocol is sent; then speaks
 * WebSocket over that very connection.
 */
async function connectPinned(url: string, fingerprint: string, timeoutMs: number): Promise<{ ws: WebSocket; sock: tls.TLSSocket }> {
  const u = new URL(url);
  if (u.protocol !== 'wss:') throw new Error(`the server address must be wss://…, not ${u.protocol}`);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const sock = tls.connect({
    host,
    port: Number(u.port || 443),
    // the pin replaces CA validation: the fingerprint came with the boot image
    rejectUnauthorized: false,
    servername: /^[\d.:]+$/.test(host) ? undefined : host,
    ALPNProtocols: ['http/1.1'],
  });
  const timer = setTimeout(() => sock.destroy(new Error(`no TLS handshake with ${u.host} within ${timeoutMs} ms`)), timeoutMs);
  try {
    await once(sock, 'secureConnect');
  } finally {
    clearTimeout(timer);
  }
  const got = sock.getPeerCertificate().fingerprint256 ?? '';
  if (normalize(got) !== normalize(fingerprint)) {
    sock.destroy();
    throw new PinError(`server certificate ${got} is not the pinned ${fingerprint}: refusing to talk to it`);
  }
  sock.setNoDelay(true);
  // A dead server is noticed without a byte of ours on an idle link.
  sock.setKeepAlive(true, 15_000);
  const ws = new WebSocket(url, {
    createConnection: () => sock,
    perMessageDeflate: false,
    maxPayload: MAX_SERVER_MESSAGE,
    handshakeTimeout: timeoutMs,
  });
  await once(ws, 'open');
  return { ws, sock };
}
