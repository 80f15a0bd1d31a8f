/**
 * Concurrent writes: field-level updates, optimistic concurrency (409 with the
 * current product), DELETE racing a cross-shard rename — in one process and
 * from a second process (a second catalog over the same shards) — and the
 * k-way merge of listings.
 */
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../../src/services/shared/errors.js';
import { mergeSorted, ProductCatalog, type ProductInput } from '../../../src/services/web/catalog.js';
import { MemoryProductShardStore, type ProductShardStore } from '../../../src/services/web/products.js';
import { createShardRouter } from '../../../src/services/web/shard-router.js';
import { call, FlakyShardStore, REFERENCE_MAP, twoShardCatalog, webForOneUser } from './helpers.js';

const item = (name: string, price = 1, stock = 1): ProductInput => ({ name, price, stock, category: 'general' });

async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
}

/** A shard store that runs `hook` once, just before the next put (step 1 of a move onto it). */
class HookedStore extends FlakyShardStore {
  beforePut: (() => Promise<unknown>) | null = null;
  override put: ProductShardStore['put'] = async (p) => {
    const hook = this.beforePut;
    this.beforePut = null;
    await hook?.();
    return this.inner.put(p);
  };
}

/** Two catalogs (two web-server processes) over the same two shards. */
function twoProcesses() {
  const rsA = new HookedStore(new MemoryProductShardStore('rsA'));
  const rsB = new HookedStore(new MemoryProductShardStore('rsB'));
  const router = createShardRouter(REFERENCE_MAP);
  const now = () => new Date();
  return {
    rsA,
    rsB,
    first: new ProductCatalog(router, [rsA, rsB], now),
    second: new ProductCatalog(router, [rsA, rsB], now),
  };
}

describe('concurrent edits', () => {
  it('a price change and a stock change made at the same time both survive', async () => {
    const { catalog } = twoShardCatalog(() => new Date());
    const leche = await catalog.create(item('Leche', 1, 1));
    await Promise.all([catalog.update(leche.id, { price: 2.5 }), catalog.update(leche.id, { stock: 40 })]);
    expect(await catalog.get(leche.id)).toMatchObject({ price: 2.5, stock: 40, version: 3 });
  });

  it('an update expecting a version someone else replaced gets 409 with the current product, and saves nothing', async () => {
    const { catalog } = twoShardCatalog(() => new Date());
    const leche = await catalog.create(item('Leche', 1, 1));
    expect(leche.version).toBe(1);
    await catalog.update(leche.id, { price: 2 }, 1);
    const err = await rejection(catalog.update(leche.id, { stock: 9 }, 1));
    expect(err.status).toBe(409);
    expect(err.code).toBe('VERSION_CONFLICT');
    expect(err.extra['current']).toMatchObject({ id: leche.id, price: 2, stock: 1, version: 2, shard: 'rsA' });
    expect(await catalog.get(leche.id)).toMatchObject({ stock: 1, version: 2 });
    // A stale rename into the other shard is refused the same way, before anything moves.
    expect((await rejection(catalog.update(leche.id, { name: 'Pan' }, 1))).status).toBe(409);
    expect((await catalog.get(leche.id)).shard).toBe('rsA');
    expect((await rejection(catalog.delete(leche.id, 1))).status).toBe(409);
    await catalog.delete(leche.id, 2);
    expect((await rejection(catalog.get(leche.id))).status).toBe(404);
  });

  it('a DELETE racing a cross-shard rename never answers success while the product survives', async () => {
    const { catalog, rsA, rsB } = twoShardCatalog(() => new Date());
    const arroz = await catalog.create(item('Arroz'));
    const [renamed, deleted] = await Promise.allSettled([
      catalog.update(arroz.id, { name: 'Pan' }),
      catalog.delete(arroz.id),
    ]);
    expect(renamed.status).toBe('fulfilled');
    expect(deleted.status).toBe('fulfilled');
    expect(await rsA.inner.findById(arroz.id)).toBeNull();
    expect(await rsB.inner.findById(arroz.id)).toBeNull();
    expect((await rejection(catalog.get(arroz.id))).status).toBe(404);
  });

  it('another process deleting the product during a move: the move undoes its copy and answers 404', async () => {
    const { first, second, rsA, rsB } = twoProcesses();
    const arroz = await first.create(item('Arroz'));
    rsB.beforePut = () => second.delete(arroz.id);
    const err = await rejection(first.update(arroz.id, { name: 'Pan' }));
    expect(err.status).toBe(404);
    expect(await rsA.inner.findById(arroz.id)).toBeNull();
    expect(await rsB.inner.findById(arroz.id)).toBeNull();
  });

  it('another process changing the product during a move: the move undoes its copy and answers 409', async () => {
    const { first, second, rsA, rsB } = twoProcesses();
    const arroz = await first.create(item('Arroz', 1, 1));
    rsB.beforePut = () => second.update(arroz.id, { price: 9 });
    const err = await rejection(first.update(arroz.id, { name: 'Pan' }));
    expect(err.status).toBe(409);
    expect(err.extra['current']).toMatchObject({ name: 'Arroz', price: 9, version: 2, shard: 'rsA' });
    expect(await rsB.inner.findById(arroz.id)).toBeNull();
    expect(await rsA.inner.findById(arroz.id)).toMatchObject({ price: 9 });
  });

  it('a delete whose copy moved away under it (another process) looks again and removes the moved copy', async () => {
    const { first, second, rsA, rsB } = twoProcesses();
    const arroz = await first.create(item('Arroz'));
    // The first process reads rsA's copy; before it deletes, the second moves it to rsB.
    const originalDelete = rsA.delete;
    let moved = false;
    rsA.delete = async (...args) => {
      if (!moved) {
        moved = true;
        await second.update(arroz.id, { name: 'Pan' });
      }
      return originalDelete(...args);
    };
    await first.delete(arroz.id);
    expect(await rsA.inner.findById(arroz.id)).toBeNull();
    expect(await rsB.inner.findById(arroz.id)).toBeNull();
  });
});

describe('renames across three or more shards', () => {
  it('refuses a rename while a third shard (neither source nor target) is down: 503 naming it, nothing moved', async () => {
    const map = {
      defaultShard: 'rsA',
      ranges: [
        { from: 'A', to: 'H', shard: 'rsA' },
        { from: 'I', to: 'P', shard: 'rsB' },
        { from: 'Q', to: 'Z', shard: 'rsC' },
      ],
      shards: { rsA: { urlEnv: 'A' }, rsB: { urlEnv: 'B' }, rsC: { urlEnv: 'C' } },
    };
    const stores = ['rsA', 'rsB', 'rsC'].map((s) => new FlakyShardStore(new MemoryProductShardStore(s)));
    const [rsA, rsB, rsC] = stores as [FlakyShardStore, FlakyShardStore, FlakyShardStore];
    const catalog = new ProductCatalog(createShardRouter(map), stores, () => new Date());
    const arroz = await catalog.create(item('Arroz'));
    rsC.down = true;
    const err = await rejection(catalog.update(arroz.id, { name: 'Pan' }));
    expect(err.status).toBe(503);
    expect(err.extra).toEqual({ unavailable: ['rsC'] });
    expect(await rsA.inner.findById(arroz.id)).toMatchObject({ name: 'Arroz' });
    expect(await rsB.inner.findById(arroz.id)).toBeNull();
    expect(rsB.calls).not.toContain('put');
    rsC.down = false;
    expect((await catalog.update(arroz.id, { name: 'Pan' })).shard).toBe('rsB');
  });
});

describe('optimistic concurrency over HTTP', () => {
  it('GET gives the version as ETag; PUT with a stale If-Match gets 409 and the current product; bad If-Match 400', async () => {
    const { catalog } = twoShardCatalog(() => new Date());
    const { web, token } = await webForOneUser(catalog);
    try {
      const created = await call(web, 'POST', '/products', {
        token,
        body: { name: 'Arroz', price: 1, stock: 1, category: 'c' },
      });
      const id = created.body.id as string;
      const got = await call(web, 'GET', `/products/${id}`, { token });
      expect(got.headers.get('etag')).toBe('"1"');
      const first = await call(web, 'PUT', `/products/${id}`, {
        token,
        body: { price: 2 },
        headers: { 'if-match': '"1"' },
      });
      expect(first).toMatchObject({ status: 200, body: { price: 2, version: 2 } });
      expect(first.headers.get('etag')).toBe('"2"');
      const stale = await call(web, 'PUT', `/products/${id}`, {
        token,
        body: { stock: 5 },
        headers: { 'if-match': '"1"' },
      });
      expect(stale.status).toBe(409);
      expect(stale.body.error).toMatchObject({
        code: 'VERSION_CONFLICT',
        current: { id, price: 2, stock: 1, version: 2 },
      });
      expect(
        (await call(web, 'PUT', `/products/${id}`, { token, body: { stock: 5 }, headers: { 'if-match': 'W/"2"' } }))
          .body.stock,
      ).toBe(5);
      expect(
        (await call(web, 'PUT', `/products/${id}`, { token, body: { stock: 6 }, headers: { 'if-match': 'v3' } })).body
          .error.field,
      ).toBe('If-Match');
      expect((await call(web, 'DELETE', `/products/${id}`, { token, headers: { 'if-match': '"2"' } })).status).toBe(
        409,
      );
      expect((await call(web, 'DELETE', `/products/${id}`, { token, headers: { 'if-match': '"3"' } })).status).toBe(
        204,
      );
    } finally {
      await web.close();
    }
  });
});

describe('mergeSorted', () => {
  it('takes the first `limit` items of sorted lists in order, reading no list past what it returns', () => {
    const byNumber = (a: number, b: number) => a - b;
    expect(mergeSorted([[1, 4, 9], [2, 3, 10], [], [5]], byNumber, 5)).toEqual([1, 2, 3, 4, 5]);
    expect(mergeSorted([[1, 4], [2]], byNumber, 10)).toEqual([1, 2, 4]);
    expect(
      mergeSorted(
        [
          [3, 2, 1],
          [4, 0],
        ],
        (a, b) => b - a,
        3,
      ),
    ).toEqual([4, 3, 2]);
    expect(mergeSorted([[1]], byNumber, 0)).toEqual([]);
  });
});
