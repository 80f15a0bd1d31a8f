/**
 * The original service routed on `name[0].upper()` and sent anything outside
 * A–Z to rsA, and never moved renamed products. Each case below is one of
 * those bugs, exercised end to end through web-server's HTTP API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startStack } from './helpers.js';

let stack: Awaited<ReturnType<typeof startStack>>;
let token: string;

beforeAll(async () => {
  stack = await startStack();
  await call(stack.web, 'POST', '/auth/register', {
    body: { username: 'tester', email: 't@example.com', password: 'tester-pass' },
  });
  token = (await call(stack.web, 'POST', '/auth/login', { body: { username: 'tester', password: 'tester-pass' } })).body
    .token;
});
afterAll(async () => {
  await stack.close();
});

async function create(name: string): Promise<{ id: string; shard: string }> {
  const res = await call(stack.web, 'POST', '/products', {
    token,
    body: { name, price: 1, stock: 1, category: 'test' },
  });
  expect(res.status).toBe(201);
  return res.body;
}

describe('routing bugs of the original, fixed', () => {
  it('Ñame goes to the shard holding Ñ (N–Z → rsB), not rsA', async () => {
    const name = await create('Ñame');
    expect(name.shard).toBe('rsB');
    expect(await stack.rsB.inner.findById(name.id)).not.toBeNull();
  });

  it('Óleo goes to N–Z (rsB): accents are stripped before routing', async () => {
    expect((await create('Óleo')).shard).toBe('rsB');
  });

  it('lowercase arroz goes to A–M (rsA)', async () => {
    expect((await create('arroz')).shard).toBe('rsA');
  });

  it('names starting with a digit go to the default shard', async () => {
    expect((await create('7 Up')).shard).toBe('rsA');
  });

  it('renaming Arroz to Pan moves it to rsB with the same id, and it is listed once', async () => {
    const arroz = await create('Arroz');
    expect(arroz.shard).toBe('rsA');
    const pan = await call(stack.web, 'PUT', `/products/${arroz.id}`, { token, body: { name: 'Pan' } });
    expect(pan.body).toMatchObject({ id: arroz.id, name: 'Pan', shard: 'rsB' });
    expect(await stack.rsA.inner.findById(arroz.id)).toBeNull();
    const listed = await call(stack.web, 'GET', '/products?q=pan', { token });
    expect(listed.body.items.filter((p: { id: string }) => p.id === arroz.id)).toHaveLength(1);
    expect((await call(stack.web, 'GET', `/products/${arroz.id}`, { token })).body.shard).toBe('rsB');
  });
});
