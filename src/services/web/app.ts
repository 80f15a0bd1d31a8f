/**
 * web-server's HTTP API: auth proxy, products CRUD over the sharded catalog,
 * users management forwarded to auth-server, docs and health. Built from
 * injected parts so tests run it on loopback with in-memory shards.
 */
import type { Express, Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { DOCS_CSP, renderApiDocs, type EndpointDoc } from '../shared/docs-page.js';
import { ApiError } from '../shared/errors.js';
import {
  createServiceMetrics,
  errorMetrics,
  installMetrics,
  metricsAllowList,
  type ServiceMetrics,
} from '../shared/metrics.js';
import { bearerToken, createBaseApp, errorHandler, jsonObjectBody, notFoundHandler } from '../shared/http.js';
import type { TokenService } from '../shared/jwt.js';
import { clientKey, failedLoginLimiter, type LoginLimit } from '../shared/rate-limit.js';
import { parseBody } from '../shared/validate.js';
import type { AuthUpstream, ForwardOptions, UpstreamResponse } from './auth-upstream.js';
import { MAX_LISTING_DEPTH, type ListRequest, type ProductCatalog } from './catalog.js';
import { mountDashboard } from './pages/index.js';
import { createTokenCheck, type CurrentUser } from './token-check.js';

/** What createWebApp needs. */
export interface WebAppOptions {
  readonly catalog: ProductCatalog;
  readonly tokens: TokenService;
  readonly auth: AuthUpstream;
  /** Failed logins per client through this server; default 20 per 15 min (auth-server also limits per user). */
  readonly loginLimit?: LoginLimit;
  /** Clock of the token cache (see token-check.ts); default the system clock. */
  readonly now?: () => Date;
  readonly log?: (line: string) => void;
  /** The Prometheus metrics the app records; default a fresh set (pass the catalog's, so moves count too). */
  readonly metrics?: ServiceMetrics;
  /** Who may read /metrics (see metrics.ts); default nobody. */
  readonly metricsAllow?: string;
}

/** `create`, `list`, `get`, `update`, `delete`: the product operation of a method and path under /products. */
function productOperation(method: string, path: string): string {
  const one = path !== '/' && path !== '';
  if (method === 'POST') return 'create';
  if (method === 'PUT') return 'update';
  if (method === 'DELETE') return 'delete';
  return one ? 'get' : 'list';
}

/** The outcome label of a status code. */
function outcomeOf(status: number): string {
  if (status < 400) return 'ok';
  const named: Record<number, string> = {
    400: 'invalid',
    401: 'denied',
    403: 'denied',
    404: 'not_found',
    409: 'conflict',
    429: 'throttled',
    503: 'unavailable',
  };
  return named[status] ?? 'error';
}

/**
 * Counts every product operation by operation, shard and outcome once it is
 * answered; the shard is the one the answered product lives on (`all` for a
 * listing, `unknown` where the answer names none, e.g. a 204 or an error).
 */
function productMetrics(metrics: ServiceMetrics): RequestHandler {
  return (req, res, next) => {
    // Taken now: once answered, express has put the mount point back in front of req.path.
    const operation = productOperation(req.method, req.path);
    let shard = operation === 'list' ? 'all' : 'unknown';
    const send = res.json.bind(res);
    res.json = ((body: unknown) => {
      if (typeof body === 'object' && body !== null && 'shard' in body && typeof body.shard === 'string')
        shard = body.shard;
      return send(body);
    }) as typeof res.json;
    res.on('finish', () => {
      metrics.productOperations.inc({ operation, shard, outcome: outcomeOf(res.statusCode) });
    });
    next();
  };
}

/** Largest page a listing returns. */
export const MAX_PAGE_SIZE = 100;

const productShape = {
  name: z.string('must be a string').trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  price: z.number('must be a number').min(0, 'must be a number ≥ 0'),
  stock: z
    .number('must be a number')
    .int('must be an integer ≥ 0')
    .min(0, 'must be an integer ≥ 0')
    .max(Number.MAX_SAFE_INTEGER, 'is too large'),
  category: z.string('must be a string').trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
};
const createProductSchema = z.strictObject(productShape);
const updateProductSchema = z
  .strictObject(productShape)
  .partial()
  .refine((p) => Object.keys(p).length > 0, 'must set at least one of name, price, stock, category');

const positiveInt = (max: number, rule: string) =>
  z.string().regex(/^\d+$/, rule).transform(Number).pipe(z.number().int().min(1, rule).max(max, rule));

const listQuerySchema = z.strictObject({
  q: z.string('must appear once').optional(),
  category: z.string('must appear once').optional(),
  sort: z.enum(['name', 'price', 'stock'], 'must be name, price or stock').default('name'),
  order: z.enum(['asc', 'desc'], 'must be asc or desc').default('asc'),
  page: positiveInt(MAX_LISTING_DEPTH, 'must be a whole number ≥ 1').default(1),
  pageSize: positiveInt(MAX_PAGE_SIZE, `must be a whole number from 1 to ${MAX_PAGE_SIZE}`).default(20),
});

/** The endpoints, registered and documented from this one table. */
export const WEB_ENDPOINTS: readonly EndpointDoc[] = [
  {
    method: 'POST',
    path: '/auth/register',
    access: 'public',
    summary: 'Create an account (forwarded to auth-server).',
    body: '{"username":"ana","email":"ana@example.com","password":"s3cret-pass"}',
    returns: '201 user',
  },
  {
    method: 'POST',
    path: '/auth/login',
    access: 'public',
    summary: 'Log in (forwarded to auth-server); failures are throttled (429 + Retry-After).',
    body: '{"username":"ana","password":"s3cret-pass"}',
    returns: '200 {token, username, role, expiresIn}',
  },
  {
    method: 'GET',
    path: '/me',
    access: 'token',
    summary: 'Who the token belongs to.',
    returns: '200 {id, username, role}',
  },
  {
    method: 'POST',
    path: '/products',
    access: 'token',
    summary: 'Create a product on the shard its name routes to.',
    body: '{"name":"Arroz","price":1.5,"stock":10,"category":"granos"}',
    returns: '201 product with id and shard',
  },
  {
    method: 'GET',
    path: '/products',
    access: 'token',
    summary:
      'List all shards merged. Query: q (name contains), category, sort=name|price|stock, order=asc|desc, page, ' +
      'pageSize (max 100).',
    returns: '200 {items, page, pageSize, total, partial, missingShards}',
  },
  {
    method: 'GET',
    path: '/products/:id',
    access: 'token',
    summary: 'One product, wherever it lives; ETag is its version.',
    returns: '200 product or 404',
  },
  {
    method: 'PUT',
    path: '/products/:id',
    access: 'token',
    summary:
      'Change any of name, price, stock, category (only those fields are written); a rename into another range ' +
      'moves the product to that shard, keeping its id. Send If-Match: "<version>" (the ETag of GET) to change only ' +
      'the version you saw.',
    body: '{"name":"Pan"}',
    returns: '200 product, or 409 VERSION_CONFLICT with error.current',
  },
  {
    method: 'DELETE',
    path: '/products/:id',
    access: 'token',
    summary: 'Delete a product (If-Match optional, as for PUT).',
    returns: '204, or 409 VERSION_CONFLICT',
  },
  {
    method: 'GET',
    path: '/users',
    access: 'admin',
    summary: 'List users (forwarded to auth-server with your token).',
    returns: '200 {users}',
  },
  {
    method: 'POST',
    path: '/users',
    access: 'admin',
    summary: 'Create a user with a role.',
    body: '{"username":"bob","email":"bob@example.com","password":"s3cret-pass","role":"user"}',
    returns: '201 user',
  },
  {
    method: 'PUT',
    path: '/users/:username',
    access: 'admin',
    summary: "Change a user's role (not the last admin's).",
    body: '{"role":"user"}',
    returns: '200 user',
  },
  {
    method: 'DELETE',
    path: '/users/:username',
    access: 'admin',
    summary: 'Delete a user (not the last admin).',
    returns: '204',
  },
  { method: 'GET', path: '/health', access: 'public', summary: 'The process is alive.', returns: '200 {status:"ok"}' },
  {
    method: 'GET',
    path: '/ready',
    access: 'public',
    summary: 'Every shard and auth-server reachable.',
    returns: '200 or 503 {status, shards: {rsA: "reachable"...}, authServer}',
  },
  { method: 'GET', path: '/docs', access: 'public', summary: 'This page.', returns: 'HTML' },
  {
    method: 'GET',
    path: '/app/',
    access: 'public',
    summary:
      'The web dashboard (log in, products, users); its pages call this API with the token kept in the browser ' +
      'tab. GET / redirects here.',
    returns: 'HTML',
  },
];

/** Sends auth-server's answer on as ours (status, JSON body, Retry-After). */
function relay(res: Response, upstream: UpstreamResponse): void {
  if (upstream.retryAfter !== null) res.set('Retry-After', upstream.retryAfter);
  if (upstream.body === null) res.status(upstream.status).end();
  else res.status(upstream.status).json(upstream.body);
}

/** Builds web-server's express app. */
export function createWebApp(options: WebAppOptions): Express {
  const { catalog, tokens, auth } = options;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const app = createBaseApp();
  const metrics = options.metrics ?? createServiceMetrics('web-server');
  installMetrics(app, metrics, metricsAllowList(options.metricsAllow));
  app.use('/products', productMetrics(metrics));

  // Signature checked locally; revocation (deleted user, changed role) by auth-server, cached briefly.
  const currentUser = createTokenCheck(tokens, auth, options.now ?? (() => new Date()));
  const requireToken: RequestHandler = async (req, res, next) => {
    res.locals['user'] = await currentUser(bearerToken(req));
    next();
  };
  /** Forwarding options carrying the caller's token and address. */
  const asCaller = (req: Request, body?: unknown): ForwardOptions => ({
    authorization: req.get('authorization') ?? '',
    clientAddress: req.ip ?? req.socket.remoteAddress ?? '',
    ...(body === undefined ? {} : { body }),
  });

  app.get('/docs', (_req, res) => {
    res
      .set('Content-Security-Policy', DOCS_CSP)
      .type('html')
      .send(
        renderApiDocs(
          'web-server API',
          'Products (sharded by name across replica sets) and users for the distctl product platform.',
          WEB_ENDPOINTS,
        ),
      );
  });
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/ready', async (_req, res) => {
    const [shards, authUp] = await Promise.all([catalog.shardHealth(), auth.reachable()]);
    const allUp = authUp && Object.values(shards).every(Boolean);
    res.status(allUp ? 200 : 503).json({
      status: allUp ? 'ready' : 'unavailable',
      shards: Object.fromEntries(Object.entries(shards).map(([name, up]) => [name, up ? 'reachable' : 'unreachable'])),
      authServer: authUp ? 'reachable' : 'unreachable',
    });
  });

  app.post('/auth/register', async (req, res) => {
    relay(res, await auth.forward('POST', '/register', { body: jsonObjectBody(req), clientAddress: req.ip ?? '' }));
  });
  app.post(
    '/auth/login',
    failedLoginLimiter(options.loginLimit ?? { limit: 20, windowMs: 15 * 60 * 1000 }, clientKey),
    async (req, res) => {
      relay(res, await auth.forward('POST', '/login', { body: jsonObjectBody(req), clientAddress: req.ip ?? '' }));
    },
  );

  app.get('/me', requireToken, (_req, res) => {
    const user = res.locals['user'] as CurrentUser;
    res.json({ id: user.userId, username: user.username, role: user.role });
  });

  app.post('/products', requireToken, async (req, res) => {
    res.status(201).json(await catalog.create(parseBody(createProductSchema, jsonObjectBody(req))));
  });
  app.get('/products', requireToken, async (req, res) => {
    res.json(await catalog.list(listRequest(req)));
  });
  app.get('/products/:id', requireToken, async (req, res) => {
    const product = await catalog.get(String(req.params['id']));
    res.set('ETag', etag(product.version)).json(product);
  });
  app.put('/products/:id', requireToken, async (req, res) => {
    const changes = parseBody(updateProductSchema, jsonObjectBody(req));
    const product = await catalog.update(String(req.params['id']), changes, ifMatchVersion(req));
    res.set('ETag', etag(product.version)).json(product);
  });
  app.delete('/products/:id', requireToken, async (req, res) => {
    await catalog.delete(String(req.params['id']), ifMatchVersion(req));
    res.status(204).end();
  });

  // Forwarded with the caller's own token: auth-server decides who is admin.
  app.get('/users', requireToken, async (req, res) => {
    relay(res, await auth.forward('GET', '/users', asCaller(req)));
  });
  app.post('/users', requireToken, async (req, res) => {
    relay(res, await auth.forward('POST', '/users', asCaller(req, jsonObjectBody(req))));
  });
  app.delete('/users/:username', requireToken, async (req, res) => {
    const username = encodeURIComponent(String(req.params['username']));
    relay(res, await auth.forward('DELETE', `/users/${username}`, asCaller(req)));
  });
  app.put('/users/:username', requireToken, async (req, res) => {
    const username = encodeURIComponent(String(req.params['username']));
    relay(res, await auth.forward('PUT', `/users/${username}`, asCaller(req, jsonObjectBody(req))));
  });

  mountDashboard(app);

  app.use(notFoundHandler);
  app.use(errorMetrics(metrics));
  app.use(errorHandler(log));
  return app;
}

/** A product version as an entity tag. */
function etag(version: number): string {
  return `"${version}"`;
}

/**
 * The version named by If-Match (`"3"`, or `W/"3"`), null when the header is
 * absent or `*` (no precondition); 400 when it names no version.
 */
function ifMatchVersion(req: Request): number | null {
  const header = req.get('if-match')?.trim();
  if (header === undefined || header === '' || header === '*') return null;
  const match = /^(?:W\/)?"(\d{1,15})"$/.exec(header);
  if (!match?.[1])
    throw new ApiError(400, 'VALIDATION_FAILED', 'If-Match: must be the ETag of the product, e.g. "3"', {
      field: 'If-Match',
    });
  return Number(match[1]);
}

function listRequest(req: Request): ListRequest {
  const query = parseBody(listQuerySchema, { ...(req.query as Record<string, unknown>) });
  if (query.page * query.pageSize > MAX_LISTING_DEPTH) {
    throw new ApiError(
      400,
      'VALIDATION_FAILED',
      `page: page × pageSize must be at most ${MAX_LISTING_DEPTH}; narrow the search instead`,
      { field: 'page' },
    );
  }
  return {
    ...(query.q ? { nameContains: query.q } : {}),
    ...(query.category ? { category: query.category } : {}),
    sort: query.sort,
    direction: query.order === 'asc' ? 1 : -1,
    page: query.page,
    pageSize: query.pageSize,
  };
}
