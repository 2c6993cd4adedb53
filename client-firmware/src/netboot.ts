// The netbooted terminal's first program (pxe/: the image's /init starts it): finds the server
// (discovery.ts), connects with its certificate pinned, says hello, and reports on the console
// what a terminal's status screen will say: looking for the server, unreachable (retrying),
// certificate does not match, at the greeter. It keeps retrying; the DRM presenter that draws
// the greeter and desktop in the image is the next step (issue 16), and replaces the report.
import { WIRE_VERSION, decodeServerMessage, encodeTerminalMessage } from '@waydesk/protocol/wire';
import { PinError, connectWebSocket } from './connection.js';
import { DiscoveryError, discover } from './discovery.js';

const RETRY_MS = 2000;
const say = (s: string): void => void process.stdout.write(`waydesk-terminal: ${s}\n`);

async function main(): Promise<void> {
  say('looking for the server');
  let found;
  try {
    found = discover({ cmdline: process.env.WAYDESK_CMDLINE, configFile: process.env.WAYDESK_TERMINAL_CONFIG });
  } catch (err) {
    if (!(err instanceof DiscoveryError)) throw err;
    say(`the boot configuration is wrong: ${err.message}`);
    process.exit(2);
  }
  if (!found) {
    say('no server named: the boot configuration must give waydesk.server=HOST:PORT and waydesk.fingerprint=SHA256');
    process.exit(2);
  }
  say(`server ${found.url} (from ${found.from})`);
  const id = (process.env.WAYDESK_TERMINAL_ID ?? 'netboot').replace(/[^A-Za-z0-9:._-]/g, '-').slice(0, 64);
  for (;;) {
    try {
      const ch = await connectWebSocket(found.url, found.fingerprint);
      const greeted = new Promise<string>((resolve) => {
        ch.onMessage((data) => {
          const m = decodeServerMessage(data);
          if (m.type === 'welcome') resolve(m.body.greeter ? `at the greeter (${m.body.width}x${m.body.height})` : 'showing a session');
          if (m.type === 'error') resolve(`the server says: ${m.message}`);
        });
        ch.onClose((code, reason) => resolve(`the server closed the connection (${code}${reason ? `: ${reason}` : ''})`));
      });
      ch.send(encodeTerminalMessage({ type: 'hello', body: { version: WIRE_VERSION, terminalId: id, kind: 'drm', displays: [{ width: 1280, height: 800, refreshMhz: 60000 }], codecs: ['tiles'], input: ['keyboard', 'pointer'] } }));
      say(await greeted);
      ch.close(1000, 'the netboot check is done');
      return;
    } catch (err) {
      if (err instanceof PinError) say(`certificate does not match: ${err.message}; not connecting to it`);
      else say(`server unreachable (${(err as Error).message}); retrying`);
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }
}

await main();
