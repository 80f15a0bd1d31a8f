/**
 * The services' Prometheus metrics, served at GET /metrics in the text format
 * by prom-client. Who may read them: clients on the platform's own subnet
 * (`METRICS_ALLOW`, CIDR list; distctl sets it to the bridge's subnet, so the
 * host scrapes over the bridge from the gateway address). Loopback is
 * deliberately not trusted: an Incus proxy device (how `expose` publishes a
 * service on the host) connects from the container's own 127.0.0.1, so
 * trusting loopback would publish /metrics to whoever reaches the exposed port.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { ErrorRequestHandler, Express, Request, RequestHandler } from 'express';
import { ApiError } from './errors.js';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The metrics one service records; each is a labelled prom-client collector. */
export interface ServiceMetrics {
  readonly registry: Registry;
  /** Request duration by method, route pattern (never the raw path, which would explode the series) and status. */
  readonly requestSeconds: Histogram<'method' | 'route' | 'status'>;
  /** Product operations by operation, shard and outcome (`ok`, `not_found`, `conflict`, `error`, ...). */
  readonly productOperations: Counter<'operation' | 'shard' | 'outcome'>;
  /** Cross-shard moves (`moved`) and the repairs of interrupted ones (`repaired`). */
  readonly shardMoves: Counter<'event'>;
  /** Failed logins by reason (`bad_password`, `unknown_user`, `invalid`). */
  readonly loginFailures: Counter<'reason'>;
  /** Requests refused by a throttle, by which throttle (`login`, `register`). */
  readonly throttled: Counter<'limiter'>;
  /** Bearer tokens refused, by reason (`missing`, `invalid`, `expired`, `revoked`, ...). */
  readonly tokenRejections: Counter<'reason'>;
}

/** A fresh registry with the service's metrics and Node's process metrics, every series labelled `service`. */
export function createServiceMetrics(service: string): ServiceMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    requestSeconds: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    productOperations: new Counter({
      name: 'product_operations_total',
      help: 'Product operations by operation, shard and outcome',
      labelNames: ['operation', 'shard', 'outcome'],
      registers,
    }),
    shardMoves: new Counter({
      name: 'shard_moves_total',
      help: 'Cross-shard moves of renamed products (moved) and repairs of interrupted moves (repaired)',
      labelNames: ['event'],
      registers,
    }),
    loginFailures: new Counter({
      name: 'login_failures_total',
      help: 'Failed logins by reason',
      labelNames: ['reason'],
      registers,
    }),
    throttled: new Counter({
      name: 'throttled_requests_total',
      help: 'Requests refused by a throttle',
      labelNames: ['limiter'],
      registers,
    }),
    tokenRejections: new Counter({
      name: 'token_rejections_total',
      help: 'Bearer tokens refused, by reason',
      labelNames: ['reason'],
      registers,
    }),
  };
}

/** Records every request's duration once its response is finished, labelled by the matched route pattern. */
export function requestMetrics(metrics: ServiceMetrics): RequestHandler {
  return (req, res, next) => {
    const end = metrics.requestSeconds.startTimer();
    res.on('finish', () => {
      end({ method: req.method, route: routePattern(req), status: String(res.statusCode) });
    });
    next();
  };
}

/** `/products/:id` for a matched route, `unmatched` otherwise (a 404 must not mint a series per path). */
function routePattern(req: Request): string {
  const route: unknown = req.route;
  if (typeof route === 'object' && route !== null && 'path' in route && typeof route.path === 'string') {
    return `${req.baseUrl}${route.path}`;
  }
  return 'unmatched';
}

/**
 * Parses `METRICS_ALLOW` (comma-separated CIDRs, e.g. `10.10.10.0/24`) into
 * a block list; empty means nobody may read /metrics. Throws on a malformed entry.
 */
export function metricsAllowList(text: string | undefined): BlockList {
  const list = new BlockList();
  for (const entry of (text ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')) {
    const [address = '', prefixText = ''] = entry.split('/');
    const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
    const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
    if (family === null || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 'ipv4' ? 32 : 128)) {
      throw new Error(`METRICS_ALLOW entry "${entry}" is not a CIDR such as 10.10.10.0/24`);
    }
    list.addSubnet(address, prefix, family);
  }
  return list;
}

/** Whether a client address may read /metrics (IPv4-mapped IPv6 addresses are checked as IPv4). */
export function metricsAllowed(allow: BlockList, remoteAddress: string | undefined): boolean {
  if (remoteAddress === undefined) return false;
  const address = remoteAddress.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  if (isIPv4(address)) return allow.check(address, 'ipv4');
  return isIPv6(address) && allow.check(address, 'ipv6');
}

/** GET /metrics: the text format for allowed clients, 403 (JSON, like every error) for everyone else. */
export function metricsHandler(metrics: ServiceMetrics, allow: BlockList): RequestHandler {
  return (req, res, next) => {
    if (!metricsAllowed(allow, req.socket.remoteAddress)) {
      res
        .status(403)
        .json({ error: { code: 'FORBIDDEN', message: '/metrics is readable only from the platform network' } });
      return;
    }
    metrics.registry
      .metrics()
      .then((text) => {
        res.type(metrics.registry.contentType).send(text);
      })
      .catch(next);
  };
}

/** The login routes of either service: their 401s are failed logins, not rejected tokens. */
const LOGIN_PATHS = new Set(['/login', '/auth/login']);

/**
 * Counts what the error handler is about to answer: a 429 is a throttled
 * request (by the route it hit), a 401 on a login route a failed login and
 * elsewhere a rejected token, each by its error code. Passes the error on.
 */
export function errorMetrics(metrics: ServiceMetrics): ErrorRequestHandler {
  return (err: unknown, req, _res, next) => {
    if (err instanceof ApiError) {
      const reason = err.code.toLowerCase();
      if (err.status === 429) metrics.throttled.inc({ limiter: req.path });
      else if (err.status === 401 && LOGIN_PATHS.has(req.path)) metrics.loginFailures.inc({ reason });
      else if (err.status === 401) metrics.tokenRejections.inc({ reason });
    }
    next(err);
  };
}

/**
 * Puts /metrics and the request timer on an app: call first, before the
 * app's routes, so every request is timed and /metrics answers before any
 * token check.
 */
export function installMetrics(app: Express, metrics: ServiceMetrics, allow: BlockList): void {
  app.use(requestMetrics(metrics));
  app.get('/metrics', metricsHandler(metrics, allow));
}
