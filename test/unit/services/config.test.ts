import { describe, expect, it } from 'vitest';
import { readAuthConfig } from '../../../src/services/auth/config.js';
import { readWebConfig } from '../../../src/services/web/config.js';
import { REFERENCE_MAP, SECRET } from './helpers.js';

const base = { PORT: '5000', JWT_SECRET: SECRET };

describe('auth-server environment', () => {
  it('reads defaults and the users db through USERS_DB_ENV', () => {
    const config = readAuthConfig({ ...base, DB3_URL: 'mongodb://10.10.10.14:27017/auth_db' });
    expect(config).toMatchObject({
      port: 5000,
      host: '0.0.0.0',
      jwtIssuer: 'distctl-auth',
      jwtAudience: 'distctl',
      usersDbEnv: 'DB3_URL',
      usersDbUrl: 'mongodb://10.10.10.14:27017/auth_db',
      admin: null,
    });
    const custom = readAuthConfig({
      ...base,
      USERS_DB_ENV: 'USERS_URL',
      USERS_URL: 'mongodb://h/u',
      ADMIN_USERNAME: 'root',
      ADMIN_PASSWORD: 'pw-123456',
      HOST: '127.0.0.1',
    });
    expect(custom).toMatchObject({
      usersDbUrl: 'mongodb://h/u',
      host: '127.0.0.1',
      admin: { username: 'root', password: 'pw-123456' },
    });
  });

  it.each([
    [{ PORT: '5000', DB3_URL: 'mongodb://h/db' }, /JWT_SECRET must be set to at least 32 characters \(got 0\)/],
    [{ ...base, JWT_SECRET: 'short' }, /at least 32 characters \(got 5\)/],
    [{ ...base, PORT: 'http', DB3_URL: 'mongodb://h/db' }, /PORT=http is not a port/],
    [{ ...base }, /DB3_URL is not set/],
    [{ ...base, DB3_URL: 'mongodb://h/db', ADMIN_USERNAME: 'root' }, /must be set together/],
  ])('refuses to start with a one-line reason (%#)', (env, message) => {
    expect(() => readAuthConfig(env)).toThrow(message);
  });
});

describe('web-server environment', () => {
  const env = {
    ...base,
    PORT: '3000',
    AUTH_SERVER_URL: 'http://10.10.10.10:5000',
    SHARD_MAP: JSON.stringify(REFERENCE_MAP),
    DB1_URL: 'mongodb://10.10.10.12:27017,10.10.10.12:27018,10.10.10.12:27019/products_db?replicaSet=rsA',
    DB2_URL: 'mongodb://10.10.10.13:27017/products_db?replicaSet=rsB',
  };

  it('reads the shard map and each shard URL from the variable it names', () => {
    const config = readWebConfig(env);
    expect(config.shardUrls).toEqual({ rsA: env.DB1_URL, rsB: env.DB2_URL });
    expect(config.router.shardFor('Ñame')).toBe('rsB');
  });

  it.each([
    [{ ...env, DB2_URL: undefined }, /DB2_URL is not set \(connection string of shard rsB/],
    [{ ...env, SHARD_MAP: JSON.stringify({ ...REFERENCE_MAP, defaultShard: null }) }, /defaultShard is null/],
    [{ ...env, SHARD_MAP: 'nope' }, /SHARD_MAP: not valid JSON/],
    [{ ...env, AUTH_SERVER_URL: '10.10.10.10:5000' }, /not an http\(s\) URL/],
  ])('refuses a bad environment (%#)', (bad, message) => {
    expect(() => readWebConfig(bad)).toThrow(message);
  });
});
