// The server's HTTP side through fastify's inject(): health and the headers every response carries.
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../session-manager/src/app.js';

describe('HTTP', () => {
  it('healthz says 200 while the desktops are well and 503 while one is not', async () => {
    let well = true;
    const app = await buildApp({ healthy: () => well });
    const up = await app.inject({ method: 'GET', url: '/healthz' });
    expect(up.statusCode).toBe(200);
    expect(up.json()).toEqual({ ok: true, desktop: true });
    well = false;
    const down = await app.inject({ method: 'GET', url: '/healthz' });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toEqual({ ok: false, desktop: false });
    await app.close();
  });

  it('every response, a 404 too, forbids framing and leaking the address; the page is served', async () => {
    const app = await buildApp({ healthy: () => true });
    for (const url of ['/', '/web/browser-terminal.js', '/healthz', '/no-such-file', '/../../etc/passwd']) {
      const r = await app.inject({ method: 'GET', url });
      expect(r.headers['content-security-policy'], url).toMatch(/frame-ancestors 'none'/);
      expect(r.headers['x-frame-options'], url).toBe('DENY');
      expect(r.headers['referrer-policy'], url).toBe('no-referrer');
    }
    const page = await app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<canvas id="screen"');
    expect((await app.inject({ method: 'GET', url: '/../../etc/passwd' })).statusCode).toBe(404);
    await app.close();
  });
});

describe('the admin API', () => {
  type Card = { token: string; user: string; blocked: boolean; boundAt: number; lastTerminal: string | null; lastUsedAt: number | null };
  async function adminApp(ended: string[] = [], cards = new Map<string, Card>()) {
    const Fastify = (await import('fastify')).default;
    const { admin } = await import('../../session-manager/src/admin.js');
    const app = Fastify();
    await app.register(admin, {
      view: {
        sessions: () => [{ key: 'user:alice', user: 'alice', pid: 42, terminal: 'desk-1', startedAt: 1, lastAttachedAt: 2, healthy: true }],
        terminals: async () => [{ id: 'desk-1', kind: 'headless', address: '10.0.0.5:4000', displays: [{ width: 1920, height: 1080, refreshMhz: 60000 }], lastSeen: 3, session: 'user:alice' }],
        audit: async (limit: number) => Array.from({ length: Math.min(limit, 3) }, (_, i) => ({ at: i, event: 'login-ok', user: 'alice' })),
        end: async (user: string) => {
          if (user !== 'alice') return false;
          ended.push(user);
          return true;
        },
        // the card routes over a map: what is checked here is what reaches it
        cards: async () => [...cards.values()],
        bindCard: async (token: string, user: string) => {
          const rec = { token, user, blocked: false, boundAt: 5, lastTerminal: null, lastUsedAt: null };
          cards.set(token, rec);
          return rec;
        },
        blockCard: async (token: string, blocked: boolean) => {
          const rec = cards.get(token);
          if (!rec) return null;
          rec.blocked = blocked;
          return rec;
        },
        forgetCard: async (token: string) => cards.delete(token),
      },
    });
    return app;
  }

  it('lists sessions, terminals and the audit trail, and ends a session by its user', async () => {
    const ended: string[] = [];
    const app = await adminApp(ended);
    expect((await app.inject({ method: 'GET', url: '/sessions' })).json()).toEqual([{ key: 'user:alice', user: 'alice', pid: 42, terminal: 'desk-1', startedAt: 1, lastAttachedAt: 2, healthy: true }]);
    expect((await app.inject({ method: 'GET', url: '/terminals' })).json()[0]).toMatchObject({ id: 'desk-1', address: '10.0.0.5:4000' });
    expect((await app.inject({ method: 'GET', url: '/audit?limit=2' })).json()).toHaveLength(2);
    const gone = await app.inject({ method: 'DELETE', url: '/sessions/user/bob' });
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toEqual({ error: 'no session of bob' });
    expect((await app.inject({ method: 'DELETE', url: '/sessions/user/alice' })).json()).toEqual({ ended: 'alice' });
    expect(ended).toEqual(['alice']);
    await app.close();
  });

  it('refuses what is not a user name or a sane limit, before it reaches the sessions', async () => {
    const ended: string[] = [];
    const app = await adminApp(ended);
    for (const url of ['/sessions/user/..%2F..%2Fetc', '/sessions/user/Al%20ice', `/sessions/user/${'a'.repeat(40)}`]) {
      expect((await app.inject({ method: 'DELETE', url })).statusCode, url).toBe(400);
    }
    for (const url of ['/audit?limit=0', '/audit?limit=1000000', '/audit?limit=x']) {
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(400);
    }
    expect(ended).toEqual([]);
    await app.close();
  });

  it('binds, lists, blocks and forgets cards named as the server names them, and refuses anything else', async () => {
    const cards = new Map<string, Card>();
    const app = await adminApp([], cards);
    const piv = `piv:${'ab'.repeat(32)}`;
    expect((await app.inject({ method: 'PUT', url: '/cards/uid:04a1b2', payload: { user: 'alice' } })).json()).toMatchObject({ token: 'uid:04a1b2', user: 'alice', blocked: false });
    expect((await app.inject({ method: 'PUT', url: `/cards/${piv}`, payload: { user: 'bob' } })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/cards' })).json().map((c: Card) => c.token)).toEqual(['uid:04a1b2', piv]);
    expect((await app.inject({ method: 'POST', url: '/cards/uid:04a1b2/block' })).json()).toMatchObject({ blocked: true });
    expect((await app.inject({ method: 'POST', url: '/cards/uid:04a1b2/unblock' })).json()).toMatchObject({ blocked: false });
    expect((await app.inject({ method: 'POST', url: '/cards/uid:ffff/block' })).statusCode).toBe(404);
    expect((await app.inject({ method: 'DELETE', url: `/cards/${piv}` })).json()).toEqual({ forgotten: piv });
    expect((await app.inject({ method: 'DELETE', url: `/cards/${piv}` })).statusCode).toBe(404);
    // not a card, not a user, not hex, a short fingerprint, extra fields
    for (const [url, payload] of [
      ['/cards/user:alice', { user: 'alice' }],
      ['/cards/uid:04A1', { user: 'alice' }],
      ['/cards/uid:xyz', { user: 'alice' }],
      [`/cards/piv:${'ab'.repeat(8)}`, { user: 'alice' }],
      ['/cards/uid:04a1', { user: '../root' }],
    ] as const) {
      expect((await app.inject({ method: 'PUT', url, payload })).statusCode, url).toBe(400);
    }
    expect([...cards.keys()]).toEqual(['uid:04a1b2']);
    // what else a binding is sent is dropped (fastify's schema removes it): a card is never bound blocked or as used
    expect((await app.inject({ method: 'PUT', url: '/cards/uid:04a1', payload: { user: 'alice', blocked: true, lastTerminal: 'x' } })).json()).toMatchObject({ blocked: false, lastTerminal: null });
    await app.close();
  });
});
