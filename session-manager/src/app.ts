import fs from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import { BROWSER_PAGE, browserTerminal } from './browser-terminal.js';
import { health } from './health.js';
import { addSecurityHeaders, inlineScriptHashes } from './http-security.js';
import type { ServerIdentity } from './tls.js';

/** Open connections of any kind; far below the file descriptors a process may hold. */
const MAX_CONNECTIONS = 2048;

export interface AppOptions {
  /** TLS identity; omitted in tests that only inject() requests. */
  identity?: ServerIdentity;
  healthy: () => boolean;
}

/**
 * The server's HTTP side, as plugins on one fastify instance: the browser terminal, health, and
 * (next) the admin API. The terminal endpoint is a WebSocket upgrade on the same server.
 * Past a completed TLS handshake, nothing waits long for a silent peer: a slow handshake,
 * request or hello each has its own deadline, so idle connections cannot pile up.
 */
export async function buildApp(o: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(o.identity ? { https: { key: o.identity.key, cert: o.identity.cert, handshakeTimeout: 10_000 } } : {}),
    logger: false,
    connectionTimeout: 30_000,
    requestTimeout: 10_000,
    bodyLimit: 16 * 1024,
  });
  app.server.maxConnections = MAX_CONNECTIONS;
  app.server.headersTimeout = 10_000;
  addSecurityHeaders(app, inlineScriptHashes(fs.readFileSync(BROWSER_PAGE, 'utf8')));
  await app.register(health, { healthy: o.healthy });
  await app.register(browserTerminal);
  return app;
}
