import crypto from 'node:crypto';
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
  '/web/protocol/limits.js': { file: path.join(protocolDist, 'limits.js'), type: 'text/javascript' },
  '/web/fzstd.js': { file: fzstd, type: 'text/javascript' },
};

/** The page's one inline script is its import map: allowed by its hash, not by 'unsafe-inline'. */
function inlineScriptHashes(html: string): string[] {
  return [...html.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)].map(
    (m) => `'sha256-${crypto.createHash('sha256').update(m[1]!).digest('base64')}'`,
  );
}

/**
 * Headers on every response: no other site may frame the page (clickjacking: a framed desktop
 * takes the user's clicks and keys), load its scripts, or learn its address from a Referer.
 */
function securityHeaders(scriptHashes: string[]): Record<string, string> {
  return {
    'content-security-policy': [
      "default-src 'none'",
      `script-src 'self' ${scriptHashes.join(' ')}`,
      "connect-src 'self'",
      "img-src 'self' data:",
      "style-src 'unsafe-inline'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "form-action 'none'",
    ].join('; '),
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
    'cache-control': 'no-cache',
  };
}

/** Serves the browser terminal: a page that speaks the terminal protocol over wss://same-origin/terminal. */
export function serveBrowserTerminal(app: FastifyInstance): void {
  const headers = securityHeaders(inlineScriptHashes(fs.readFileSync(FILES['/']!.file, 'utf8')));
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.headers(headers);
    return payload;
  });
  const cache = new Map<string, Buffer>();
  for (const [url, { file, type }] of Object.entries(FILES)) {
    app.get(url, async (_req, reply) => {
      let body = cache.get(url);
      if (!body) {
        body = fs.readFileSync(file);
        cache.set(url, body);
      }
      return reply.header('content-type', type).send(body);
    });
  }
}
