// The admin API: what runs (sessions, terminals, the audit trail) and ending a session. It is
// served on a Unix socket in the server's state directory, which only root can enter (0700):
// the file system is its authentication, and nothing of it is on the network.
import fs from 'node:fs';
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import { CARD_TOKEN } from './cards.js';
import type { CardRecord, TerminalRecord } from './store.js';

export interface SessionInfo {
  key: string;
  user: string;
  /** The compositor's pid, or null while none runs. */
  pid: number | null;
  /** The terminal showing it, or null: detached. */
  terminal: string | null;
  startedAt: number | null;
  lastAttachedAt: number | null;
  healthy: boolean;
}

/** What the admin API reads and does: the server's sessions and its store. */
export interface AdminView {
  sessions(): SessionInfo[];
  terminals(): Promise<TerminalRecord[]>;
  audit(limit: number): Promise<Array<{ at: number; event: string } & Record<string, unknown>>>;
  /** Ends a user's sessions as their logging out would; false if they have none. */
  end(user: string): Promise<boolean>;
  cards(): Promise<CardRecord[]>;
  bindCard(token: string, user: string): Promise<CardRecord>;
  /** null: no such card. */
  blockCard(token: string, blocked: boolean): Promise<CardRecord | null>;
  forgetCard(token: string): Promise<boolean>;
}

/** The file name of the admin socket in the state directory. */
export const ADMIN_SOCKET = 'admin.sock';

const nullableInt = { type: ['integer', 'null'] } as const;
const sessionSchema = {
  type: 'object',
  properties: {
    key: { type: 'string' },
    user: { type: 'string' },
    pid: nullableInt,
    terminal: { type: ['string', 'null'] },
    startedAt: nullableInt,
    lastAttachedAt: nullableInt,
    healthy: { type: 'boolean' },
  },
  required: ['key', 'user', 'pid', 'terminal', 'startedAt', 'lastAttachedAt', 'healthy'],
  additionalProperties: false,
} as const;
const terminalSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    kind: { type: 'string' },
    address: { type: 'string' },
    displays: { type: 'array', items: { type: 'object', properties: { width: { type: 'integer' }, height: { type: 'integer' }, refreshMhz: { type: 'integer' } } } },
    lastSeen: { type: 'integer' },
    session: { type: ['string', 'null'] },
  },
  required: ['id', 'kind', 'address', 'displays', 'lastSeen', 'session'],
} as const;
const USER_NAME = '^[a-z_][a-z0-9_.-]{0,31}$';
const cardSchema = {
  type: 'object',
  properties: {
    token: { type: 'string' },
    user: { type: 'string' },
    blocked: { type: 'boolean' },
    boundAt: { type: 'integer' },
    lastTerminal: { type: ['string', 'null'] },
    lastUsedAt: nullableInt,
  },
  required: ['token', 'user', 'blocked', 'boundAt', 'lastTerminal', 'lastUsedAt'],
  additionalProperties: false,
} as const;
const tokenParams = { type: 'object', properties: { token: { type: 'string', pattern: CARD_TOKEN.source } }, required: ['token'] } as const;

export const admin: FastifyPluginAsync<{ view: AdminView }> = async (app, { view }) => {
  app.get('/sessions', { schema: { response: { 200: { type: 'array', items: sessionSchema } } } }, async () => view.sessions());
  app.get('/terminals', { schema: { response: { 200: { type: 'array', items: terminalSchema } } } }, async () => view.terminals());
  app.get<{ Querystring: { limit: number } }>(
    '/audit',
    { schema: { querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 100_000, default: 100 } }, additionalProperties: false } } },
    async (req) => view.audit(req.query.limit),
  );
  app.delete<{ Params: { user: string } }>(
    '/sessions/user/:user',
    { schema: { params: { type: 'object', properties: { user: { type: 'string', pattern: USER_NAME } }, required: ['user'] } } },
    async (req, reply) => {
      if (!(await view.end(req.params.user))) return reply.code(404).send({ error: `no session of ${req.params.user}` });
      return { ended: req.params.user };
    },
  );
  app.get('/cards', { schema: { response: { 200: { type: 'array', items: cardSchema } } } }, async () => view.cards());
  app.put<{ Params: { token: string }; Body: { user: string } }>(
    '/cards/:token',
    {
      schema: {
        params: tokenParams,
        body: { type: 'object', properties: { user: { type: 'string', pattern: USER_NAME } }, required: ['user'], additionalProperties: false },
        response: { 200: cardSchema },
      },
    },
    async (req) => view.bindCard(req.params.token, req.body.user),
  );
  for (const [verb, blocked] of [['block', true], ['unblock', false]] as const) {
    app.post<{ Params: { token: string } }>(`/cards/:token/${verb}`, { schema: { params: tokenParams } }, async (req, reply) => {
      const rec = await view.blockCard(req.params.token, blocked);
      return rec ?? reply.code(404).send({ error: `no card ${req.params.token}` });
    });
  }
  app.delete<{ Params: { token: string } }>('/cards/:token', { schema: { params: tokenParams } }, async (req, reply) => {
    if (!(await view.forgetCard(req.params.token))) return reply.code(404).send({ error: `no card ${req.params.token}` });
    return { forgotten: req.params.token };
  });
};

/**
 * The admin API on its Unix socket: root's alone by the state directory's mode (and the
 * socket's own, 0600). A socket left by a server that died is replaced.
 */
export async function listenAdmin(view: AdminView, socketPath: string): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 4096 });
  await app.register(admin, { view });
  fs.rmSync(socketPath, { force: true });
  await app.listen({ path: socketPath });
  fs.chmodSync(socketPath, 0o600);
  return app;
}
