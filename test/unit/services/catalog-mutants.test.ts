/**
 * The sharded catalog's answers pinned exactly where catalog.test.ts and concurrency.test.ts leave
 * room (found by mutation testing, bench/RESULTS-mutation.md): what each 404/409/503 says and
 * carries, the fields of a product as clients see it, which copy wins, the move events reported
 * for /metrics, and that errors other than an unreachable shard are not turned into 503s.
 */
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../../src/services/shared/errors.js';
import { ProductCatalog, resolveCopies, type ProductInput } from '../../../src/services/web/catalog.js';
import { MemoryProductShardStore, type StoredProduct } from '../../../src/services/web/products.js';
import { createShardRouter } from '../../../src/services/web/shard-router.js';
import { FlakyShardStore, REFERENCE_MAP, testClock } from './helpers.js';

const item = (name: string, price = 2, stock = 5, category = 'Granos'): ProductInput => ({
  name,
  price,
  stock,
  category,
});
const listAll = { sort: 'name', direction: 1, page: 1, pageSize: 100 } as const;

/** A catalog over two flaky shards with ids id-1, id-2, … and a movable clock; `events` collects move events. */
function catalogOf(stores?: { rsA: FlakyShardStore; rsB: FlakyShardStore }) {
  const clock = testClock();
  const rsA = stores?.rsA ?? new FlakyShardStore(new MemoryProductShardStore('rsA'));
  const rsB = stores?.rsB ?? new FlakyShardStore(new MemoryProductShardStore('rsB'));
  const events: string[] = [];
  let next = 0;
  const catalog = new ProductCatalog(
    createShardRouter(REFERENCE_MAP),
    [rsA, rsB],
    clock.now,
    () => `id-${(next += 1)}`,
    (event) => void events.push(event),
  );
  return { catalog, rsA, rsB, clock, events };
}

async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
}

/** An ApiError as a client sees it. */
const answer = (err: ApiError) => ({ status: err.status, code: err.code, message: err.message, extra: err.extra });

const stored = (over: Partial<StoredProduct>): StoredProduct => ({
  id: 'p',
  name: 'Arroz',
  price: 1,
  stock: 1,
  category: 'granos',
  createdAt: new Date('2025-01-01T00:00:00Z'),
  updatedAt: new Date('2025-01-01T00:00:00Z'),
  pending: null,
  version: 1,
  ...over,
});

describe('what the catalog answers', () => {
  it('a created product: every field as clients see it, on the shard of its name', async () => {
    const { catalog } = catalogOf();
    expect(await catalog.create(item('Pan'))).toEqual({
      id: 'id-1',
      name: 'Pan',
      price: 2,
      stock: 5,
      category: 'Granos',
      createdAt: '2025-01-01T00:00:00.000Z',
      updatedAt: '2025-01-01T00:00:00.000Z',
      shard: 'rsB',
      version: 1,
    });
    expect(await catalog.get('id-1')).toMatchObject({ id: 'id-1', shard: 'rsB', version: 1 });
  });

  it('a store for every shard of the map is required', () => {
    expect(
      () =>
        new ProductCatalog(createShardRouter(REFERENCE_MAP), [new MemoryProductShardStore('rsA')], () => new Date()),
    ).toThrow(/^no store for shard\(s\) rsB$/);
  });

  it('shard health: each shard of the map and whether it answers', async () => {
    const { catalog, rsB } = catalogOf();
    rsB.down = true;
    expect(await catalog.shardHealth()).toEqual({ rsA: true, rsB: false });
  });

  it('404 names the id; 503 on create names the shard and what failed', async () => {
    const { catalog, rsB } = catalogOf();
    expect(answer(await rejection(catalog.get('nope')))).toEqual({
      status: 404,
      code: 'PRODUCT_NOT_FOUND',
      message: 'no product with id nope',
      extra: {},
    });
    expect(answer(await rejection(catalog.update('nope', { stock: 1 })))).toMatchObject({ status: 404 });
    expect(answer(await rejection(catalog.delete('nope')))).toMatchObject({ status: 404 });
    rsB.down = true;
    expect(answer(await rejection(catalog.create(item('Pan'))))).toEqual({
      status: 503,
      code: 'DATABASE_UNAVAILABLE',
      message: 'could not create the product: rsB unreachable; retry once it is back',
      extra: { unavailable: ['rsB'] },
    });
  });

  it('409 on a stale version carries the product as it is now, and nothing is saved', async () => {
    const { catalog, clock } = catalogOf();
    await catalog.create(item('Arroz'));
    clock.advance(1000);
    const now = await catalog.update('id-1', { stock: 9 }, 1);
    expect(now).toMatchObject({ version: 2, stock: 9, updatedAt: '2025-01-01T00:00:01.000Z', shard: 'rsA' });
    for (const attempt of [
      catalog.update('id-1', { stock: 1 }, 1),
      catalog.update('id-1', { name: 'Pan' }, 1),
      catalog.delete('id-1', 1),
    ]) {
      expect(answer(await rejection(attempt))).toEqual({
        status: 409,
        code: 'VERSION_CONFLICT',
        message:
          'product id-1 was changed by someone else (now version 2); nothing was saved — review the current values and retry',
        extra: { current: now },
      });
    }
    expect(await catalog.get('id-1')).toEqual(now);
    await catalog.delete('id-1', 2);
    expect((await rejection(catalog.get('id-1'))).status).toBe(404);
  });
});

describe('cross-shard moves', () => {
  it('a rename into another range: new version and time, same id and creation; reported as one move', async () => {
    const { catalog, rsA, rsB, clock, events } = catalogOf();
    await catalog.create(item('Arroz'));
    clock.advance(2000);
    expect(await catalog.update('id-1', { name: 'Pan', price: 3 })).toEqual({
      id: 'id-1',
      name: 'Pan',
      price: 3,
      stock: 5,
      category: 'Granos',
      createdAt: '2025-01-01T00:00:00.000Z',
      updatedAt: '2025-01-01T00:00:02.000Z',
      shard: 'rsB',
      version: 2,
    });
    expect(events).toEqual(['moved']);
    expect(await rsA.inner.findById('id-1')).toBeNull();
    expect(await rsB.inner.findById('id-1')).toMatchObject({ name: 'Pan', version: 2, pending: null });
  });

  it('a rename while a shard is down is refused before anything moves, naming the shard', async () => {
    const { catalog, rsB, events } = catalogOf();
    await catalog.create(item('Arroz'));
    rsB.down = true;
    // Within its range a rename needs only the shard that holds the product.
    expect(await catalog.update('id-1', { name: 'Berenjena' })).toMatchObject({ name: 'Berenjena', shard: 'rsA' });
    expect(answer(await rejection(catalog.update('id-1', { name: 'Pan' })))).toEqual({
      status: 503,
      code: 'DATABASE_UNAVAILABLE',
      message:
        'moving a renamed product to its new shard needs every shard (to rule out a copy left by an interrupted move): rsB unreachable; retry once it is back',
      extra: { unavailable: ['rsB'] },
    });
    expect(answer(await rejection(catalog.delete('id-1')))).toMatchObject({
      message:
        'deleting a product needs every shard (to rule out a copy left by an interrupted move): rsB unreachable; retry once it is back',
    });
    expect(events).toEqual([]);
  });

  it('an interrupted move: the step that failed is named, the next read finishes it and reports the repair', async () => {
    const { catalog, rsA, rsB, events } = catalogOf();
    await catalog.create(item('Arroz'));
    rsA.failNext('delete');
    expect((await rejection(catalog.update('id-1', { name: 'Pan' }))).message).toBe(
      'could not move product id-1 (step 2 of 3: remove from rsA; completes on next access): rsA unreachable; retry once it is back',
    );
    expect(events).toEqual([]);
    rsA.failNext('delete');
    expect((await rejection(catalog.update('id-1', { stock: 1 }))).message).toBe(
      'could not finish moving product id-1 off rsA: rsA unreachable; retry once it is back',
    );
    rsB.failNext('clearPending');
    expect((await rejection(catalog.update('id-1', { stock: 1 }))).message).toBe(
      'could not finish moving product id-1 onto rsB: rsB unreachable; retry once it is back',
    );
    // The failed clear came after the delete from rsA: the move is committed, a read only clears the mark.
    expect(await rsA.inner.findById('id-1')).toBeNull();
    expect(await catalog.get('id-1')).toMatchObject({ name: 'Pan', shard: 'rsB', version: 2 });
    expect(events).toEqual(['repaired']);
    expect(await rsB.inner.findPending()).toEqual([]);
  });

  it('a listing that finds a half-moved product repairs it once and reports it', async () => {
    const { catalog, rsA, events } = catalogOf();
    await catalog.create(item('Arroz'));
    await catalog.create(item('Berenjena'));
    rsA.failNext('delete');
    await rejection(catalog.update('id-1', { name: 'Pan' }));
    const page = await catalog.list(listAll);
    expect(page).toMatchObject({ page: 1, pageSize: 100, total: 2, partial: false, missingShards: [] });
    expect(page.items.map((p) => `${p.id} ${p.name}@${p.shard}`)).toEqual(['id-2 Berenjena@rsA', 'id-1 Pan@rsB']);
    expect(events).toEqual(['repaired']);
  });

  it('a failure other than an unreachable shard is not turned into a 503', async () => {
    const broken = new Error('BSON document too large');
    class Broken extends FlakyShardStore {
      override findById = async (): Promise<StoredProduct | null> => {
        throw broken;
      };
    }
    const { catalog } = catalogOf({
      rsA: new FlakyShardStore(new MemoryProductShardStore('rsA')),
      rsB: new Broken(new MemoryProductShardStore('rsB')),
    });
    await expect(catalog.get('id-1')).rejects.toBe(broken);
    class BrokenPut extends FlakyShardStore {
      override put = async (): Promise<void> => {
        throw broken;
      };
    }
    const second = catalogOf({
      rsA: new BrokenPut(new MemoryProductShardStore('rsA')),
      rsB: new FlakyShardStore(new MemoryProductShardStore('rsB')),
    });
    await expect(second.catalog.create(item('Arroz'))).rejects.toBe(broken);
  });

  it('a committed move whose mark cannot be cleared for another reason than an outage fails loudly', async () => {
    const broken = new Error('not authorized on products_db');
    class Unclearable extends FlakyShardStore {
      override clearPending = async (): Promise<void> => {
        throw broken;
      };
    }
    const { catalog } = catalogOf({
      rsA: new FlakyShardStore(new MemoryProductShardStore('rsA')),
      rsB: new Unclearable(new MemoryProductShardStore('rsB')),
    });
    await catalog.create(item('Arroz'));
    await expect(catalog.update('id-1', { name: 'Pan' })).rejects.toBe(broken);
  });
});

describe('an update racing another process on the same shard', () => {
  /** Another process acts on the product between our read and our write. */
  class Racing extends FlakyShardStore {
    before: (id: string) => Promise<unknown> = async () => undefined;
    override update: FlakyShardStore['update'] = async (id, ...rest) => {
      await this.before(id);
      return this.inner.update(id, ...rest);
    };
  }

  it('deleted meanwhile: 404; changed meanwhile (with If-Match): 409 with what it is now', async () => {
    const rsA = new Racing(new MemoryProductShardStore('rsA'));
    const { catalog } = catalogOf({ rsA, rsB: new FlakyShardStore(new MemoryProductShardStore('rsB')) });
    await catalog.create(item('Arroz'));
    rsA.before = async (id) => rsA.inner.update(id, { stock: 7 }, new Date('2025-01-01T00:00:09Z'), null);
    expect(answer(await rejection(catalog.update('id-1', { price: 4 }, 1)))).toMatchObject({
      status: 409,
      code: 'VERSION_CONFLICT',
      extra: { current: { id: 'id-1', stock: 7, price: 2, version: 2, shard: 'rsA' } },
    });
    rsA.before = async (id) => rsA.inner.delete(id);
    expect(answer(await rejection(catalog.update('id-1', { price: 4 })))).toMatchObject({
      status: 404,
      message: 'no product with id id-1',
    });
  });
});

describe('delete', () => {
  it('a copy changed under the delete is looked up again; one that kept changing gives 409 PRODUCT_BUSY', async () => {
    /** Another process bumps the product's version just before each of our deletes. */
    class Busy extends FlakyShardStore {
      bumps = 0;
      override delete = async (id: string, expectedVersion?: number): Promise<boolean> => {
        this.bumps += 1;
        await this.inner.update(id, { stock: this.bumps }, new Date(), null);
        return this.inner.delete(id, expectedVersion);
      };
    }
    const rsA = new Busy(new MemoryProductShardStore('rsA'));
    const { catalog } = catalogOf({ rsA, rsB: new FlakyShardStore(new MemoryProductShardStore('rsB')) });
    await catalog.create(item('Arroz'));
    expect(answer(await rejection(catalog.delete('id-1')))).toEqual({
      status: 409,
      code: 'PRODUCT_BUSY',
      message: 'product id-1 kept changing while being deleted; retry',
      extra: {},
    });
    expect(rsA.bumps).toBe(3);
    expect(await rsA.inner.findById('id-1')).toMatchObject({ version: 4 });
  });

  it('a copy deleted by someone else meanwhile: the delete succeeds on its second look', async () => {
    class Raced extends FlakyShardStore {
      override delete = async (id: string): Promise<boolean> => {
        await this.inner.delete(id);
        return false;
      };
    }
    const rsA = new Raced(new MemoryProductShardStore('rsA'));
    const { catalog } = catalogOf({ rsA, rsB: new FlakyShardStore(new MemoryProductShardStore('rsB')) });
    await catalog.create(item('Arroz'));
    await expect(catalog.delete('id-1')).resolves.toBeUndefined();
    expect(await rsA.inner.findById('id-1')).toBeNull();
  });
});

describe('resolveCopies: which copy is the product', () => {
  const early = new Date('2025-01-01T00:00:00Z');
  const late = new Date('2025-01-02T00:00:00Z');

  it('of two settled copies the newer wins, in either order', () => {
    const a = { shard: 'rsA', product: stored({ updatedAt: late }) };
    const b = { shard: 'rsB', product: stored({ updatedAt: early }) };
    for (const copies of [
      [a, b],
      [b, a],
    ])
      expect(resolveCopies({ copies, unreachable: [] })).toEqual({ state: 'found', current: a, halfMoved: null });
  });

  it('a pending copy from another shard than the settled one is not a half-move of it', () => {
    const settled = { shard: 'rsA', product: stored({}) };
    const pending = { shard: 'rsB', product: stored({ pending: { from: 'rsC' } }) };
    expect(resolveCopies({ copies: [settled, pending], unreachable: [] })).toEqual({
      state: 'found',
      current: settled,
      halfMoved: null,
    });
    const moving = { shard: 'rsB', product: stored({ pending: { from: 'rsA' } }) };
    expect(resolveCopies({ copies: [settled, moving], unreachable: ['rsC'] })).toEqual({
      state: 'found',
      current: settled,
      halfMoved: { pending: moving, sourceHasCopy: true },
    });
  });

  it('only pending copies: the newest counts once its source is known not to hold the product', () => {
    const older = { shard: 'rsB', product: stored({ updatedAt: early, pending: { from: 'rsA' } }) };
    const newer = { shard: 'rsC', product: stored({ updatedAt: late, pending: { from: 'rsD' } }) };
    expect(resolveCopies({ copies: [older, newer], unreachable: ['rsA'] })).toEqual({
      state: 'found',
      current: newer,
      halfMoved: { pending: newer, sourceHasCopy: false },
    });
    expect(resolveCopies({ copies: [newer, older], unreachable: ['rsD', 'rsE'] })).toEqual({
      state: 'unknown',
      unreachable: ['rsD'],
    });
  });

  it('no copy: missing when every shard answered, unknown naming the silent ones otherwise', () => {
    expect(resolveCopies({ copies: [], unreachable: [] })).toEqual({ state: 'missing' });
    expect(resolveCopies({ copies: [], unreachable: ['rsA', 'rsB'] })).toEqual({
      state: 'unknown',
      unreachable: ['rsA', 'rsB'],
    });
  });
});

describe('listing', () => {
  it('filters by name and category only when given; the total counts every match, the page only its slice', async () => {
    const { catalog } = catalogOf();
    for (const name of ['Arroz', 'Avena', 'Pan', 'Pasta']) await catalog.create(item(name));
    await catalog.create(item('Atún', 1, 1, 'Pescado'));
    const page = await catalog.list({ ...listAll, nameContains: '', category: '', page: 2, pageSize: 2 });
    expect(page).toMatchObject({ page: 2, pageSize: 2, total: 5 });
    expect(page.items.map((p) => p.name)).toEqual(['Avena', 'Pan']);
    const fish = await catalog.list({ ...listAll, category: 'pescado' });
    expect(fish.items.map((p) => p.name)).toEqual(['Atún']);
    expect(fish.total).toBe(1);
    const pa = await catalog.list({ ...listAll, nameContains: 'pa' });
    expect(pa.items.map((p) => p.name)).toEqual(['Pan', 'Pasta']);
  });

  it('a committed move whose mark cannot be cleared yet is listed once, under its new name', async () => {
    const { catalog, rsB } = catalogOf();
    await catalog.create(item('Arroz'));
    // Step (c) of the move fails, and so does the listing's repair: the pending copy is the product.
    rsB.failNext('clearPending');
    rsB.failNext('clearPending');
    await catalog.update('id-1', { name: 'Pan' });
    const page = await catalog.list(listAll);
    expect(page.items.map((p) => `${p.name}@${p.shard}`)).toEqual(['Pan@rsB']);
    expect(page.total).toBe(1);
  });

  it('a pending copy of a move still in flight elsewhere is neither shown twice nor counted', async () => {
    const { catalog, rsA, rsB } = catalogOf();
    await catalog.create(item('Arroz'));
    // Another process did step 1 of a move to rsB and has not deleted from rsA yet; rsA refuses deletes.
    await rsB.inner.put({ ...(await rsA.inner.findById('id-1'))!, name: 'Pan', version: 2, pending: { from: 'rsA' } });
    rsA.failNext('delete');
    const page = await catalog.list(listAll);
    expect(page.items.map((p) => `${p.name}@${p.shard}`)).toEqual(['Arroz@rsA']);
    expect(page.total).toBe(1);
  });
});
