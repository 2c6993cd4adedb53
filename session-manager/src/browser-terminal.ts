import crypto from 'node:crypto';
import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { WEB_ASSETS } from '@waydesk/client-firmware/web-assets';

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

/** Serves the browser terminal (the terminal's own files) that speaks the terminal protocol over wss://same-origin/terminal. */
export function serveBrowserTerminal(app: FastifyInstance): void {
  const page = WEB_ASSETS.find((a) => a.url === '/')!;
  const headers = securityHeaders(inlineScriptHashes(fs.readFileSync(page.file, 'utf8')));
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.headers(headers);
    return payload;
  });
  const cache = new Map<string, Buffer>();
  for (const { url, file, type } of WEB_ASSETS) {
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
