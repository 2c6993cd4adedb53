import type { FastifyPluginAsync } from 'fastify';

export interface HealthOptions {
  /** Every desktop this server keeps is up and answers its heartbeat. */
  healthy: () => boolean;
}

const body = {
  type: 'object',
  properties: { ok: { type: 'boolean' }, desktop: { type: 'boolean' } },
  required: ['ok', 'desktop'],
  additionalProperties: false,
} as const;

/** `GET /healthz`: 200 while the desktops are well, 503 while one is hung or restarting (for a load balancer or systemd). */
export const health: FastifyPluginAsync<HealthOptions> = async (app, opts) => {
  app.get('/healthz', { schema: { response: { 200: body, 503: body } } }, async (_req, reply) => {
    const ok = opts.healthy();
    return reply.code(ok ? 200 : 503).send({ ok, desktop: ok });
  });
};
