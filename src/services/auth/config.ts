/** auth-server's environment, parsed and checked. */
import { isIP } from 'node:net';
import { ConfigError } from '../shared/errors.js';
import { readCommonConfig, requireEnv, type CommonConfig, type Env } from '../shared/env.js';

/** Everything auth-server's main needs. */
export interface AuthConfig extends CommonConfig {
  /** Name of the variable that held the URL, for messages. */
  readonly usersDbEnv: string;
  readonly usersDbUrl: string;
  /** First admin to ensure, when both ADMIN_USERNAME and ADMIN_PASSWORD are set. */
  readonly admin: { readonly username: string; readonly password: string } | null;
  /** Addresses whose X-Forwarded-For is believed: the web-servers in front of this auth-server. */
  readonly trustedProxies: readonly string[];
}

/**
 * Reads PORT, HOST, JWT_*, USERS_DB_ENV (default DB3_URL) and the URL it names,
 * ADMIN_USERNAME/ADMIN_PASSWORD, TRUSTED_PROXIES (comma-separated IP addresses).
 */
export function readAuthConfig(env: Env): AuthConfig {
  const common = readCommonConfig(env);
  const usersDbEnv = env['USERS_DB_ENV']?.trim() || 'DB3_URL';
  const usersDbUrl = requireEnv(env, usersDbEnv, `the users database URL, named by USERS_DB_ENV`);
  const username = env['ADMIN_USERNAME']?.trim() ?? '';
  const password = env['ADMIN_PASSWORD'] ?? '';
  if ((username === '') !== (password === '')) {
    throw new ConfigError(
      'ADMIN_USERNAME and ADMIN_PASSWORD must be set together',
      'set both to create the first admin, or neither',
    );
  }
  const trustedProxies = (env['TRUSTED_PROXIES'] ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  const notAddress = trustedProxies.find((a) => isIP(a) === 0);
  if (notAddress !== undefined) {
    throw new ConfigError(
      `TRUSTED_PROXIES: ${notAddress} is not an IP address`,
      'list the web-server addresses, e.g. TRUSTED_PROXIES=10.10.10.11',
    );
  }
  return { ...common, usersDbEnv, usersDbUrl, admin: username === '' ? null : { username, password }, trustedProxies };
}
