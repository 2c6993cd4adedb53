import fs from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';
import { WEB_ASSETS } from '@waydesk/client-firmware/web-assets';

/** The browser terminal's page, whose inline import map the CSP allows by hash. */
export const BROWSER_PAGE = WEB_ASSETS.find((a) => a.url === '/')!.file;

/** Serves the browser terminal (the terminal's own files, nothing else) that speaks the terminal protocol over wss://same-origin/terminal. */
export const browserTerminal: FastifyPluginAsync = async (app) => {
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
};
