/**
 * Reading the services' environment. The services are configured only by
 * environment (distctl generates it from topology.yaml); each reader is a pure
 * function of an env record so tests need not touch `process.env`.
 */
import { ConfigError } from './errors.js';
import { MIN_SECRET_LENGTH } from './jwt.js';
import { metricsAllowList } from './metrics.js';

/** An environment record, as `process.env`. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Settings both services take. */
export interface CommonConfig {
  readonly port: number;
  readonly host: string;
  readonly jwtSecret: string;
  readonly jwtIssuer: string;
  readonly jwtAudience: string;
  /** Who may read /metrics: METRICS_ALLOW, comma-separated CIDRs (distctl sets the platform subnet); empty, nobody. */
  readonly metricsAllow: string;
}

/** A required variable's value, or a config error naming it. */
export function requireEnv(env: Env, name: string, what: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new ConfigError(`${name} is not set (${what})`, `set ${name} in the service environment`);
  }
  return value.trim();
}

/** PORT, HOST, JWT_SECRET, JWT_ISSUER, JWT_AUDIENCE, METRICS_ALLOW, checked. */
export function readCommonConfig(env: Env): CommonConfig {
  const portText = requireEnv(env, 'PORT', 'the port to listen on');
  const port = Number(portText);
  // 0 lets the kernel choose (the log line names the port): how tests run a service without racing for a port.
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`PORT=${portText} is not a port number (0-65535)`, 'set PORT to e.g. 3000');
  }
  const jwtSecret = env['JWT_SECRET'] ?? '';
  if (jwtSecret.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(
      `JWT_SECRET must be set to at least ${MIN_SECRET_LENGTH} characters (got ${jwtSecret.length})`,
      'distctl generates one per deployment; set JWT_SECRET to the same value on auth-server and web-server',
    );
  }
  const metricsAllow = env['METRICS_ALLOW']?.trim() ?? '';
  try {
    metricsAllowList(metricsAllow);
  } catch (err) {
    throw new ConfigError(
      (err as Error).message,
      'set METRICS_ALLOW to CIDRs such as 10.10.10.0/24, or leave it empty',
    );
  }
  return {
    metricsAllow,
    port,
    host: env['HOST']?.trim() || '0.0.0.0',
    jwtSecret,
    jwtIssuer: env['JWT_ISSUER']?.trim() || 'distctl-auth',
    jwtAudience: env['JWT_AUDIENCE']?.trim() || 'distctl',
  };
}

/**
 * Runs a service's startup, turning a config error into the one line the
 * brief asks for (stderr, exit 1) instead of a stack trace.
 */
export function runService(name: string, start: () => Promise<void>): void {
  start().catch((err: unknown) => {
    const message =
      err instanceof ConfigError
        ? `${err.message} — ${err.hint}`
        : err instanceof Error
          ? (err.stack ?? err.message)
          : String(err);
    process.stderr.write(`${name}: cannot start: ${message}\n`);
    process.exit(1);
  });
}
