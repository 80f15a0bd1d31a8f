/**
 * The store CONTRACT: what every UserStore and ProductShardStore must do,
 * as functions taking a store factory. The unit tier runs them against the
 * in-memory stores, test/mongod/services-stores.test.ts against a real mongod,
 * so the fakes the other tests rely on behave like production.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { UserRecord, UserStore } from '../../../src/services/auth/users.js';
import { DuplicateKeyError } from '../../../src/services/shared/errors.js';
import type { ProductShardStore, StoredProduct } from '../../../src/services/web/products.js';

function user(username: string, role: UserRecord['role'] = 'user'): UserRecord {
  // Millisecond precision: MongoDB stores dates to the millisecond.
  return {
    id: randomUUID(),
    username,
    email: `${username}@example.com`,
    passwordHash: '$2b$10$abcdefghijklmnopqrstuv',
    role,
    createdAt: new Date('2025-02-03T04:05:06.789Z'),
    tokenVersion: 0,
  };
}

/** UserStore behaviour; `makeStore` returns a fresh, empty store. */
export function userStoreContract(label: string, makeStore: () => Promise<UserStore>): void {
  describe(`UserStore contract: ${label}`, () => {
    it('creates, finds and lists users ordered by username', async () => {
      const store = await makeStore();
      const bob = user('bob');
      await store.create(bob);
      await store.create(user('alice', 'admin'));
      expect(await store.findByUsername('bob')).toEqual(bob);
      expect(await store.findByUsername('nobody')).toBeNull();
      expect((await store.list()).map((u) => [u.username, u.role])).toEqual([
        ['alice', 'admin'],
        ['bob', 'user'],
      ]);
    });

    it('refuses a second user with the same username', async () => {
      const store = await makeStore();
      await store.create(user('carol'));
      await expect(store.create(user('carol'))).rejects.toBeInstanceOf(DuplicateKeyError);
      expect(await store.list()).toHaveLength(1);
    });

    it('deletes and changes roles, reporting whether the user existed', async () => {
      const store = await makeStore();
      await store.create(user('dave'));
      expect(await store.setRole('dave', 'admin')).toBe(true);
      expect((await store.findByUsername('dave'))?.role).toBe('admin');
      expect(await store.setRole('ghost', 'admin')).toBe(false);
      expect(await store.delete('dave')).toBe(true);
      expect(await store.delete('dave')).toBe(false);
      expect(await store.findByUsername('dave')).toBeNull();
    });

    it('treats usernames equal after case folding and NFKC as one account', async () => {
      const store = await makeStore();
      const ana = user('Ana');
      await store.create(ana);
      await expect(store.create(user('ana'))).rejects.toBeInstanceOf(DuplicateKeyError);
      await expect(store.create(user('ANA'))).rejects.toBeInstanceOf(DuplicateKeyError);
      await expect(store.create(user('\uFF21\uFF4E\uFF41'))).rejects.toBeInstanceOf(DuplicateKeyError); // full-width Ａｎａ
      expect((await store.findByUsername('aNA'))?.id).toBe(ana.id);
      expect((await store.list()).map((u) => u.username)).toEqual(['Ana']);
      expect(await store.setRole('ANA', 'admin')).toBe(true);
      expect(await store.delete('ana')).toBe(true);
      expect(await store.findById(ana.id)).toBeNull();
    });

    it('revocation: finds by id, bumps tokenVersion on each role change, counts admins', async () => {
      const store = await makeStore();
      const erin = user('erin');
      await store.create(erin);
      await store.create(user('root', 'admin'));
      expect(await store.findById(erin.id)).toEqual(erin);
      expect(await store.findById('no-such-id')).toBeNull();
      expect(await store.countAdmins()).toBe(1);
      await store.setRole('erin', 'admin');
      expect(await store.findById(erin.id)).toEqual({ ...erin, role: 'admin', tokenVersion: 1 });
      expect(await store.countAdmins()).toBe(2);
      await store.setRole('erin', 'user');
      expect((await store.findById(erin.id))?.tokenVersion).toBe(2);
      expect(await store.countAdmins()).toBe(1);
    });

    it('answers ping and prepares its indexes', async () => {
      const store = await makeStore();
      await expect(store.prepare()).resolves.toBeUndefined();
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}

function product(name: string, fields: Partial<StoredProduct> = {}): StoredProduct {
  const at = new Date('2025-03-01T10:00:00.123Z');
  return {
    id: randomUUID(),
    name,
    price: 1,
    stock: 1,
    category: 'general',
    createdAt: at,
    updatedAt: at,
    pending: null,
    version: 1,
    ...fields,
  };
}

/** ProductShardStore behaviour; `makeStore(shard)` returns a fresh, empty store. */
export function productShardStoreContract(
  label: string,
  makeStore: (shard: string) => Promise<ProductShardStore>,
): void {
  describe(`ProductShardStore contract: ${label}`, () => {
    it('puts (insert or replace), finds and deletes by id', async () => {
      const store = await makeStore('rsA');
      expect(store.shard).toBe('rsA');
      const arroz = product('Arroz', { price: 2.5, stock: 10 });
      await store.put(arroz);
      expect(await store.findById(arroz.id)).toEqual(arroz);
      await store.put({ ...arroz, price: 3 });
      expect((await store.findById(arroz.id))?.price).toBe(3);
      expect(await store.delete(arroz.id)).toBe(true);
      expect(await store.delete(arroz.id)).toBe(false);
      expect(await store.findById(arroz.id)).toBeNull();
    });

    it('update sets only the given fields and bumps the version; missing ids are reported', async () => {
      const store = await makeStore('rsA');
      const azucar = product('Azúcar', { price: 2, stock: 5, category: 'Dulces' });
      const later = new Date('2025-03-02T10:00:00.456Z');
      expect(await store.update(azucar.id, { stock: 7 }, later, null)).toEqual({ state: 'missing' });
      expect(await store.findById(azucar.id)).toBeNull();
      await store.put(azucar);
      const outcome = await store.update(azucar.id, { stock: 7 }, later, null);
      expect(outcome).toEqual({ state: 'updated', product: { ...azucar, stock: 7, updatedAt: later, version: 2 } });
      await store.update(azucar.id, { name: 'Miel', category: 'Untables' }, later, 2);
      expect(await store.findById(azucar.id)).toEqual({
        ...azucar,
        name: 'Miel',
        category: 'Untables',
        stock: 7,
        updatedAt: later,
        version: 3,
      });
      // The name and category keys follow the change: search and sort see the new values.
      expect(
        (
          await store.query({
            filter: { nameContains: 'miel', category: 'untables' },
            sort: { field: 'name', direction: 1 },
            limit: 5,
          })
        ).map((p) => p.id),
      ).toEqual([azucar.id]);
    });

    it('conflict: an update or delete expecting an older version changes nothing and reports the stored product', async () => {
      const store = await makeStore('rsA');
      const pan = product('Pan', { price: 1, stock: 1 });
      await store.put(pan);
      const at = new Date('2025-03-02T10:00:00.000Z');
      await store.update(pan.id, { price: 2 }, at, 1);
      const stale = await store.update(pan.id, { stock: 9 }, at, 1);
      expect(stale).toEqual({ state: 'conflict', current: { ...pan, price: 2, updatedAt: at, version: 2 } });
      expect(await store.delete(pan.id, 1)).toBe(false);
      expect((await store.findById(pan.id))?.stock).toBe(1);
      expect(await store.delete(pan.id, 2)).toBe(true);
      expect(await store.findById(pan.id)).toBeNull();
    });

    it('concurrent updates of different fields both survive', async () => {
      const store = await makeStore('rsA');
      const leche = product('Leche', { price: 1, stock: 1 });
      await store.put(leche);
      const at = new Date('2025-03-02T10:00:00.000Z');
      await Promise.all([
        store.update(leche.id, { price: 3 }, at, null),
        store.update(leche.id, { stock: 8 }, at, null),
      ]);
      expect(await store.findById(leche.id)).toMatchObject({ price: 3, stock: 8, version: 3 });
    });

    it('keeps and clears the pending-move mark, and lists marked products', async () => {
      const store = await makeStore('rsB');
      const pan = product('Pan', { pending: { from: 'rsA' } });
      const nuez = product('Nuez');
      await store.put(pan);
      await store.put(nuez);
      expect((await store.findById(pan.id))?.pending).toEqual({ from: 'rsA' });
      expect((await store.findPending()).map((p) => p.id)).toEqual([pan.id]);
      await store.clearPending(pan.id);
      await store.clearPending(nuez.id);
      expect((await store.findById(pan.id))?.pending).toBeNull();
      expect(await store.findPending()).toEqual([]);
    });

    it('queries with case/accent-insensitive name search, category, sort and limit; counts', async () => {
      const store = await makeStore('rsA');
      const names = ['Ñandú', 'nuez', 'Naranja', 'Óleo', 'olla', 'Melón', 'melocotón'];
      for (const [i, name] of names.entries())
        await store.put(product(name, { price: i, stock: 10 - i, category: i % 2 === 0 ? 'Frutas' : 'Otros' }));
      const byName = await store.query({ filter: {}, sort: { field: 'name', direction: 1 }, limit: 10 });
      expect(byName.map((p) => p.name)).toEqual(['melocotón', 'Melón', 'Naranja', 'nuez', 'Ñandú', 'Óleo', 'olla']);
      const desc = await store.query({ filter: {}, sort: { field: 'name', direction: -1 }, limit: 2 });
      expect(desc.map((p) => p.name)).toEqual(['olla', 'Óleo']);
      const byPrice = await store.query({ filter: {}, sort: { field: 'price', direction: -1 }, limit: 3 });
      expect(byPrice.map((p) => p.price)).toEqual([6, 5, 4]);
      const byStock = await store.query({ filter: {}, sort: { field: 'stock', direction: 1 }, limit: 1 });
      expect(byStock.map((p) => p.stock)).toEqual([4]);
      const search = await store.query({
        filter: { nameContains: 'mel' },
        sort: { field: 'name', direction: 1 },
        limit: 10,
      });
      expect(search.map((p) => p.name)).toEqual(['melocotón', 'Melón']);
      const accent = await store.query({
        filter: { nameContains: 'leo' },
        sort: { field: 'name', direction: 1 },
        limit: 10,
      });
      expect(accent.map((p) => p.name)).toEqual(['Óleo']);
      const enye = await store.query({
        filter: { nameContains: 'n\u0303' },
        sort: { field: 'name', direction: 1 },
        limit: 10,
      });
      expect(enye.map((p) => p.name)).toEqual(['Ñandú']);
      const fruits = await store.query({
        filter: { category: 'frutas' },
        sort: { field: 'price', direction: 1 },
        limit: 10,
      });
      expect(fruits.map((p) => p.price)).toEqual([0, 2, 4, 6]);
      expect(await store.count({})).toBe(7);
      expect(await store.count({ category: 'otros' })).toBe(3);
      expect(await store.count({ nameContains: 'n', category: 'frutas' })).toBe(3); // Ñandú, Naranja, melocotón
    });

    it("breaks sort ties by id, in the listing's direction, so pages are stable", async () => {
      const store = await makeStore('rsA');
      const same = [product('Agua'), product('Agua'), product('Agua')];
      for (const p of same) await store.put(p);
      const ids = (await store.query({ filter: {}, sort: { field: 'price', direction: 1 }, limit: 3 })).map(
        (p) => p.id,
      );
      expect(ids).toEqual(same.map((p) => p.id).sort());
      const desc = (await store.query({ filter: {}, sort: { field: 'name', direction: -1 }, limit: 2 })).map(
        (p) => p.id,
      );
      expect(desc).toEqual(
        same
          .map((p) => p.id)
          .sort()
          .reverse()
          .slice(0, 2),
      );
    });

    it('keeps its listing order through changes, deletes and moves of the mark', async () => {
      const store = await makeStore('rsA');
      const items = ['Kiwi', 'Higo', 'Lima', 'Coco', 'Dátil'].map((name, i) =>
        product(name, { price: 10 - i, stock: i }),
      );
      for (const p of items) await store.put(p);
      const at = new Date('2025-03-02T10:00:00.000Z');
      await store.update(items[0]!.id, { name: 'Banana', price: 0 }, at, null);
      await store.delete(items[2]!.id);
      await store.put({ ...items[1]!, stock: 99, pending: { from: 'rsB' } });
      const names = async (field: 'name' | 'price' | 'stock', direction: 1 | -1) =>
        (await store.query({ filter: {}, sort: { field, direction }, limit: 10 })).map((p) => p.name);
      expect(await names('name', 1)).toEqual(['Banana', 'Coco', 'Dátil', 'Higo']);
      expect(await names('price', 1)).toEqual(['Banana', 'Dátil', 'Coco', 'Higo']);
      expect(await names('stock', -1)).toEqual(['Higo', 'Dátil', 'Coco', 'Banana']);
      expect((await store.findPending()).map((p) => p.name)).toEqual(['Higo']);
      expect(await store.count({})).toBe(4);
    });

    it('treats regex characters in a search literally', async () => {
      const store = await makeStore('rsA');
      await store.put(product('C++ (libro)'));
      await store.put(product('Cxx libro'));
      const found = await store.query({
        filter: { nameContains: 'c++ (' },
        sort: { field: 'name', direction: 1 },
        limit: 10,
      });
      expect(found.map((p) => p.name)).toEqual(['C++ (libro)']);
    });

    it('answers ping and prepares its indexes', async () => {
      const store = await makeStore('rsA');
      await expect(store.prepare()).resolves.toBeUndefined();
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
