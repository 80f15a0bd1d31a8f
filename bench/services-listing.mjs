// Latency of GET /products (merged listing over 2 in-memory shards) at 8 and
// 200 concurrent clients, with 10 000 and 100 000 products: p50 and p99.
// The services run in a child process (so the load generator does not share
// their event loop), on 127.0.0.1 only; each case is bounded in requests and
// time. Requests mix the three sort fields, both orders and pages 1–5. The
// last column is one catalog.list call timed in the server process without
// HTTP: the service's own cost per listing at that size.
// Run after `npm run build`:   node bench/services-listing.mjs
// Another build (e.g. an older commit's) can be measured with DIST=/path/to/dist.
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const SIZES = [10_000, 100_000];
const CONCURRENCY = [8, 200];
const MAX_REQUESTS = 3000;
const MAX_SECONDS = 20;
const dist = resolve(process.env.DIST ?? new URL('../dist', import.meta.url).pathname);
const load = (path) => import(pathToFileURL(`${dist}/${path}`).href);

if (process.argv[2] === '--serve') {
  await serve(Number(process.argv[3]));
} else {
  await main();
}

/** Child: both services with in-memory stores holding `count` products; reports its URL and a token. */
async function serve(count) {
  const { createAuthApp } = await load('services/auth/app.js');
  const { MemoryUserStore } = await load('services/auth/users.js');
  const { listen } = await load('services/shared/http.js');
  const { createTokenService } = await load('services/shared/jwt.js');
  const { createWebApp } = await load('services/web/app.js');
  const { createAuthUpstream } = await load('services/web/auth-upstream.js');
  const { ProductCatalog } = await load('services/web/catalog.js');
  const { MemoryProductShardStore } = await load('services/web/products.js');
  const { createShardRouter } = await load('services/web/shard-router.js');
  const map = {
    defaultShard: 'rsA',
    ranges: [
      { from: 'A', to: 'M', shard: 'rsA' },
      { from: 'N', to: 'Z', shard: 'rsB' },
    ],
    shards: { rsA: { urlEnv: 'DB1_URL' }, rsB: { urlEnv: 'DB2_URL' } },
  };
  const router = createShardRouter(map);
  const stores = ['rsA', 'rsB'].map((s) => new MemoryProductShardStore(s));
  const byShard = Object.fromEntries(stores.map((s) => [s.shard, s]));
  const letters = 'ABCDEFGHIJKLMNÑOPQRSTUVWXYZ';
  const at = new Date();
  for (let i = 0; i < count; i += 1) {
    const name = `${letters[(i * 7) % letters.length]}roducto ${(i * 7919) % count}`;
    const product = { id: randomUUID(), name, price: (i * 37) % 1000, stock: (i * 13) % 500, category: `cat${i % 8}`, createdAt: at, updatedAt: at, pending: null, version: 1 };
    await byShard[router.shardFor(name)].put(product);
  }
  const now = () => new Date();
  // The catalog alone, without HTTP: what one listing costs the service at this size.
  const catalog = new ProductCatalog(router, stores, now);
  const sorts = ['name', 'price', 'stock'];
  const listing = (n) => ({ sort: sorts[n % 3], direction: n % 2 ? -1 : 1, page: 1 + (n % 5), pageSize: 20 });
  for (let n = 0; n < 100; n += 1) await catalog.list(listing(n));
  const timed = 500;
  const t0 = performance.now();
  for (let n = 0; n < timed; n += 1) await catalog.list(listing(n));
  const catalogMs = ((performance.now() - t0) / timed).toFixed(2);
  const tokens = createTokenService({ secret: 'bench-secret-bench-secret-bench-secret!', issuer: 'distctl-auth', audience: 'distctl', now });
  const quiet = () => undefined;
  const auth = await listen(createAuthApp({ users: new MemoryUserStore(), tokens, now, log: quiet }), 0, '127.0.0.1');
  const web = await listen(createWebApp({ catalog, tokens, auth: createAuthUpstream(auth.url), log: quiet }), 0, '127.0.0.1');
  const json = { 'content-type': 'application/json' };
  await fetch(`${web.url}/auth/register`, { method: 'POST', headers: json, body: JSON.stringify({ username: 'bench', email: 'bench@example.com', password: 'bench-password' }) });
  const login = await (await fetch(`${web.url}/auth/login`, { method: 'POST', headers: json, body: JSON.stringify({ username: 'bench', password: 'bench-password' }) })).json();
  process.send({ url: web.url, token: login.token, catalogMs });
}

/** Parent: one child per size, each concurrency level against it, then the table. */
async function main() {
  const rows = [];
  for (const size of SIZES) {
    const child = fork(new URL(import.meta.url).pathname, ['--serve', String(size)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const started = performance.now();
    const { url, token, catalogMs } = await new Promise((ready, fail) => {
      child.once('message', ready);
      child.once('exit', (code) => fail(new Error(`server child exited with ${code}`)));
    });
    console.error(`${size} products loaded and served in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    for (const concurrency of CONCURRENCY) {
      await measure(url, token, 8, 100); // warm-up
      rows.push({ size, concurrency, catalogMs, ...(await measure(url, token, concurrency, MAX_REQUESTS)) });
      const last = rows[rows.length - 1];
      console.error(`  ${concurrency} clients: ${last.requests} requests, p50 ${last.p50} ms, p99 ${last.p99} ms`);
    }
    child.kill('SIGTERM');
  }
  console.log('| products | concurrent clients | requests | errors | req/s | p50 (ms) | p99 (ms) | one listing in-process (ms) |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.size} | ${r.concurrency} | ${r.requests} | ${r.errors} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.catalogMs} |`);
}

async function measure(url, token, concurrency, maxRequests) {
  const sorts = ['name', 'price', 'stock'];
  const latencies = [];
  let sent = 0;
  let errors = 0;
  const deadline = Date.now() + MAX_SECONDS * 1000;
  const begin = performance.now();
  const worker = async () => {
    while (sent < maxRequests && Date.now() < deadline) {
      const n = sent;
      sent += 1;
      const query = `sort=${sorts[n % 3]}&order=${n % 2 ? 'desc' : 'asc'}&page=${1 + (n % 5)}&pageSize=20`;
      const t0 = performance.now();
      const response = await fetch(`${url}/products?${query}`, { headers: { authorization: `Bearer ${token}` } });
      await response.arrayBuffer();
      latencies.push(performance.now() - t0);
      if (response.status !== 200) errors += 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - begin) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))].toFixed(1);
  return { requests: latencies.length, errors, rps: Math.round(latencies.length / seconds), p50: at(0.5), p99: at(0.99) };
}
