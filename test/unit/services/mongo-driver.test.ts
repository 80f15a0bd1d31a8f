/**
 * The real Mongo stores against a loopback port where nothing listens: the
 * driver's MongoServerSelectionError must surface as StoreUnavailableError
 * (→ 503 naming the shard) within the short timeout, and the URL rules hold.
 */
import { describe, expect, it } from 'vitest';
import { MongoUserStore } from '../../../src/services/auth/mongo-users.js';
import { StoreUnavailableError } from '../../../src/services/shared/errors.js';
import { isUnreachableError, openDatabase } from '../../../src/services/shared/mongo.js';
import { ProductCatalog } from '../../../src/services/web/catalog.js';
import { MongoProductShardStore } from '../../../src/services/web/mongo-products.js';
import { MemoryProductShardStore } from '../../../src/services/web/products.js';
import { createShardRouter } from '../../../src/services/web/shard-router.js';
import { call, refusedEndpoint, REFERENCE_MAP, webForOneUser } from './helpers.js';

const fast = { serverSelectionTimeoutMS: 300, connectTimeoutMS: 300, socketTimeoutMS: 1000 };

describe('Mongo stores with the database down', () => {
  it('user store operations fail fast with StoreUnavailableError naming the database', async () => {
    const database = openDatabase(`mongodb://${(await refusedEndpoint()).address}/auth_db`, fast);
    try {
      const started = Date.now();
      const err = await new MongoUserStore(database).findByUsername('ana').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as StoreUnavailableError).store).toBe('auth_db');
      expect(isUnreachableError((err as Error).cause)).toBe(true);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await database.close();
    }
  });

  it('retries a fresh connection after a failed first connect instead of staying closed', async () => {
    // The driver keeps a client whose first connect failed closed forever ("Topology is closed");
    // each attempt here must be a new connection attempt, which is what recovery needs.
    const database = openDatabase(`mongodb://${(await refusedEndpoint()).address}/auth_db`, fast);
    const store = new MongoUserStore(database);
    try {
      for (let attempt = 0; attempt < 2; attempt += 1) {
        const err = (await store.ping().catch((e: unknown) => e)) as StoreUnavailableError;
        expect(err).toBeInstanceOf(StoreUnavailableError);
        expect(err.message).toMatch(/ECONNREFUSED|Server selection timed out/);
        expect(err.message).not.toMatch(/Topology is closed/);
      }
    } finally {
      await database.close();
    }
  });

  it('a dead shard gives 503 naming it, and a partial listing from the live one', async () => {
    const database = openDatabase(`mongodb://${(await refusedEndpoint()).address}/products_db?replicaSet=rsB`, fast);
    expect(database.replicaSet).toBe(true);
    const catalog = new ProductCatalog(
      createShardRouter(REFERENCE_MAP),
      [new MemoryProductShardStore('rsA'), new MongoProductShardStore('rsB', database)],
      () => new Date(),
    );
    const { web, token } = await webForOneUser(catalog);
    try {
      expect(
        (await call(web, 'POST', '/products', { token, body: { name: 'Arroz', price: 1, stock: 1, category: 'c' } }))
          .status,
      ).toBe(201);
      const pan = await call(web, 'POST', '/products', {
        token,
        body: { name: 'Pan', price: 1, stock: 1, category: 'c' },
      });
      expect(pan.status).toBe(503);
      expect(pan.body.error).toMatchObject({ code: 'DATABASE_UNAVAILABLE', unavailable: ['rsB'] });
      const listed = await call(web, 'GET', '/products', { token });
      expect(listed.body).toMatchObject({ total: 1, partial: true, missingShards: ['rsB'] });
    } finally {
      await web.close();
      await database.close();
    }
  });

  it('requires a database name in the URL', () => {
    expect(() => openDatabase('mongodb://127.0.0.1:27017')).toThrow(/database name is missing/);
    expect(() => openDatabase('http://127.0.0.1/db')).toThrow(/mongodb:\/\//);
    expect(openDatabase('mongodb://u:p%40ss@127.0.0.1:27017/auth_db').name).toBe('auth_db');
    expect(openDatabase('mongodb://h1:1,h2:2,h3:3/products_db?replicaSet=rsA')).toMatchObject({
      name: 'products_db',
      replicaSet: true,
    });
    expect(openDatabase('mongodb://h1:1/auth_db').replicaSet).toBe(false);
  });
});
