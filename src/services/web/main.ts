/**
 * web-server entry point: reads the environment, opens one MongoDB client per
 * shard, and listens. Run as `node dist/services/web/main.js`.
 */
import { runService } from '../shared/env.js';
import { listen } from '../shared/http.js';
import { createTokenService } from '../shared/jwt.js';
import { openDatabase } from '../shared/mongo.js';
import { createServiceMetrics } from '../shared/metrics.js';
import { createWebApp } from './app.js';
import { createAuthUpstream } from './auth-upstream.js';
import { ProductCatalog } from './catalog.js';
import { readWebConfig } from './config.js';
import { MongoProductShardStore } from './mongo-products.js';

runService('web-server', async () => {
  const config = readWebConfig(process.env);
  const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  const now = () => new Date();
  const databases = config.router.shards.map((shard) => ({
    shard,
    database: openDatabase(config.shardUrls[shard] ?? ''),
  }));
  const stores = databases.map(({ shard, database }) => new MongoProductShardStore(shard, database));
  const metrics = createServiceMetrics('web-server');
  const catalog = new ProductCatalog(config.router, stores, now, undefined, (event) =>
    metrics.shardMoves.inc({ event }),
  );
  // Listing and search indexes now rather than on first use; a shard that is not up yet gets them on its first
  // operation.
  for (const store of stores) {
    store
      .prepare()
      .catch((err: unknown) =>
        log(`shard ${store.shard}: indexes not created yet: ${err instanceof Error ? err.message : String(err)}`),
      );
  }
  const tokens = createTokenService({
    secret: config.jwtSecret,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    now,
  });
  const app = createWebApp({
    catalog,
    tokens,
    auth: createAuthUpstream(config.authServerUrl),
    log,
    metrics,
    metricsAllow: config.metricsAllow,
  });
  const server = await listen(app, config.port, config.host);
  log(
    `web-server listening on ${server.url}; shards ${config.router.shards.join(', ')}; ` +
      `auth-server ${config.authServerUrl}`,
  );

  const shutdown = (signal: string) => {
    log(`web-server: ${signal}, shutting down`);
    void server
      .close()
      .then(() => Promise.all(databases.map(({ database }) => database.close())))
      .finally(() => process.exit(0));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
});
