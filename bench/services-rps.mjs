// Requests per second of the bundled services on loopback: GET /products (a
// merged listing over 2 shards holding ~1000 products), POST /products, and
// POST /login (bcrypt cost 10 dominates). Bounded in count and time.
// Run after `npm run build`:  node bench/services-rps.mjs
// With MONGODB_URL=mongodb://127.0.0.1:27017 (a replica set or standalone on
// this machine) the shards and users live in MongoDB instead of memory.
import { randomUUID } from 'node:crypto';
import { createAuthApp } from '../dist/services/auth/app.js';
import { MongoUserStore } from '../dist/services/auth/mongo-users.js';
import { MemoryUserStore } from '../dist/services/auth/users.js';
import { listen } from '../dist/services/shared/http.js';
import { createTokenService } from '../dist/services/shared/jwt.js';
import { openDatabase } from '../dist/services/shared/mongo.js';
import { createWebApp } from '../dist/services/web/app.js';
import { createAuthUpstream } from '../dist/services/web/auth-upstream.js';
import { ProductCatalog } from '../dist/services/web/catalog.js';
import { MongoProductShardStore } from '../dist/services/web/mongo-products.js';
import { MemoryProductShardStore } from '../dist/services/web/products.js';
import { createShardRouter } from '../dist/services/web/shard-router.js';

const PRODUCTS = 1000;
const CONCURRENCY = 8;
const MAX_SECONDS = 5;

const mongoUrl = process.env.MONGODB_URL;
if (mongoUrl && !/^mongodb:\/\/(127\.|localhost|\[::1\])/.test(mongoUrl)) {
  console.error('MONGODB_URL must point at this machine (127.0.0.1/localhost): the bench only talks to loopback');
  process.exit(2);
}
const run = randomUUID().slice(0, 8);
const databases = [];
function database(name) {
  const base = mongoUrl.replace(/\/[^/]*$/, '').replace(/\/+$/, '');
  const db = openDatabase(`${base}/${name}_${run}`);
  databases.push(db);
  return db;
}
console.log(
  mongoUrl
    ? `stores: MongoDB at ${mongoUrl} (databases suffixed _${run})`
    : 'stores: in-memory (no mongod on this machine; set MONGODB_URL=mongodb://127.0.0.1:PORT to use one)',
);

const map = {
  defaultShard: 'rsA',
  ranges: [
    { from: 'A', to: 'M', shard: 'rsA' },
    { from: 'N', to: 'Z', shard: 'rsB' },
  ],
  shards: { rsA: { urlEnv: 'DB1_URL' }, rsB: { urlEnv: 'DB2_URL' } },
};
const now = () => new Date();
const tokens = createTokenService({
  secret: 'bench-secret-bench-secret-bench-secret!',
  issuer: 'distctl-auth',
  audience: 'distctl',
  now,
});
const users = mongoUrl ? new MongoUserStore(database('auth_db')) : new MemoryUserStore();
const shards = ['rsA', 'rsB'].map((s) =>
  mongoUrl ? new MongoProductShardStore(s, database(`products_${s}`)) : new MemoryProductShardStore(s),
);
const catalog = new ProductCatalog(createShardRouter(map), shards, now);
const quiet = () => undefined;
const unlimited = { limit: 1_000_000, windowMs: 60_000 };
const auth = await listen(
  createAuthApp({
    users,
    tokens,
    now,
    log: quiet,
    loginLimit: unlimited,
    clientLoginLimit: unlimited,
    loginConcurrency: 1_000,
    trustedProxies: ['127.0.0.1'],
  }),
  0,
  '127.0.0.1',
);
const web = await listen(
  createWebApp({ catalog, tokens, auth: createAuthUpstream(auth.url), log: quiet }),
  0,
  '127.0.0.1',
);

const letters = 'ABCDEFGHIJKLMNÑOPQRSTUVWXYZ';
for (let i = 0; i < PRODUCTS; i += 1) {
  await catalog.create({
    name: `${letters[i % letters.length]}roduct ${i}`,
    price: (i * 7) % 100,
    stock: i % 50,
    category: `cat${i % 5}`,
  });
}
await fetch(`${auth.url}/register`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ username: 'bench', email: 'bench@example.com', password: 'bench-password' }),
});
const login = await fetch(`${auth.url}/login`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ username: 'bench', password: 'bench-password' }),
});
const { token } = await login.json();

async function measure(label, maxRequests, request) {
  let sent = 0;
  let failed = 0;
  const deadline = Date.now() + MAX_SECONDS * 1000;
  const started = performance.now();
  const worker = async () => {
    while (sent < maxRequests && Date.now() < deadline) {
      sent += 1;
      const response = await request(sent);
      await response.arrayBuffer();
      if (!response.ok) failed += 1;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${label.padEnd(44)} ${String(sent).padStart(5)} requests in ${seconds.toFixed(2)} s = ${(sent / seconds).toFixed(0).padStart(5)} req/s${failed ? `  (${failed} failed)` : ''}`,
  );
}

const json = (body) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  body: JSON.stringify(body),
});
console.log(`concurrency ${CONCURRENCY}, at most ${MAX_SECONDS} s per case, ${PRODUCTS} products over 2 shards`);
await measure('GET /products?pageSize=20 (merged, sorted)', 3000, () =>
  fetch(`${web.url}/products?pageSize=20&sort=name`, { headers: { authorization: `Bearer ${token}` } }),
);
await measure('GET /products?q=product 1&sort=price&page=3', 3000, () =>
  fetch(`${web.url}/products?q=product%201&sort=price&order=desc&page=3&pageSize=20`, {
    headers: { authorization: `Bearer ${token}` },
  }),
);
await measure('POST /products', 2000, (n) =>
  fetch(
    `${web.url}/products`,
    json({ name: `${letters[n % letters.length]}ench ${n}`, price: n % 10, stock: 1, category: 'bench' }),
  ),
);
await measure('POST /login (auth-server, bcrypt cost 10)', 200, () =>
  fetch(`${auth.url}/login`, json({ username: 'bench', password: 'bench-password' })),
);
await measure('POST /auth/login (via web-server proxy)', 200, () =>
  fetch(`${web.url}/auth/login`, json({ username: 'bench', password: 'bench-password' })),
);

await Promise.all([web.close(), auth.close()]);
for (const db of databases) {
  const handle = await db.db();
  await handle.dropDatabase();
  await db.close();
}
