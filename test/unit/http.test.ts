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
