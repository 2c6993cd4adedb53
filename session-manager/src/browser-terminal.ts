import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';

const require = createRequire(import.meta.url);
const firmware = path.dirname(require.resolve('@waydesk/client-firmware/package.json'));
const protocolDist = path.dirname(require.resolve('@waydesk/protocol/wire'));
const fzstd = require.resolve('fzstd', { paths: [firmware] }).replace(/lib[/\\]index\.js$/, 'esm/index.mjs');

/** The files of the browser terminal, by URL path. Nothing else is served. */
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: path.join(firmware, 'web/index.html'), type: 'text/html; charset=utf-8' },
  '/web/browser-terminal.js': { file: path.join(firmware, 'web/dist/browser-terminal.js'), type: 'text/javascript' },
  '/web/keycodes.js': { file: path.join(firmware, 'web/dist/keycodes.js'), type: 'text/javascript' },
  '/web/tile-stream.js': { file: path.join(firmware, 'web/dist/tile-stream.js'), type: 'text/javascript' },
  '/web/protocol/wire.js': { file: path.join(protocolDist, 'wire.js'), type: 'text/javascript' },
  '/web/protocol/frame-format.js': { file: path.join(protocolDist, 'frame-format.js'), type: 'text/javascript' },
  '/web/fzstd.js': { file: fzstd, type: 'text/javascript' },
};

/** Serves the browser terminal: a page that speaks the terminal protocol over wss://same-origin/terminal. */
export function serveBrowserTerminal(app: FastifyInstance): void {
  const cache = new Map<string, Buffer>();
  for (const [url, { file, type }] of Object.entries(FILES)) {
    app.get(url, async (_req, reply) => {
      let body = cache.get(url);
      if (!body) {
        body = fs.readFileSync(file);
        cache.set(url, body);
      }
      return reply
        .header('content-type', type)
        .header('cache-control', 'no-cache')
        .header('content-security-policy', "default-src 'self'; script-src 'self' 'unsafe-inline'; img-src 'self' data:; style-src 'unsafe-inline'")
        .header('x-content-type-options', 'nosniff')
        .send(body);
    });
  }
}
