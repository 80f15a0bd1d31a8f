/**
 * The sharded catalog: merged listings, partial results, and the cross-shard
 * move protocol with a crash injected between each of its steps.
 */
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../../src/services/shared/errors.js';
import { resolveCopies, type ProductInput } from '../../../src/services/web/catalog.js';
import { testClock, twoShardCatalog } from './helpers.js';

const item = (name: string, price = 1, stock = 1, category = 'general'): ProductInput => ({
  name,
  price,
  stock,
  category,
});
const listAll = { sort: 'name', direction: 1, page: 1, pageSize: 100 } as const;

async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
}

describe('ProductCatalog listing', () => {
  it('merges shards into one ordered page with a total', async () => {
    const { catalog } = twoShardCatalog();
    for (const name of ['Pan', 'Arroz', 'Zumo', 'Manzana', 'Ñame', 'Óleo', '7up'])
      await catalog.create(item(name, name.length));
    const page = await catalog.list(listAll);
    expect(page.items.map((p) => `${p.name}@${p.shard}`)).toEqual([
      '7up@rsA',
      'Arroz@rsA',
      'Manzana@rsA',
      'Ñame@rsB',
      'Óleo@rsB',
      'Pan@rsB',
      'Zumo@rsB',
    ]);
    expect(page).toMatchObject({ total: 7, partial: false, missingShards: [] });

    const second = await catalog.list({ ...listAll, page: 2, pageSize: 3 });
    expect(second.items.map((p) => p.name)).toEqual(['Ñame', 'Óleo', 'Pan']);
    const byPrice = await catalog.list({ ...listAll, sort: 'price', direction: -1, pageSize: 2 });
    expect(byPrice.items.map((p) => p.name)).toEqual(['Manzana', 'Arroz']);
  });

  it('searches by name substring (case/accent-insensitive) and by category', async () => {
    const { catalog } = twoShardCatalog();
    await catalog.create(item('Melón', 1, 1, 'Frutas'));
    await catalog.create(item('Sandía', 1, 1, 'frutas'));
    await catalog.create(item('Pan', 1, 1, 'Panadería'));
    const melon = await catalog.list({ ...listAll, nameContains: 'MELON' });
    expect(melon.items.map((p) => p.name)).toEqual(['Melón']);
    const fruits = await catalog.list({ ...listAll, category: 'FRUTAS' });
    expect(fruits.items.map((p) => p.name)).toEqual(['Melón', 'Sandía']);
    expect(fruits.total).toBe(2);
  });

  it('returns the reachable shards with partial: true when one is down', async () => {
    const { catalog, rsB } = twoShardCatalog();
    await catalog.create(item('Arroz'));
    await catalog.create(item('Pan'));
    rsB.down = true;
    const page = await catalog.list(listAll);
    expect(page.items.map((p) => p.name)).toEqual(['Arroz']);
    expect(page).toMatchObject({ partial: true, missingShards: ['rsB'], total: 1 });
  });
});

describe('ProductCatalog single products', () => {
  it('answers 503 naming the shard when the owning shard is down, 404 when all answer', async () => {
    const { catalog, rsB } = twoShardCatalog();
    const pan = await catalog.create(item('Pan'));
    rsB.down = true;
    const err = await rejection(catalog.get(pan.id));
    expect(err.status).toBe(503);
    expect(err.extra).toEqual({ unavailable: ['rsB'] });
    expect((await rejection(catalog.create(item('Nuez')))).message).toMatch(/rsB/);
    rsB.down = false;
    expect((await rejection(catalog.get('no-such-id'))).status).toBe(404);
  });

  it('finds a product on a live shard even while another shard is down', async () => {
    const { catalog, rsB } = twoShardCatalog();
    const arroz = await catalog.create(item('Arroz'));
    rsB.down = true;
    expect((await catalog.get(arroz.id)).shard).toBe('rsA');
    expect((await catalog.update(arroz.id, { price: 9 })).price).toBe(9);
    // Deleting needs every shard: a leftover copy from an interrupted move could be on rsB.
    expect((await rejection(catalog.delete(arroz.id))).status).toBe(503);
  });

  it('updates in place when the name stays in range, keeping id and createdAt', async () => {
    const clock = testClock();
    const { catalog } = twoShardCatalog(clock.now);
    const arroz = await catalog.create(item('Arroz'));
    clock.advance(1000);
    const renamed = await catalog.update(arroz.id, { name: 'Avena', stock: 4 });
    expect(renamed).toMatchObject({ id: arroz.id, name: 'Avena', stock: 4, shard: 'rsA', createdAt: arroz.createdAt });
    expect(renamed.updatedAt).not.toBe(arroz.updatedAt);
  });
});

describe('cross-shard move', () => {
  it('moves a renamed product to its new shard with the same id', async () => {
    const { catalog, rsA, rsB } = twoShardCatalog();
    const arroz = await catalog.create(item('Arroz', 2, 5, 'granos'));
    const pan = await catalog.update(arroz.id, { name: 'Pan' });
    expect(pan).toMatchObject({ id: arroz.id, name: 'Pan', shard: 'rsB', price: 2, stock: 5 });
    expect(await rsA.inner.findById(arroz.id)).toBeNull();
    expect((await rsB.inner.findById(arroz.id))?.pending).toBeNull();
    expect((await catalog.list(listAll)).items.map((p) => p.id)).toEqual([arroz.id]);
  });

  it('crash after step 1 (copy written): readers see the old product once; the next touch completes the move', async () => {
    const { catalog, rsA, rsB } = twoShardCatalog();
    const arroz = await catalog.create(item('Arroz'));
    rsA.failNext('delete');
    expect((await rejection(catalog.update(arroz.id, { name: 'Pan' }))).status).toBe(503);
    // Half-moved on disk: old on rsA, pending copy on rsB.
    expect(await rsA.inner.findById(arroz.id)).not.toBeNull();
    expect((await rsB.inner.findById(arroz.id))?.pending).toEqual({ from: 'rsA' });
    expect(
      resolveCopies({
        copies: [
          { shard: 'rsA', product: (await rsA.inner.findById(arroz.id))! },
          { shard: 'rsB', product: (await rsB.inner.findById(arroz.id))! },
        ],
        unreachable: [],
      }),
    ).toMatchObject({
      state: 'found',
      current: { shard: 'rsA' },
    });

    const got = await catalog.get(arroz.id);
    expect(got).toMatchObject({ id: arroz.id, name: 'Pan', shard: 'rsB' });
    expect(await rsA.inner.findById(arroz.id)).toBeNull();
    expect((await rsB.inner.findById(arroz.id))?.pending).toBeNull();
  });

  it('crash after step 1 with the old shard still failing: readers keep getting the old copy, writes get 503', async () => {
    const { catalog, rsA } = twoShardCatalog();
    const arroz = await catalog.create(item('Arroz'));
    rsA.failNext('delete');
    await rejection(catalog.update(arroz.id, { name: 'Pan' }));
    rsA.failNext('delete');
    expect(await catalog.get(arroz.id)).toMatchObject({ name: 'Arroz', shard: 'rsA' });
    rsA.failNext('delete');
    expect((await rejection(catalog.update(arroz.id, { stock: 3 }))).status).toBe(503);
  });

  it('a listing after a crash shows the product exactly once and repairs it', async () => {
    const { catalog, rsA, rsB } = twoShardCatalog();
    const arroz = await catalog.create(item('Arroz'));
    await catalog.create(item('Manzana'));
    rsA.failNext('delete');
    await rejection(catalog.update(arroz.id, { name: 'Pan' }));
    const page = await catalog.list(listAll);
    expect(page.items.map((p) => `${p.name}@${p.shard}`)).toEqual(['Manzana@rsA', 'Pan@rsB']);
    expect(page.total).toBe(2);
    expect(await rsB.inner.findPending()).toEqual([]);
    expect(await rsA.inner.findById(arroz.id)).toBeNull();
  });

  it('a listing that cannot repair (old shard failing) still shows the product once: the old copy', async () => {
    const { catalog, rsA } = twoShardCatalog();
    const arroz = await catalog.create(item('Arroz'));
    rsA.failNext('delete');
    await rejection(catalog.update(arroz.id, { name: 'Pan' }));
    rsA.failNext('delete');
    const page = await catalog.list(listAll);
    expect(page.items.map((p) => `${p.name}@${p.shard}`)).toEqual(['Arroz@rsA']);
    expect(page.total).toBe(1);
  });

  it('crash after step 2 (old deleted, mark not cleared): readers see the new product; the next touch clears the mark', async () => {
    const { catalog, rsA, rsB } = twoShardCatalog();
    const arroz = await catalog.create(item('Arroz'));
    rsB.failNext('clearPending');
    const moved = await catalog.update(arroz.id, { name: 'Pan' });
    expect(moved.shard).toBe('rsB');
    expect((await rsB.inner.findById(arroz.id))?.pending).toEqual({ from: 'rsA' });
    expect(await rsA.inner.findById(arroz.id)).toBeNull();
    expect((await catalog.list(listAll)).items.map((p) => `${p.name}@${p.shard}`)).toEqual(['Pan@rsB']);
    expect((await rsB.inner.findById(arroz.id))?.pending).toBeNull();
  });

  it('crash during step 1 (copy not written): nothing changed, the product stays put', async () => {
    const { catalog, rsA, rsB } = twoShardCatalog();
    const arroz = await catalog.create(item('Arroz'));
    rsB.failNext('put');
    const err = await rejection(catalog.update(arroz.id, { name: 'Pan' }));
    expect(err.message).toMatch(/step 1 of 3.*rsB/);
    expect(await rsB.inner.findById(arroz.id)).toBeNull();
    expect(await catalog.get(arroz.id)).toMatchObject({ name: 'Arroz', shard: 'rsA' });
    expect(rsA.calls).not.toContain('delete');
  });

  it('a pending copy whose source shard is unreachable is not guessed at: 503 naming the source', async () => {
    const { catalog, rsA } = twoShardCatalog();
    const arroz = await catalog.create(item('Arroz'));
    rsA.failNext('delete');
    await rejection(catalog.update(arroz.id, { name: 'Pan' }));
    rsA.down = true;
    const err = await rejection(catalog.get(arroz.id));
    expect(err.status).toBe(503);
    expect(err.extra).toEqual({ unavailable: ['rsA'] });
    const page = await catalog.list(listAll);
    expect(page.items).toEqual([]);
    expect(page.missingShards).toEqual(['rsA']);
  });

  it('deleting a half-moved product removes both copies, pending first', async () => {
    const { catalog, rsA, rsB } = twoShardCatalog();
    const arroz = await catalog.create(item('Arroz'));
    rsA.failNext('delete');
    await rejection(catalog.update(arroz.id, { name: 'Pan' }));
    rsA.failNext('delete');
    await rejection(catalog.delete(arroz.id));
    // The pending copy went first, so the old copy is still the product: nothing half-deleted.
    expect(await rsB.inner.findById(arroz.id)).toBeNull();
    expect(await catalog.get(arroz.id)).toMatchObject({ name: 'Arroz', shard: 'rsA' });
    await catalog.delete(arroz.id);
    expect((await rejection(catalog.get(arroz.id))).status).toBe(404);
  });

  it('moves back and forth keep one copy and the id', async () => {
    const { catalog, rsA, rsB } = twoShardCatalog();
    const p = await catalog.create(item('Arroz'));
    await catalog.update(p.id, { name: 'Pan' });
    await catalog.update(p.id, { name: 'Bollo' });
    await catalog.update(p.id, { name: 'Ñoquis' });
    expect(await catalog.get(p.id)).toMatchObject({ id: p.id, name: 'Ñoquis', shard: 'rsB' });
    expect(await rsA.inner.count({})).toBe(0);
    expect(await rsB.inner.count({})).toBe(1);
  });

  it('concurrent listings during moves never see a product twice or miss it', async () => {
    const { catalog } = twoShardCatalog(() => new Date());
    const ids = [];
    for (let i = 0; i < 10; i += 1) ids.push((await catalog.create(item(`Arroz ${i}`))).id);
    const names = ['Pan', 'Bollo'];
    const moves = ids.map(async (id, i) => {
      for (let round = 0; round < 6; round += 1) await catalog.update(id, { name: `${names[round % 2]} ${i}` });
    });
    const reads = (async () => {
      for (let round = 0; round < 30; round += 1) {
        const page = await catalog.list(listAll);
        expect(page.items.map((p) => p.id).sort()).toEqual([...ids].sort());
        expect(page.total).toBe(10);
      }
    })();
    await Promise.all([...moves, reads]);
  });
});
