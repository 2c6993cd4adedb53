import crypto from 'node:crypto';
import type { FastifyInstance } from 'fastify';

/** The page's one inline script is its import map: allowed by its hash, not by 'unsafe-inline'. */
export function inlineScriptHashes(html: string): string[] {
  return [...html.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)].map(
    (m) => `'sha256-${crypto.createHash('sha256').update(m[1]!).digest('base64')}'`,
  );
}

/**
 * Headers on every response: no other site may frame the page (clickjacking: a framed desktop
 * takes the user's clicks and keys), load its scripts, or learn its address from a Referer.
 * Set on the root instance, so every route of every plugin has them.
 */
export function addSecurityHeaders(app: FastifyInstance, scriptHashes: string[]): void {
  const headers: Record<string, string> = {
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
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.headers(headers);
    return payload;
  });
}
