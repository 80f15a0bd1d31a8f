/** web-server over real loopback sockets, in front of a real auth-server app, with in-memory shards. */
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAdmin } from '../../../src/services/auth/bootstrap.js';
import { listen } from '../../../src/services/shared/http.js';
import { createWebApp } from '../../../src/services/web/app.js';
import { createAuthUpstream } from '../../../src/services/web/auth-upstream.js';
import { call, refusedEndpoint, startStack, tokenService, twoShardCatalog } from './helpers.js';

let stack: Awaited<ReturnType<typeof startStack>>;
let token: string;

beforeAll(async () => {
  stack = await startStack({ webLoginLimit: { limit: 2, windowMs: 60_000 } });
  expect(
    (
      await call(stack.web, 'POST', '/auth/register', {
        body: { username: 'ana', email: 'ana@example.com', password: 'correct horse' },
      })
    ).status,
  ).toBe(201);
  const login = await call(stack.web, 'POST', '/auth/login', { body: { username: 'ana', password: 'correct horse' } });
  expect(login.status).toBe(200);
  token = login.body.token;
});
afterAll(async () => {
  await stack.close();
});

describe('products CRUD', () => {
  it('creates, reads, updates, lists and deletes', async () => {
    const created = await call(stack.web, 'POST', '/products', {
      token,
      body: { name: 'Arroz', price: 1.25, stock: 10, category: 'granos' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'Arroz', price: 1.25, stock: 10, category: 'granos', shard: 'rsA' });
    expect(created.body.id).toMatch(/^[0-9a-f-]{36}$/);
    const id = created.body.id as string;
    expect((await call(stack.web, 'GET', `/products/${id}`, { token })).body).toEqual(created.body);
    const updated = await call(stack.web, 'PUT', `/products/${id}`, { token, body: { stock: 3 } });
    expect(updated.body).toMatchObject({ id, stock: 3, shard: 'rsA' });
    const listed = await call(stack.web, 'GET', '/products?q=arr&sort=price&order=desc&page=1&pageSize=5', { token });
    expect(listed.body).toMatchObject({ page: 1, pageSize: 5, total: 1, partial: false, missingShards: [] });
    expect(listed.body.items[0]).toMatchObject({ id, shard: 'rsA' });
    expect((await call(stack.web, 'DELETE', `/products/${id}`, { token })).status).toBe(204);
    expect((await call(stack.web, 'GET', `/products/${id}`, { token })).status).toBe(404);
  });

  it.each([
    [{ price: 1, stock: 1, category: 'c' }, 'name', 'is required'],
    [{ name: '  ', price: 1, stock: 1, category: 'c' }, 'name', 'must not be empty'],
    [{ name: 'A', price: -1, stock: 1, category: 'c' }, 'price', '≥ 0'],
    [{ name: 'A', price: '3', stock: 1, category: 'c' }, 'price', 'must be a number'],
    [{ name: 'A', price: 1, stock: 1.5, category: 'c' }, 'stock', 'integer'],
    [{ name: 'A', price: 1, stock: -2, category: 'c' }, 'stock', 'integer ≥ 0'],
    [{ name: 'A', price: 1, stock: 1, category: 'c', prize: 2 }, 'prize', 'not a known field'],
  ])('rejects bad product %# with 400, field and rule', async (body, field, rule) => {
    const res = await call(stack.web, 'POST', '/products', { token, body });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe(field);
    expect(res.body.error.message).toContain(rule);
  });

  it('rejects malformed JSON, non-object bodies, empty updates, oversized bodies and bad list parameters', async () => {
    expect((await call(stack.web, 'POST', '/products', { token, raw: '{"name": "A",' })).body.error.code).toBe(
      'MALFORMED_JSON',
    );
    expect((await call(stack.web, 'POST', '/products', { token, raw: '[1,2]' })).body.error.code).toBe('INVALID_BODY');
    expect(
      (await call(stack.web, 'POST', '/products', { token, raw: JSON.stringify({ name: 'x'.repeat(40_000) }) })).status,
    ).toBe(413);
    const created = await call(stack.web, 'POST', '/products', {
      token,
      body: { name: 'Zumo', price: 1, stock: 1, category: 'c' },
    });
    expect((await call(stack.web, 'PUT', `/products/${created.body.id}`, { token, body: {} })).status).toBe(400);
    expect((await call(stack.web, 'GET', '/products?pageSize=101', { token })).body.error.field).toBe('pageSize');
    expect((await call(stack.web, 'GET', '/products?sort=color', { token })).body.error.field).toBe('sort');
    expect((await call(stack.web, 'GET', '/products?page=0', { token })).body.error.field).toBe('page');
    expect((await call(stack.web, 'GET', '/products?page=200&pageSize=100', { token })).body.error.field).toBe('page');
    expect((await call(stack.web, 'GET', '/products?color=red', { token })).body.error.field).toBe('color');
  });

  it('requires a valid token on products and users routes (verified locally)', async () => {
    expect((await call(stack.web, 'GET', '/products')).status).toBe(401);
    expect((await call(stack.web, 'GET', '/products', { token: 'garbage' })).status).toBe(401);
    const foreign = await tokenService(() => new Date(), { audience: 'other' }).sign({
      userId: 'x',
      username: 'ana',
      role: 'admin',
      tokenVersion: 0,
    });
    expect((await call(stack.web, 'GET', '/products', { token: foreign })).status).toBe(401);
    const expired = await tokenService(() => new Date(Date.now() - 2 * 3600_000)).sign({
      userId: 'x',
      username: 'ana',
      role: 'user',
      tokenVersion: 0,
    });
    expect((await call(stack.web, 'GET', '/products', { token: expired })).body.error.code).toBe('TOKEN_EXPIRED');
    expect((await call(stack.web, 'GET', '/me', { token })).body).toMatchObject({ username: 'ana', role: 'user' });
  });
});

describe('users through web-server', () => {
  it("forwards with the caller's token: 403 for a user, full management for an admin", async () => {
    expect((await call(stack.web, 'GET', '/users', { token })).status).toBe(403);
    await ensureAdmin(stack.users, 'root', 'root-password', () => new Date());
    const admin = (
      await call(stack.web, 'POST', '/auth/login', { body: { username: 'root', password: 'root-password' } })
    ).body.token;
    const created = await call(stack.web, 'POST', '/users', {
      token: admin,
      body: { username: 'bob', email: 'bob@example.com', password: 'bob-password' },
    });
    expect(created).toMatchObject({ status: 201, body: { username: 'bob', role: 'user' } });
    const listed = await call(stack.web, 'GET', '/users', { token: admin });
    expect(listed.body.users.map((u: { username: string }) => u.username)).toEqual(['ana', 'bob', 'root']);
    expect((await call(stack.web, 'DELETE', '/users/bob', { token: admin })).status).toBe(204);
  });

  it('rate-limits failed logins per client at the web-server too', async () => {
    for (let i = 0; i < 2; i += 1) {
      expect(
        (await call(stack.web, 'POST', '/auth/login', { body: { username: `nobody${i}`, password: 'wrong-pass' } }))
          .status,
      ).toBe(401);
    }
    const limited = await call(stack.web, 'POST', '/auth/login', {
      body: { username: 'ana', password: 'correct horse' },
    });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
  });
});

describe('docs, health and faults', () => {
  it('serves /docs as HTML and /ready with every shard and auth-server', async () => {
    const docs = await call(stack.web, 'GET', '/docs');
    expect(docs.headers.get('content-type')).toMatch(/text\/html/);
    expect(docs.body).toContain('/products/:id');
    expect(await call(stack.web, 'GET', '/ready')).toMatchObject({
      status: 200,
      body: { status: 'ready', shards: { rsA: 'reachable', rsB: 'reachable' }, authServer: 'reachable' },
    });
  });

  it('with one shard down: 503 naming it for its products, partial listing, /ready 503', async () => {
    const pan = await call(stack.web, 'POST', '/products', {
      token,
      body: { name: 'Pan', price: 1, stock: 1, category: 'c' },
    });
    stack.rsB.down = true;
    try {
      const got = await call(stack.web, 'GET', `/products/${pan.body.id}`, { token });
      expect(got.status).toBe(503);
      expect(got.body.error).toMatchObject({ code: 'DATABASE_UNAVAILABLE', unavailable: ['rsB'] });
      expect(got.body.error.message).toContain('rsB');
      const listed = await call(stack.web, 'GET', '/products', { token });
      expect(listed.status).toBe(200);
      expect(listed.body).toMatchObject({ partial: true, missingShards: ['rsB'] });
      const ready = await call(stack.web, 'GET', '/ready');
      expect(ready).toMatchObject({ status: 503, body: { shards: { rsA: 'reachable', rsB: 'unreachable' } } });
      expect((await call(stack.web, 'GET', '/health')).status).toBe(200);
    } finally {
      stack.rsB.down = false;
    }
    expect((await call(stack.web, 'GET', `/products/${pan.body.id}`, { token })).status).toBe(200);
  });

  it('answers 503 AUTH_UNAVAILABLE when auth-server is down, and never hangs on a silent one', async () => {
    const { catalog } = twoShardCatalog();
    const tokens = tokenService();
    const deadWeb = await listen(
      createWebApp({
        catalog,
        tokens,
        auth: createAuthUpstream(`http://${(await refusedEndpoint()).address}`),
        log: () => undefined,
      }),
      0,
      '127.0.0.1',
    );
    const silent = createServer(() => undefined); // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentPort = (silent.address() as { port: number }).port;
    const hungWeb = await listen(
      createWebApp({
        catalog,
        tokens,
        auth: createAuthUpstream(`http://127.0.0.1:${silentPort}`, 300),
        log: () => undefined,
      }),
      0,
      '127.0.0.1',
    );
    try {
      const refused = await call(deadWeb, 'POST', '/auth/login', { body: { username: 'a', password: 'b' } });
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('AUTH_UNAVAILABLE');
      const started = Date.now();
      const hung = await call(hungWeb, 'POST', '/auth/register', {
        body: { username: 'abc', email: 'a@b.co', password: 'password1' },
      });
      expect(hung.status).toBe(503);
      expect(hung.body.error.message).toMatch(/no answer within 300 ms/);
      expect(Date.now() - started).toBeLessThan(3000);
      expect((await call(deadWeb, 'GET', '/ready')).body.authServer).toBe('unreachable');
    } finally {
      silent.closeAllConnections();
      silent.close();
      await Promise.all([deadWeb.close(), hungWeb.close()]);
    }
  });
});
