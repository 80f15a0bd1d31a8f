/**
 * auth-server entry point: reads the environment, wires the MongoDB users
 * store, listens, and ensures the first admin in the background.
 * Run as `node dist/services/auth/main.js`.
 */
import { runService } from '../shared/env.js';
import { listen } from '../shared/http.js';
import { createTokenService } from '../shared/jwt.js';
import { openDatabase } from '../shared/mongo.js';
import { createAuthApp } from './app.js';
import { bootstrapAdmin } from './bootstrap.js';
import { readAuthConfig } from './config.js';
import { MongoUserStore } from './mongo-users.js';

runService('auth-server', async () => {
  const config = readAuthConfig(process.env);
  const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  const now = () => new Date();
  const database = openDatabase(config.usersDbUrl);
  const users = new MongoUserStore(database);
  const tokens = createTokenService({
    secret: config.jwtSecret,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    now,
  });
  const server = await listen(
    createAuthApp({
      users,
      tokens,
      now,
      log,
      trustedProxies: config.trustedProxies,
      metricsAllow: config.metricsAllow,
    }),
    config.port,
    config.host,
  );
  // Indexes now rather than on the first request; if the database is not up yet, operations retry it.
  users
    .prepare()
    .catch((err: unknown) =>
      log(`users db indexes not created yet: ${err instanceof Error ? err.message : String(err)}`),
    );
  log(`auth-server listening on ${server.url} (users db from ${config.usersDbEnv})`);
  const admin = config.admin ? bootstrapAdmin(users, config.admin, { now, retryMs: 2000, log }) : null;
  admin?.done.catch(() => undefined);

  const shutdown = (signal: string) => {
    log(`auth-server: ${signal}, shutting down`);
    admin?.stop();
    void server
      .close()
      .then(() => database.close())
      .finally(() => process.exit(0));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
});
