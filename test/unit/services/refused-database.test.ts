/**
 * Readiness with the database down: a database whose hosts refuse the connection makes /ready answer
 * not-ready after one TCP handshake, not after the driver's server selection (2 s). The handshake is an
 * injected connector that refuses at once, as the TCP stack does for a port nothing listens on; a ping
 * that settles within one turn of the event loop waited for no timeout (the driver's are 2 s).
 * Healthy and accepting-but-silent databases keep the driver's behaviour.
 */
import { MongoServerSelectionError } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { createAuthApp } from '../../../src/services/auth/app.js';
import { MongoUserStore } from '../../../src/services/auth/mongo-users.js';
import { StoreUnavailableError } from '../../../src/services/shared/errors.js';
import { listen } from '../../../src/services/shared/http.js';
import { DEFAULT_MONGO_TIMEOUTS, openDatabase, type MongoDatabase } from '../../../src/services/shared/mongo.js';
import {
  anyHostAccepts,
  databaseHosts,
  NoHostAcceptsError,
  tcpConnector,
  type Connector,
} from '../../../src/services/shared/tcp-probe.js';
import { ProductCatalog } from '../../../src/services/web/catalog.js';
import { MongoProductShardStore } from '../../../src/services/web/mongo-products.js';
import { createShardRouter } from '../../../src/services/web/shard-router.js';
import { call, REFERENCE_MAP, tokenService, webForOneUser } from './helpers.js';
import { startWireMongod, type WireMongod } from './wire-mongod.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A wire-level mongod, stopped at the end of the test. */
async function mongod(options: { silent?: boolean } = {}): Promise<WireMongod> {
  const fake = await startWireMongod(options);
  cleanups.push(() => fake.stop());
  return fake;
}

/** A mongod that was running and is stopped now: its port refuses connections. */
async function stoppedMongod(): Promise<WireMongod> {
  const fake = await mongod();
  await fake.stop();
  return fake;
}

/** The database with the services' default timeouts, closed at the end of the test. */
function database(url: string, connector?: Connector): MongoDatabase {
  const opened = openDatabase(url, DEFAULT_MONGO_TIMEOUTS, connector);
  cleanups.push(() => opened.close());
  return opened;
}

/** The outcome of `promise`, or 'pending' if it has not settled within one turn of the event loop. */
async function settledNow<T>(promise: Promise<T>): Promise<T | unknown> {
  const pending = Symbol('pending');
  const outcome = promise.then(
    (value) => value,
    (error: unknown) => error,
  );
  // setImmediate runs at the end of this turn: after every microtask, before any timer set now can fire.
  const turn = new Promise<typeof pending>((resolve) => setImmediate(() => resolve(pending)));
  const first = await Promise.race([outcome, turn]);
  return first === pending ? 'pending' : first;
}

describe('a database that refuses connections', () => {
  it('auth /ready answers 503 with the refusal of the TCP handshake, not a server selection timeout', async () => {
    const fake = await stoppedMongod();
    const users = new MongoUserStore(database(fake.url('auth_db'), fake.connector));
    const auth = await listen(
      createAuthApp({ users, tokens: tokenService(), now: () => new Date(), log: () => undefined }),
      0,
      '127.0.0.1',
    );
    cleanups.push(() => auth.close());
    expect(await call(auth, 'GET', '/ready')).toMatchObject({
      status: 503,
      body: {
        status: 'unavailable',
        database: 'unreachable',
        error: {
          code: 'DATABASE_UNAVAILABLE',
          message: `database auth_db is unreachable: no connection: 127.0.0.1:${fake.port} ECONNREFUSED`,
        },
      },
    });
    expect(fake.commands).toEqual([]);
  });

  it('a users store never connected fails its ping within one event-loop turn', async () => {
    const fake = await stoppedMongod();
    const users = new MongoUserStore(database(fake.url('auth_db'), fake.connector));
    const outcome = await settledNow(users.ping());
    expect(outcome).toBeInstanceOf(StoreUnavailableError);
    expect((outcome as StoreUnavailableError).store).toBe('auth_db');
    expect((outcome as Error).cause).toBeInstanceOf(NoHostAcceptsError);
  });

  it('a client connected earlier fails each ping within one event-loop turn once the database stops', async () => {
    const fake = await mongod();
    const users = new MongoUserStore(database(fake.url('auth_db'), fake.connector));
    await users.ping();
    expect(fake.commands).toContain('ping');
    await fake.stop();
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const outcome = await settledNow(users.ping());
      expect(outcome).toBeInstanceOf(StoreUnavailableError);
      expect((outcome as Error).cause).toBeInstanceOf(NoHostAcceptsError);
    }
  });

  it('web shard health marks each refused shard unreachable within one event-loop turn', async () => {
    const fake = await stoppedMongod();
    const catalog = new ProductCatalog(
      createShardRouter(REFERENCE_MAP),
      [
        new MongoProductShardStore('rsA', database(fake.url('products_db'), fake.connector)),
        new MongoProductShardStore('rsB', database(fake.url('products_db'), fake.connector)),
      ],
      () => new Date(),
    );
    expect(await settledNow(catalog.shardHealth())).toEqual({ rsA: false, rsB: false });
  });

  it('the real connector reports a refused port by its code without waiting for its timeout', async () => {
    const fake = await mongod();
    await expect(tcpConnector({ host: '127.0.0.1', port: fake.port }, 1000)).resolves.toBeUndefined();
    await fake.stop();
    // A timeout far beyond the test's own: only the refusal can settle this.
    await expect(tcpConnector({ host: '127.0.0.1', port: fake.port }, 600_000)).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });
});

describe('the hosts checked', () => {
  it('are the hosts of the URL, credentials skipped, port 27017 by default; none for mongodb+srv', () => {
    expect(databaseHosts('mongodb://u:p%40ss@10.0.0.1:27017,10.0.0.2,[::1]:27019/db?replicaSet=rsA')).toEqual([
      { host: '10.0.0.1', port: 27017 },
      { host: '10.0.0.2', port: 27017 },
      { host: '::1', port: 27019 },
    ]);
    expect(databaseHosts('mongodb://%2Ftmp%2Fmongodb-27017.sock/auth_db')).toEqual([
      { path: '/tmp/mongodb-27017.sock' },
    ]);
    expect(databaseHosts('mongodb+srv://cluster.example/db')).toBeNull();
  });

  it('one accepting member is enough; when all refuse, the error names each', async () => {
    const members = databaseHosts('mongodb://10.0.0.1:27017,10.0.0.1:27018,[::1]:27019/db?replicaSet=rsA') ?? [];
    const acceptsOnly =
      (port: number): Connector =>
      async (target) => {
        if ('port' in target && target.port === port) return;
        throw Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
      };
    await expect(anyHostAccepts(members, 1000, acceptsOnly(27019))).resolves.toBeUndefined();
    const refused = await anyHostAccepts(members, 1000, acceptsOnly(1)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NoHostAcceptsError);
    expect((refused as Error).message).toBe(
      'no connection: 10.0.0.1:27017 ECONNREFUSED; 10.0.0.1:27018 ECONNREFUSED; [::1]:27019 ECONNREFUSED',
    );
  });
});

describe('databases that accept connections', () => {
  it('a healthy database: auth and web /ready answer 200 through the real TCP handshake', async () => {
    const fake = await mongod();
    const users = new MongoUserStore(database(fake.url('auth_db')));
    const auth = await listen(
      createAuthApp({ users, tokens: tokenService(), now: () => new Date(), log: () => undefined }),
      0,
      '127.0.0.1',
    );
    cleanups.push(() => auth.close());
    expect(await call(auth, 'GET', '/ready')).toMatchObject({
      status: 200,
      body: { status: 'ready', database: 'reachable' },
    });
    const catalog = new ProductCatalog(
      createShardRouter(REFERENCE_MAP),
      [
        new MongoProductShardStore('rsA', database(fake.url('products_db'))),
        new MongoProductShardStore('rsB', database(fake.url('products_db'))),
      ],
      () => new Date(),
    );
    const { web } = await webForOneUser(catalog);
    cleanups.push(() => web.close());
    expect(await call(web, 'GET', '/ready')).toMatchObject({
      status: 200,
      body: { status: 'ready', shards: { rsA: 'reachable', rsB: 'reachable' }, authServer: 'reachable' },
    });
    expect(fake.commands.filter((name) => name === 'ping')).toHaveLength(3);
  });

  it('a database that accepts but never answers still gets the driver`s bounded wait, then unavailable', async () => {
    const fake = await mongod({ silent: true });
    // Short timeouts keep the test short; what matters is who gives up: the driver's server selection.
    const opened = openDatabase(fake.url('auth_db'), {
      serverSelectionTimeoutMS: 200,
      connectTimeoutMS: 200,
      socketTimeoutMS: 1000,
    });
    cleanups.push(() => opened.close());
    const outcome = await new MongoUserStore(opened).ping().catch((e: unknown) => e);
    expect(outcome).toBeInstanceOf(StoreUnavailableError);
    expect((outcome as Error).cause).toBeInstanceOf(MongoServerSelectionError);
  });
});
