/** web-server's environment, parsed and checked. */
import { ConfigError } from '../shared/errors.js';
import type { ShardMap } from '../shared/routing.js';
import { readCommonConfig, requireEnv, type CommonConfig, type Env } from '../shared/env.js';
import { parseShardMap, type ShardRouter } from './shard-router.js';

/** Everything web-server's main needs. */
export interface WebConfig extends CommonConfig {
  readonly authServerUrl: string;
  readonly shardMap: ShardMap;
  readonly router: ShardRouter;
  /** Connection string per shard, read from the variable SHARD_MAP names for it. */
  readonly shardUrls: Readonly<Record<string, string>>;
}

/** Reads PORT, HOST, JWT_*, AUTH_SERVER_URL, SHARD_MAP and each shard's URL variable. */
export function readWebConfig(env: Env): WebConfig {
  const common = readCommonConfig(env);
  const authServerUrl = requireEnv(env, 'AUTH_SERVER_URL', 'where auth-server listens, e.g. http://10.10.10.10:5000');
  if (!/^https?:\/\/[^/]+/.test(authServerUrl)) {
    throw new ConfigError(`AUTH_SERVER_URL=${authServerUrl} is not an http(s) URL`, 'e.g. http://10.10.10.10:5000');
  }
  const { map, router } = parseShardMap(requireEnv(env, 'SHARD_MAP', 'the product shard map as JSON'));
  const shardUrls: Record<string, string> = {};
  for (const shard of router.shards) {
    const urlEnv = map.shards[shard]?.urlEnv ?? '';
    shardUrls[shard] = requireEnv(env, urlEnv, `connection string of shard ${shard}, named in SHARD_MAP`);
  }
  return { ...common, authServerUrl, shardMap: map, router, shardUrls };
}
