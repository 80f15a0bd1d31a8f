// Latency of GET /products (merged listing over 2 in-memory shards) at 8 and
// 200 concurrent clients, with 10 000 and 100 000 products: p50 and p99.
// web-server and auth-server each run in a child process of their own, as in a
// deployment (and so the load generator shares no event loop with them), on 127.0.0.1 only; each case is bounded in requests and
// time. Requests mix the three sort fields, both orders and pages 1–5. The
// last column is one catalog.list call timed in the server process without
// HTTP: the service's own cost per listing at that size.
// Run after `npm run build`:   node bench/services-listing.mjs
// Another build (e.g. an older commit's) can be measured with DIST=/path/to/dist.
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const SIZES = (process.env.SIZES ?? '10000,100000').split(',').map(Number);
const CONCURRENCY = (process.env.CONCURRENCY ?? '8,200').split(',').map(Number);
const MAX_REQUESTS = 3000;
const MAX_SECONDS = 20;
const dist = resolve(process.env.DIST ?? new URL('../dist', import.meta.url).pathname);
const load = (path) => import(pathToFileURL(`${dist}/${path}`).href);

const SECRET = 'bench-secret-bench-secret-bench-secret!';

if (process.argv[2] === '--serve') {
  await serve(Number(process.argv[3]), process.argv[4]);
} else if (process.argv[2] === '--auth') {
  await serveAuth();
} else {
  await main();
}

/** Child: auth-server with an in-memory users store; reports its URL. */
async function serveAuth() {
  const { createAuthApp } = await load('services/auth/app.js');
  const { MemoryUserStore } = await load('services/auth/users.js');
  const { listen } = await load('services/shared/http.js');
  const { createTokenService } = await load('services/shared/jwt.js');
  const now = () => new Date();
  const tokens = createTokenService({ secret: SECRET, issuer: 'distctl-auth', audience: 'distctl', now });
  const auth = await listen(
    createAuthApp({ users: new MemoryUserStore(), tokens, now, log: () => undefined, trustedProxies: ['127.0.0.1'] }),
    0,
    '127.0.0.1',
  );
  auth.server.keepAliveTimeout = 120_000;
  process.send({ url: auth.url });
}

/** Child: web-server with in-memory shards holding `count` products; reports its URL and a token. */
async function serve(count, authUrl) {
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
    const product = {
      id: randomUUID(),
      name,
      price: (i * 37) % 1000,
      stock: (i * 13) % 500,
      category: `cat${i % 8}`,
      createdAt: at,
      updatedAt: at,
      pending: null,
      version: 1,
    };
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
  const tokens = createTokenService({ secret: SECRET, issuer: 'distctl-auth', audience: 'distctl', now });
  const web = await listen(
    createWebApp({ catalog, tokens, auth: createAuthUpstream(authUrl), log: () => undefined }),
    0,
    '127.0.0.1',
  );
  // Longer than any wait in the run, so the server never closes a keep-alive connection the client is about to reuse.
  web.server.keepAliveTimeout = 120_000;
  const json = { 'content-type': 'application/json' };
  await fetch(`${web.url}/auth/register`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ username: `bench${count}`, email: 'bench@example.com', password: 'bench-password' }),
  });
  const login = await (
    await fetch(`${web.url}/auth/login`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ username: `bench${count}`, password: 'bench-password' }),
    })
  ).json();
  process.send({ url: web.url, token: login.token, catalogMs });
}

/** Starts this script as a child with `args`; `ready` resolves with the first message it sends. */
function child(args) {
  const proc = fork(new URL(import.meta.url).pathname, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = new Promise((resolve, fail) => {
    proc.once('message', resolve);
    proc.once('exit', (code) => fail(new Error(`child ${args[0]} exited with ${code}`)));
  });
  return { process: proc, ready };
}

/** Parent: auth-server, then one web-server per size, each concurrency level against it, then the table. */
async function main() {
  const rows = [];
  const auth = child(['--auth']);
  const { url: authUrl } = await auth.ready;
  for (const size of SIZES) {
    const web = child(['--serve', String(size), authUrl]);
    const started = performance.now();
    const { url, token, catalogMs } = await web.ready;
    console.error(`${size} products loaded and served in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    for (const concurrency of CONCURRENCY) {
      await measure(url, token, 8, 100); // warm-up
      rows.push({ size, concurrency, catalogMs, ...(await measure(url, token, concurrency, MAX_REQUESTS)) });
      const last = rows[rows.length - 1];
      console.error(`  ${concurrency} clients: ${last.requests} requests, p50 ${last.p50} ms, p99 ${last.p99} ms`);
    }
    web.process.kill('SIGTERM');
  }
  auth.process.kill('SIGTERM');
  console.log(
    '| products | concurrent clients | requests | errors | req/s | p50 (ms) | p99 (ms) | one listing in-process (ms) |',
  );
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows)
    console.log(
      `| ${r.size} | ${r.concurrency} | ${r.requests} | ${r.errors} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.catalogMs} |`,
    );
}

async function measure(url, token, concurrency, maxRequests) {
  const sorts = ['name', 'price', 'stock'];
  const latencies = [];
  const trace = [];
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
      try {
        const response = await fetch(`${url}/products?${query}`, { headers: { authorization: `Bearer ${token}` } });
        await response.arrayBuffer();
        if (response.status !== 200) errors += 1;
      } catch {
        errors += 1; // e.g. a reset connection: counted, and the run goes on
      }
      latencies.push(performance.now() - t0);
      if (process.env.BENCH_TRACE) trace.push([Math.round(t0 - begin), Math.round(performance.now() - t0)]);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - begin) / 1000;
  if (process.env.BENCH_TRACE) console.error(JSON.stringify(trace.sort((a, b) => b[1] - a[1]).slice(0, 40)));
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))].toFixed(1);
  return {
    requests: latencies.length,
    errors,
    rps: Math.round(latencies.length / seconds),
    p50: at(0.5),
    p99: at(0.99),
  };
}
