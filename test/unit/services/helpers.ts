/**
 * Shared test wiring for the services: apps on loopback sockets with
 * in-memory stores, tokens, and a store wrapper that fails on demand.
 */
import { createServer, type Server } from 'node:net';
import { createAuthApp, type AuthAppOptions } from '../../../src/services/auth/app.js';
import { MemoryUserStore } from '../../../src/services/auth/users.js';
import { StoreUnavailableError } from '../../../src/services/shared/errors.js';
import { listen, type RunningServer } from '../../../src/services/shared/http.js';
import { createTokenService, type TokenService } from '../../../src/services/shared/jwt.js';
import type { LoginLimit } from '../../../src/services/shared/rate-limit.js';
import { createWebApp } from '../../../src/services/web/app.js';
import { createAuthUpstream, type AuthUpstream } from '../../../src/services/web/auth-upstream.js';
import { ProductCatalog } from '../../../src/services/web/catalog.js';
import { MemoryProductShardStore, type ProductShardStore } from '../../../src/services/web/products.js';
import { createShardRouter } from '../../../src/services/web/shard-router.js';
import type { ShardMap } from '../../../src/services/shared/routing.js';

export const SECRET = 'test-secret-that-is-at-least-32-characters-long';

/** The reference topology's map: A–M → rsA, N–Z (with Ñ) → rsB, others → rsA. */
export const REFERENCE_MAP: ShardMap = {
  defaultShard: 'rsA',
  ranges: [
    { from: 'A', to: 'M', shard: 'rsA' },
    { from: 'N', to: 'Z', shard: 'rsB' },
  ],
  shards: { rsA: { urlEnv: 'DB1_URL' }, rsB: { urlEnv: 'DB2_URL' } },
};

/** A clock tests can move. */
export function testClock(start = new Date('2025-01-01T00:00:00Z')): { now: () => Date; advance(ms: number): void } {
  let t = start.getTime();
  return { now: () => new Date(t), advance: (ms) => (t += ms) };
}

export function tokenService(
  now: () => Date = () => new Date(),
  overrides: Partial<{ secret: string; issuer: string; audience: string }> = {},
): TokenService {
  return createTokenService({ secret: SECRET, issuer: 'distctl-auth', audience: 'distctl', now, ...overrides });
}

type Method =
  'prepare' | 'put' | 'findById' | 'update' | 'delete' | 'clearPending' | 'query' | 'count' | 'findPending' | 'ping';

/**
 * A shard store that can be switched off (every call throws
 * StoreUnavailableError, as the Mongo store does on MongoServerSelectionError)
 * or made to fail one chosen call — a crash between two steps of a move.
 */
export class FlakyShardStore implements ProductShardStore {
  down = false;
  private failures: { method: Method; remaining: number }[] = [];
  readonly calls: Method[] = [];

  constructor(readonly inner: ProductShardStore) {}

  get shard(): string {
    return this.inner.shard;
  }

  /** The next call of `method` (after `skip` successful ones) fails as if the shard vanished. */
  failNext(method: Method, skip = 0): void {
    this.failures.push({ method, remaining: skip });
  }

  private gate(method: Method): void {
    this.calls.push(method);
    if (this.down) throw new StoreUnavailableError(this.shard, new Error('server selection timed out'));
    const index = this.failures.findIndex((f) => f.method === method);
    const failure = this.failures[index];
    if (failure) {
      if (failure.remaining === 0) {
        this.failures.splice(index, 1);
        throw new StoreUnavailableError(this.shard, new Error('connection reset'));
      }
      failure.remaining -= 1;
    }
  }

  prepare: ProductShardStore['prepare'] = async () => (this.gate('prepare'), this.inner.prepare());
  put: ProductShardStore['put'] = async (p) => (this.gate('put'), this.inner.put(p));
  findById: ProductShardStore['findById'] = async (id) => (this.gate('findById'), this.inner.findById(id));
  update: ProductShardStore['update'] = async (...args) => (this.gate('update'), this.inner.update(...args));
  delete: ProductShardStore['delete'] = async (...args) => (this.gate('delete'), this.inner.delete(...args));
  clearPending: ProductShardStore['clearPending'] = async (id) => (
    this.gate('clearPending'),
    this.inner.clearPending(id)
  );
  query: ProductShardStore['query'] = async (q) => (this.gate('query'), this.inner.query(q));
  count: ProductShardStore['count'] = async (f) => (this.gate('count'), this.inner.count(f));
  findPending: ProductShardStore['findPending'] = async () => (this.gate('findPending'), this.inner.findPending());
  ping: ProductShardStore['ping'] = async () => (this.gate('ping'), this.inner.ping());
}

/** A catalog over two flaky in-memory shards with the reference map. */
export function twoShardCatalog(now: () => Date = testClock().now) {
  const rsA = new FlakyShardStore(new MemoryProductShardStore('rsA'));
  const rsB = new FlakyShardStore(new MemoryProductShardStore('rsB'));
  const catalog = new ProductCatalog(createShardRouter(REFERENCE_MAP), [rsA, rsB], now);
  return { catalog, rsA, rsB };
}

/** Sockets held by refusedEndpoint for the rest of the test process. */
const held: Server[] = [];

/**
 * An address where a TCP connection is refused at once: 127.0.0.2 on a port this process listens on at
 * 127.0.0.1 (taken by listening on port 0, and kept). While it is held nothing else can listen on that port on
 * 127.0.0.1 or on every address, and nothing listens on 127.0.0.2, so no other process can answer in its place.
 */
export async function refusedEndpoint(): Promise<{ host: string; port: number; address: string }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  held.push(server);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { host: '127.0.0.2', port, address: `127.0.0.2:${port}` };
}

/** An auth-server stand-in whose /verify accepts every token as `user`: for tests about products only. */
export function acceptingAuth(user: { id: string; username: string; role: 'admin' | 'user' }): AuthUpstream {
  return {
    forward: async (method, path) => {
      if (method !== 'GET' || path !== '/verify') throw new Error(`acceptingAuth: unexpected ${method} ${path}`);
      return { status: 200, body: user, retryAfter: null };
    },
    reachable: async () => true,
  };
}

/**
 * web-server alone over `catalog` on loopback, its auth-server a stand-in that accepts every token as the user ana,
 * and a token of hers: for tests about products over HTTP. Close `web` when done.
 */
export async function webForOneUser(catalog: ProductCatalog): Promise<{ web: RunningServer; token: string }> {
  const tokens = tokenService();
  const web = await listen(
    createWebApp({
      catalog,
      tokens,
      auth: acceptingAuth({ id: 'u', username: 'ana', role: 'user' }),
      log: () => undefined,
    }),
    0,
    '127.0.0.1',
  );
  const token = await tokens.sign({ userId: 'u', username: 'ana', role: 'user', tokenVersion: 0 });
  return { web, token };
}

/**
 * Both services on loopback, wired like production but with in-memory stores:
 * auth-server believes X-Forwarded-For from 127.0.0.1, where web-server calls it from.
 */
export async function startStack(
  options: { auth?: Partial<AuthAppOptions>; webLoginLimit?: LoginLimit; now?: () => Date } = {},
) {
  const users = new MemoryUserStore();
  const now = options.now ?? (() => new Date());
  const tokens = tokenService(now);
  const silent = () => undefined;
  const auth = await listen(
    createAuthApp({ users, tokens, now, log: silent, trustedProxies: ['127.0.0.1'], ...options.auth }),
    0,
    '127.0.0.1',
  );
  const { catalog, rsA, rsB } = twoShardCatalog(now);
  const web = await listen(
    createWebApp({
      catalog,
      tokens,
      now,
      auth: createAuthUpstream(auth.url, 2000),
      log: silent,
      ...(options.webLoginLimit ? { loginLimit: options.webLoginLimit } : {}),
    }),
    0,
    '127.0.0.1',
  );
  return { users, tokens, auth, web, rsA, rsB, catalog, close: () => Promise.all([auth.close(), web.close()]) };
}

/** fetch with a JSON body and optional bearer token; returns status, headers and parsed body. */
export async function call(
  server: RunningServer | string,
  method: string,
  path: string,
  options: { body?: unknown; raw?: string; token?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const base = typeof server === 'string' ? server : server.url;
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(options.body !== undefined || options.raw !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    ...(options.raw !== undefined
      ? { body: options.raw }
      : options.body !== undefined
        ? { body: JSON.stringify(options.body) }
        : {}),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // HTML pages stay text.
  }
  return { status: response.status, body, headers: response.headers };
}
