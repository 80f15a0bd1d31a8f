/**
 * The in-memory shard store's sorted indexes against a plain sort of
 * everything, with enough products to split index chunks many times and with
 * changes, deletes and re-inserts in between.
 */
import { describe, expect, it } from 'vitest';
import {
  compareProducts,
  MemoryProductShardStore,
  type SortField,
  type StoredProduct,
} from '../../../src/services/web/products.js';

/** A small deterministic pseudo-random sequence (no Math.random: failures must reproduce). */
function sequence(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('MemoryProductShardStore indexes', () => {
  it('return the same pages as sorting everything, in every order, after thousands of writes', async () => {
    const random = sequence(7);
    const store = new MemoryProductShardStore('rsA');
    const all = new Map<string, StoredProduct>();
    const at = new Date('2025-01-01T00:00:00Z');
    for (let i = 0; i < 3000; i += 1) {
      const product: StoredProduct = {
        id: `id-${String(Math.floor(random() * 1e9)).padStart(9, '0')}-${i}`,
        name: `${'ABCDEFGHIJ'[Math.floor(random() * 10)]}ombre ${Math.floor(random() * 100)}`,
        price: Math.floor(random() * 50),
        stock: Math.floor(random() * 20),
        category: random() < 0.5 ? 'Frutas' : 'otros',
        createdAt: at,
        updatedAt: at,
        pending: null,
        version: 1,
      };
      await store.put(product);
      all.set(product.id, product);
    }
    const ids = [...all.keys()];
    for (let i = 0; i < 600; i += 1) {
      const id = ids[Math.floor(random() * ids.length)] as string;
      if (!all.has(id)) continue;
      if (i % 3 === 0) {
        await store.delete(id);
        all.delete(id);
      } else {
        const outcome = await store.update(id, { price: Math.floor(random() * 50), name: `Zeta ${i}` }, at, null);
        if (outcome.state === 'updated') all.set(id, outcome.product);
      }
    }
    for (const field of ['name', 'price', 'stock'] as SortField[]) {
      for (const direction of [1, -1] as const) {
        const sort = { field, direction };
        const expected = [...all.values()]
          .sort(compareProducts(sort))
          .slice(0, 250)
          .map((p) => p.id);
        expect((await store.query({ filter: {}, sort, limit: 250 })).map((p) => p.id)).toEqual(expected);
        const fruits = [...all.values()]
          .filter((p) => p.category === 'Frutas')
          .sort(compareProducts(sort))
          .slice(0, 40)
          .map((p) => p.id);
        expect((await store.query({ filter: { category: 'frutas' }, sort, limit: 40 })).map((p) => p.id)).toEqual(
          fruits,
        );
      }
    }
    expect(await store.count({})).toBe(all.size);
  });
});
