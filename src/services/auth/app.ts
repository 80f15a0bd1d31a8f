/**
 * auth-server's HTTP API, built from injected parts (store, token service,
 * limits) so tests run it on a loopback socket with an in-memory store.
 */
import { randomUUID } from 'node:crypto';
import type { Express, Request, RequestHandler } from 'express';
import { z } from 'zod';
import { DOCS_CSP, renderApiDocs, type EndpointDoc } from '../shared/docs-page.js';
import { ApiError, DuplicateKeyError, StoreUnavailableError } from '../shared/errors.js';
import {
  createServiceMetrics,
  errorMetrics,
  installMetrics,
  metricsAllowList,
  type ServiceMetrics,
} from '../shared/metrics.js';
import { bearerToken, createBaseApp, errorHandler, jsonObjectBody, notFoundHandler } from '../shared/http.js';
import { TOKEN_TTL_SECONDS, type Role, type TokenService } from '../shared/jwt.js';
import { KeyedLock } from '../shared/keyed-lock.js';
import {
  attemptLimiter,
  clientKey,
  concurrencyLimiter,
  DEFAULT_LOGIN_LIMIT,
  failedLoginLimiter,
  type LoginLimit,
} from '../shared/rate-limit.js';
import { parseBody } from '../shared/validate.js';
import { checkPassword, createDummyHash, hashPassword, MAX_PASSWORD_BYTES, MIN_PASSWORD_LENGTH } from './passwords.js';
import { usernameKey, type UserRecord, type UserStore } from './users.js';

/** What createAuthApp needs. */
export interface AuthAppOptions {
  readonly users: UserStore;
  readonly tokens: TokenService;
  readonly now: () => Date;
  /** Failed logins per client and account; default 5 per 15 min. A successful login clears the count. */
  readonly loginLimit?: LoginLimit;
  /** Login attempts (failed or not) per client; default 30 per minute. Bounds the bcrypt work one client causes. */
  readonly clientLoginLimit?: LoginLimit;
  /** Registrations per client; default 10 per hour. */
  readonly registerLimit?: LoginLimit;
  /** Logins of one client checked at once; default 2, more get 429 at once. */
  readonly loginConcurrency?: number;
  /**
   * Addresses whose `X-Forwarded-For` is believed (web-server's). Requests from
   * anyone else are keyed by their socket address, whatever they send.
   */
  readonly trustedProxies?: readonly string[];
  /** The password check; bcrypt by default (tests pass one they control). */
  readonly checkPassword?: (password: string, hash: string) => Promise<boolean>;
  /** Where unexpected errors are logged; default stderr. */
  readonly log?: (line: string) => void;
  /** The Prometheus metrics the app records; default a fresh set. */
  readonly metrics?: ServiceMetrics;
  /** Who may read /metrics (see metrics.ts); default nobody. */
  readonly metricsAllow?: string;
}

/** Defaults of the throttles, as documented in docs/services.md. */
const AUTH_LIMITS = {
  clientLogin: { limit: 30, windowMs: 60 * 1000 },
  register: { limit: 10, windowMs: 60 * 60 * 1000 },
  loginConcurrency: 2,
} as const;

const usernameSchema = z
  .string()
  .trim()
  .transform((name) => name.normalize('NFKC'))
  .pipe(z.string().regex(/^[A-Za-z0-9._-]{3,32}$/, 'must be 3-32 characters of letters, digits, ".", "_" or "-"'));

const passwordSchema = z
  .string()
  .min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`)
  .refine(
    (p) => Buffer.byteLength(p, 'utf8') <= MAX_PASSWORD_BYTES,
    `must be at most ${MAX_PASSWORD_BYTES} bytes (bcrypt ignores the rest)`,
  );

const registerSchema = z.strictObject({
  username: usernameSchema,
  email: z.string().trim().pipe(z.email('must be an email address')),
  password: passwordSchema,
});

const createUserSchema = registerSchema.extend({
  role: z.enum(['admin', 'user'], 'must be "admin" or "user"').default('user'),
});

// The same 72-byte ceiling as register: bcrypt would compare only the first 72 bytes of a longer one.
const loginSchema = z.strictObject({
  username: z.string().trim().min(1, 'is required'),
  password: z
    .string()
    .min(1, 'is required')
    .refine((p) => Buffer.byteLength(p, 'utf8') <= MAX_PASSWORD_BYTES, `must be at most ${MAX_PASSWORD_BYTES} bytes`),
});

const roleSchema = z.strictObject({ role: z.enum(['admin', 'user'], 'must be "admin" or "user"') });

/** The endpoints, registered and documented from this one table. */
export const AUTH_ENDPOINTS: readonly EndpointDoc[] = [
  {
    method: 'POST',
    path: '/register',
    access: 'public',
    summary:
      'Create an account with role "user". Usernames are unique ignoring case and width (Ana = ana = ＡＮＡ). ' +
      'Throttled per client (429).',
    body: '{"username":"ana","email":"ana@example.com","password":"s3cret-pass"}',
    returns: '201 {id, username, email, role, createdAt}',
  },
  {
    method: 'POST',
    path: '/login',
    access: 'public',
    summary: 'Exchange credentials for a token. Failed attempts are throttled (429 + Retry-After).',
    body: '{"username":"ana","password":"s3cret-pass"}',
    returns: '200 {token, username, role, expiresIn}',
  },
  {
    method: 'GET',
    path: '/verify',
    access: 'token',
    summary: 'Check a token.',
    returns: '200 {id, username, role} or 401',
  },
  { method: 'GET', path: '/users', access: 'admin', summary: 'List users.', returns: '200 {users: [...]}' },
  {
    method: 'POST',
    path: '/users',
    access: 'admin',
    summary: 'Create a user with a role.',
    body: '{"username":"bob","email":"bob@example.com","password":"s3cret-pass","role":"admin"}',
    returns: '201 user',
  },
  {
    method: 'PUT',
    path: '/users/:username',
    access: 'admin',
    summary: "Change a user's role; revokes the tokens that user already has. The last admin cannot be demoted.",
    body: '{"role":"user"}',
    returns: '200 user, or 409 LAST_ADMIN',
  },
  {
    method: 'DELETE',
    path: '/users/:username',
    access: 'admin',
    summary: 'Delete a user (not yourself, not the last admin); revokes their tokens.',
    returns: '204, or 409 LAST_ADMIN',
  },
  { method: 'GET', path: '/health', access: 'public', summary: 'The process is alive.', returns: '200 {status:"ok"}' },
  {
    method: 'GET',
    path: '/ready',
    access: 'public',
    summary: 'The users database is reachable.',
    returns: '200 or 503 {status, database}',
  },
  { method: 'GET', path: '/', access: 'public', summary: 'This page.', returns: 'HTML' },
];

/** The user as shown to clients: never the hash. */
function publicUser(user: UserRecord): { id: string; username: string; email: string; role: Role; createdAt: string } {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    role: user.role,
    createdAt: user.createdAt.toISOString(),
  };
}

/** Builds auth-server's express app. */
export function createAuthApp(options: AuthAppOptions): Express {
  const { users, tokens, now } = options;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const check = options.checkPassword ?? checkPassword;
  const dummyHash = createDummyHash();
  // Changes that could leave no admin run one at a time (see the DELETE and PUT handlers).
  const adminChanges = new KeyedLock();
  const app = createBaseApp();
  const metrics = options.metrics ?? createServiceMetrics('auth-server');
  installMetrics(app, metrics, metricsAllowList(options.metricsAllow));
  // req.ip is the forwarded client only when the request comes from a trusted proxy's address.
  app.set(
    'trust proxy',
    options.trustedProxies && options.trustedProxies.length > 0 ? [...options.trustedProxies] : false,
  );

  /**
   * The token's user as stored now: a token of a deleted user, or one issued
   * before the user's role last changed, is refused — so revocation on
   * auth-server is immediate, and the role always comes from the store.
   */
  const authenticate = async (req: Request): Promise<UserRecord> => {
    const claims = await tokens.verify(bearerToken(req));
    const user = await users.findById(claims.userId);
    if (!user) throw new ApiError(401, 'TOKEN_REVOKED', 'the account of this token no longer exists; log in again');
    if (user.tokenVersion !== claims.tokenVersion)
      throw new ApiError(401, 'TOKEN_REVOKED', "this token was revoked when the account's role changed; log in again");
    return user;
  };
  const isAdmin = async (req: Request): Promise<UserRecord> => {
    const user = await authenticate(req);
    if (user.role !== 'admin') throw new ApiError(403, 'FORBIDDEN', 'this needs the admin role');
    return user;
  };
  const requireAdmin: RequestHandler = async (req, res, next) => {
    res.locals['admin'] = await isAdmin(req);
    next();
  };

  const createUser = async (
    input: { username: string; email: string; password: string },
    role: Role,
  ): Promise<UserRecord> => {
    const user: UserRecord = {
      id: randomUUID(),
      username: input.username,
      email: input.email,
      passwordHash: await hashPassword(input.password),
      role,
      createdAt: now(),
      tokenVersion: 0,
    };
    try {
      await users.create(user);
    } catch (err) {
      if (err instanceof DuplicateKeyError)
        throw new ApiError(409, 'USERNAME_TAKEN', `username ${input.username} is already taken`, { field: 'username' });
      throw err;
    }
    return user;
  };

  /**
   * Runs a change to `username` that removes an admin if it is one (delete or
   * demote), refusing it when that admin is the last. Serialised, with the
   * caller's admin role re-checked inside, so two admins removing each other
   * at once cannot both succeed.
   */
  const changeAdminSafely = (
    req: Request,
    username: string,
    change: (target: UserRecord) => Promise<boolean>,
  ): Promise<void> =>
    adminChanges.run('admins', async () => {
      const actor = await isAdmin(req);
      const target = await users.findByUsername(username);
      if (!target) throw new ApiError(404, 'USER_NOT_FOUND', `no user named ${username}`);
      if (target.id === actor.id && req.method === 'DELETE') {
        throw new ApiError(400, 'CANNOT_DELETE_SELF', 'an admin cannot delete their own account', {
          field: 'username',
        });
      }
      if (target.role === 'admin' && (await users.countAdmins()) <= 1) {
        throw new ApiError(409, 'LAST_ADMIN', `${target.username} is the last admin; make another user admin first`, {
          field: 'username',
        });
      }
      if (!(await change(target))) throw new ApiError(404, 'USER_NOT_FOUND', `no user named ${username}`);
    });

  const loginAccountKey = (req: Request): string => {
    const body: unknown = req.body;
    const username =
      typeof body === 'object' && body !== null && typeof (body as { username?: unknown }).username === 'string'
        ? (body as { username: string }).username.trim()
        : '';
    // Per client AND account: one client's failures never lock the account for other clients.
    return `${clientKey(req)}|${usernameKey(username)}`;
  };
  const accountFailures = failedLoginLimiter(options.loginLimit ?? DEFAULT_LOGIN_LIMIT, loginAccountKey);
  const clientAttempts = attemptLimiter(options.clientLoginLimit ?? AUTH_LIMITS.clientLogin, clientKey, {
    onlyFailures: false,
    what: 'too many logins from this client',
  });
  const registrations = attemptLimiter(options.registerLimit ?? AUTH_LIMITS.register, clientKey, {
    onlyFailures: false,
    what: 'too many registrations from this client',
  });
  const loginsAtOnce = concurrencyLimiter(options.loginConcurrency ?? AUTH_LIMITS.loginConcurrency, clientKey);

  app.get('/', (_req, res) => {
    res
      .set('Content-Security-Policy', DOCS_CSP)
      .type('html')
      .send(renderApiDocs('auth-server API', 'Accounts and tokens for the distctl product platform.', AUTH_ENDPOINTS));
  });

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/ready', async (_req, res) => {
    try {
      await users.ping();
      res.json({ status: 'ready', database: 'reachable' });
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      res.status(503).json({
        status: 'unavailable',
        database: 'unreachable',
        error: { code: 'DATABASE_UNAVAILABLE', message: err.message },
      });
    }
  });

  app.post('/register', registrations, async (req, res) => {
    const input = parseBody(registerSchema, jsonObjectBody(req));
    res.status(201).json(publicUser(await createUser(input, 'user')));
  });

  app.post('/login', loginsAtOnce, clientAttempts, accountFailures, async (req, res) => {
    const input = parseBody(loginSchema, jsonObjectBody(req));
    const user = await users.findByUsername(input.username);
    // Compare even when the user does not exist, so both failures cost the same time.
    const matches = await check(input.password, user?.passwordHash ?? dummyHash);
    if (!user || !matches) throw new ApiError(401, 'INVALID_CREDENTIALS', 'invalid username or password');
    // The right password ends this client's run of failures on this account.
    accountFailures.resetKey(loginAccountKey(req));
    const token = await tokens.sign({
      userId: user.id,
      username: user.username,
      role: user.role,
      tokenVersion: user.tokenVersion,
    });
    res.json({ token, username: user.username, role: user.role, expiresIn: TOKEN_TTL_SECONDS });
  });

  app.get('/verify', async (req, res) => {
    const user = await authenticate(req);
    res.json({ id: user.id, username: user.username, role: user.role });
  });

  app.get('/users', requireAdmin, async (_req, res) => {
    res.json({ users: (await users.list()).map(publicUser) });
  });

  app.post('/users', requireAdmin, async (req, res) => {
    const input = parseBody(createUserSchema, jsonObjectBody(req));
    res.status(201).json(publicUser(await createUser(input, input.role)));
  });

  app.put('/users/:username', requireAdmin, async (req, res) => {
    const username = String(req.params['username']);
    const { role } = parseBody(roleSchema, jsonObjectBody(req));
    if (role === 'admin') {
      if (!(await users.setRole(username, role)))
        throw new ApiError(404, 'USER_NOT_FOUND', `no user named ${username}`);
    } else {
      await changeAdminSafely(req, username, (target) => users.setRole(target.username, role));
    }
    const updated = await users.findByUsername(username);
    if (!updated) throw new ApiError(404, 'USER_NOT_FOUND', `no user named ${username}`);
    res.json(publicUser(updated));
  });

  app.delete('/users/:username', requireAdmin, async (req, res) => {
    await changeAdminSafely(req, String(req.params['username']), (target) => users.delete(target.username));
    res.status(204).end();
  });

  app.use(notFoundHandler);
  app.use(errorMetrics(metrics));
  app.use(errorHandler(log));
  return app;
}
