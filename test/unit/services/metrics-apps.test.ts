import { afterEach, describe, expect, it } from 'vitest';
import { createAuthApp } from '../../../src/services/auth/app.js';
import { MemoryUserStore } from '../../../src/services/auth/users.js';
import { listen, type RunningServer } from '../../../src/services/shared/http.js';
import { createServiceMetrics } from '../../../src/services/shared/metrics.js';
import { createAuthUpstream } from '../../../src/services/web/auth-upstream.js';
import { createWebApp } from '../../../src/services/web/app.js';
import { ProductCatalog } from '../../../src/services/web/catalog.js';
import { MemoryProductShardStore } from '../../../src/services/web/products.js';
import { createShardRouter } from '../../../src/services/web/shard-router.js';
import { call, REFERENCE_MAP, tokenService } from './helpers.js';

// /metrics of both services as deployed: what each request, login, token and
// product operation adds, and who may read it.
const running: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
});

async function stack(metricsAllow: string) {
  const now = () => new Date();
  const tokens = tokenService(now);
  const authMetrics = createServiceMetrics('auth-server');
  const webMetrics = createServiceMetrics('web-server');
  const users = new MemoryUserStore();
  const auth = await listen(
    createAuthApp({
      users,
      tokens,
      now,
      log: () => undefined,
      trustedProxies: ['127.0.0.1'],
      metrics: authMetrics,
      metricsAllow,
    }),
    0,
    '127.0.0.1',
  );
  const stores = [new MemoryProductShardStore('rsA'), new MemoryProductShardStore('rsB')];
  const catalog = new ProductCatalog(createShardRouter(REFERENCE_MAP), stores, now, undefined, (event) =>
    webMetrics.shardMoves.inc({ event }),
  );
  const web = await listen(
    createWebApp({
      catalog,
      tokens,
      now,
      auth: createAuthUpstream(auth.url, 2000),
      log: () => undefined,
      metrics: webMetrics,
      metricsAllow,
    }),
    0,
    '127.0.0.1',
  );
  running.push(auth, web);
  return { auth, web };
}

/** The value of one sample line of a /metrics text, by its exact series (name and labels). */
async function sample(base: string, series: string): Promise<number | undefined> {
  const text = (await call(base, 'GET', '/metrics')).body as string;
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("the services' /metrics", () => {
  it('counts logins that failed, tokens refused, product operations per shard and cross-shard moves', async () => {
    const { auth, web } = await stack('127.0.0.0/8');
    expect(
      (
        await call(web, 'POST', '/auth/register', {
          body: { username: 'ana', email: 'ana@example.com', password: 's3cret-pass' },
        })
      ).status,
    ).toBe(201);
    expect((await call(web, 'POST', '/auth/login', { body: { username: 'ana', password: 'wrong-pass' } })).status).toBe(
      401,
    );
    const token = (await call(web, 'POST', '/auth/login', { body: { username: 'ana', password: 's3cret-pass' } })).body
      .token as string;
    expect((await call(web, 'GET', '/products', { token: 'not-a-token' })).status).toBe(401);
    expect((await call(web, 'GET', '/products')).status).toBe(401);
    const created = await call(web, 'POST', '/products', {
      token,
      body: { name: 'Arroz', price: 1.5, stock: 10, category: 'granos' },
    });
    expect(created.status).toBe(201);
    expect(
      (await call(web, 'PUT', `/products/${created.body.id as string}`, { token, body: { name: 'Pan' } })).body.shard,
    ).toBe('rsB');
    expect((await call(web, 'GET', '/products', { token })).status).toBe(200);
    expect((await call(web, 'GET', '/products/nope', { token })).status).toBe(404);

    expect(await sample(auth.url, 'login_failures_total{reason="invalid_credentials",service="auth-server"}')).toBe(1);
    expect(await sample(web.url, 'token_rejections_total{reason="invalid_token",service="web-server"}')).toBe(1);
    expect(await sample(web.url, 'token_rejections_total{reason="unauthenticated",service="web-server"}')).toBe(1);
    expect(
      await sample(
        web.url,
        'product_operations_total{operation="create",shard="rsA",outcome="ok",service="web-server"}',
      ),
    ).toBe(1);
    expect(
      await sample(
        web.url,
        'product_operations_total{operation="update",shard="rsB",outcome="ok",service="web-server"}',
      ),
    ).toBe(1);
    expect(
      await sample(web.url, 'product_operations_total{operation="list",shard="all",outcome="ok",service="web-server"}'),
    ).toBe(1);
    expect(
      await sample(
        web.url,
        'product_operations_total{operation="get",shard="unknown",outcome="not_found",service="web-server"}',
      ),
    ).toBe(1);
    expect(
      await sample(
        web.url,
        'product_operations_total{operation="list",shard="all",outcome="denied",service="web-server"}',
      ),
    ).toBe(2);
    expect(await sample(web.url, 'shard_moves_total{event="moved",service="web-server"}')).toBe(1);
    expect(
      await sample(
        web.url,
        'http_request_duration_seconds_count{service="web-server",method="PUT",route="/products/:id",status="200"}',
      ),
    ).toBe(1);
  });

  it('counts throttled requests by route', async () => {
    const { auth } = await stack('127.0.0.0/8');
    for (let attempt = 0; attempt < 6; attempt += 1) {
      await call(auth, 'POST', '/login', { body: { username: 'nobody', password: 'wrong-pass' } });
    }
    expect(await sample(auth.url, 'throttled_requests_total{limiter="/login",service="auth-server"}')).toBe(1);
  });

  it('answers 403 to a client outside METRICS_ALLOW, on both services', async () => {
    const { auth, web } = await stack('10.10.10.0/24');
    for (const server of [auth, web]) {
      const response = await call(server, 'GET', '/metrics');
      expect(response.status).toBe(403);
      expect(response.body).toEqual({
        error: { code: 'FORBIDDEN', message: '/metrics is readable only from the platform network' },
      });
    }
  });
});
