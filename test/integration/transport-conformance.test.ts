// The same checks against every transport this machine can run. WebSocket is always there;
// WebTransport only where its HTTP/3 package installed (it cannot here), which is reported.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WIRE_VERSION, decodeServerMessage, encodeTerminalMessage, type ServerMessage } from '@waydesk/protocol/wire';
import { PinError, connectWebSocket, type ServerChannel } from '../../client-firmware/src/connection.js';
import { transports } from '../../session-manager/src/transport.js';
import { waitFor } from '../helpers/compositor.js';
import { startDevServer, type DevServer } from '../helpers/server.js';

const connectors: Record<string, (url: string, fingerprint: string) => Promise<ServerChannel>> = {
  websocket: connectWebSocket,
};

const HELLO = encodeTerminalMessage({
  type: 'hello',
  body: { version: WIRE_VERSION, terminalId: 'conformance', kind: 'headless', displays: [{ width: 1280, height: 720, refreshMhz: 60000 }], codecs: ['tiles', 'h264'], input: ['keyboard', 'pointer'] },
});

function collect(ch: ServerChannel): { messages: ServerMessage[]; closed: () => string | null } {
  const messages: ServerMessage[] = [];
  let closed: string | null = null;
  ch.onMessage((d) => messages.push(decodeServerMessage(d)));
  ch.onClose((_code, reason) => (closed = reason));
  return { messages, closed: () => closed };
}

const available = await transports();

describe('transports', () => {
  it('reports what is available and why', () => {
    const ws = available.find((t) => t.name === 'websocket')!;
    expect(ws.available).toBe(true);
    const wt = available.find((t) => t.name === 'webtransport')!;
    expect(wt.reason.length).toBeGreaterThan(10);
    // every available transport has a client here, so the checks below run against it
    for (const t of available.filter((a) => a.available)) expect(connectors[t.name], t.name).toBeDefined();
  });
});

for (const t of available.filter((a) => a.available)) {
  describe(`transport conformance: ${t.name}`, () => {
    const connect = connectors[t.name]!;
    let s: DevServer;
    beforeAll(async () => {
      s = await startDevServer([]);
    });
    afterAll(async () => {
      await s?.stop();
    });

    it('refuses a server whose certificate is not the pinned one, before speaking', async () => {
      await expect(connect(s.url, '00:'.repeat(31) + '00')).rejects.toBeInstanceOf(PinError);
    });

    it('greets, then delivers a whole picture larger than one network packet', async () => {
      const ch = await connect(s.url, s.fingerprint);
      const c = collect(ch);
      ch.send(HELLO);
      ch.send(encodeTerminalMessage({ type: 'auth', body: { token: s.token } }));
      await waitFor('welcome and a frame', () => c.messages.some((m) => m.type === 'welcome') && c.messages.some((m) => m.type === 'frame'));
      const frame = c.messages.find((m) => m.type === 'frame');
      expect(frame?.type === 'frame' && frame.body.full).toBe(true);
      ch.close(1000, 'done');
    });

    it('keeps order: 500 pings come back as 500 pongs in sequence, on a clock that never goes back', async () => {
      const ch = await connect(s.url, s.fingerprint);
      const c = collect(ch);
      ch.send(HELLO);
      ch.send(encodeTerminalMessage({ type: 'auth', body: { token: s.token } }));
      for (let id = 1; id <= 500; id++) ch.send(encodeTerminalMessage({ type: 'ping', id, timeUs: id }));
      await waitFor('500 pongs', () => c.messages.filter((m) => m.type === 'pong').length === 500);
      const pongs = c.messages.filter((m): m is Extract<ServerMessage, { type: 'pong' }> => m.type === 'pong');
      expect(pongs.map((p) => p.id)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
      for (let i = 1; i < pongs.length; i++) expect(pongs[i]!.timeUs).toBeGreaterThanOrEqual(pongs[i - 1]!.timeUs);
      ch.close(1000, 'done');
    });

    it('answers a malformed message with an error and a closed connection', async () => {
      const ch = await connect(s.url, s.fingerprint);
      const c = collect(ch);
      ch.send(HELLO);
      ch.send(encodeTerminalMessage({ type: 'auth', body: { token: s.token } }));
      ch.send(Uint8Array.of(2, 1, 2, 3)); // a key message of the wrong size
      await waitFor('the connection to close', () => c.closed() !== null);
      const err = c.messages.find((m) => m.type === 'error');
      expect(err?.type === 'error' && err.message).toMatch(/key: expected 2 bytes/);
    });

    it('refuses a message over the size bound', async () => {
      const ch = await connect(s.url, s.fingerprint);
      const c = collect(ch);
      ch.send(HELLO);
      ch.send(encodeTerminalMessage({ type: 'auth', body: { token: s.token } }));
      ch.send(new Uint8Array(200_000));
      await waitFor('the connection to close', () => c.closed() !== null);
      expect(s.proc.exitCode).toBeNull();
    });
  });
}
