/**
 * auth-server's HTTP API, built from injected parts (store, token service,
 * limits) so tests run it on a loopback socket with an in-memory store.
 */
import { randomUUID } from 'node:crypto';
import type { Express, Request, RequestHandler } from 'express';
import { z } from 'zod';
import { DOCS_CSP, renderApiDocs, type EndpointDoc } from '../shared/docs-page.js';
import { ApiError, DuplicateKeyError, StoreUnavailableError } from '../shared/errors.js';
import { bearerToken, createBaseApp, errorHandler, jsonObjectBody, notFoundHandler } from '../shared/http.js';
import type { Role, TokenClaims, TokenService } from '../shared/jwt.js';
import { clientKey, DEFAULT_LOGIN_LIMIT, failedLoginLimiter, type LoginLimit } from '../shared/rate-limit.js';
import { parseBody } from '../shared/validate.js';
import { checkPassword, createDummyHash, hashPassword, MAX_PASSWORD_BYTES, MIN_PASSWORD_LENGTH } from './passwords.js';
import type { UserRecord, UserStore } from './users.js';

/** What createAuthApp needs. */
export interface AuthAppOptions {
  readonly users: UserStore;
  readonly tokens: TokenService;
  readonly now: () => Date;
  /** Failed-login throttle per client and username; default 5 per 15 min. */
  readonly loginLimit?: LoginLimit;
  /** Where unexpected errors are logged; default stderr. */
  readonly log?: (line: string) => void;
}

const usernameSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9._-]{3,32}$/, 'must be 3-32 characters of letters, digits, ".", "_" or "-"');

const passwordSchema = z
  .string()
  .min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`)
  .refine((p) => Buffer.byteLength(p, 'utf8') <= MAX_PASSWORD_BYTES, `must be at most ${MAX_PASSWORD_BYTES} bytes (bcrypt ignores the rest)`);

const registerSchema = z.strictObject({
  username: usernameSchema,
  email: z.string().trim().pipe(z.email('must be an email address')),
  password: passwordSchema,
});

const createUserSchema = registerSchema.extend({ role: z.enum(['admin', 'user'], 'must be "admin" or "user"').default('user') });

const loginSchema = z.strictObject({ username: z.string().trim().min(1, 'is required'), password: z.string().min(1, 'is required') });

/** The endpoints, registered and documented from this one table. */
export const AUTH_ENDPOINTS: readonly EndpointDoc[] = [
  { method: 'POST', path: '/register', access: 'public', summary: 'Create an account with role "user".', body: '{"username":"ana","email":"ana@example.com","password":"s3cret-pass"}', returns: '201 {id, username, email, role, createdAt}' },
  { method: 'POST', path: '/login', access: 'public', summary: 'Exchange credentials for a token. Failed attempts are throttled (429 + Retry-After).', body: '{"username":"ana","password":"s3cret-pass"}', returns: '200 {token, username, role, expiresIn}' },
  { method: 'GET', path: '/verify', access: 'token', summary: 'Check a token.', returns: '200 {id, username, role} or 401' },
  { method: 'GET', path: '/users', access: 'admin', summary: 'List users.', returns: '200 {users: [...]}' },
  { method: 'POST', path: '/users', access: 'admin', summary: 'Create a user with a role.', body: '{"username":"bob","email":"bob@example.com","password":"s3cret-pass","role":"admin"}', returns: '201 user' },
  { method: 'DELETE', path: '/users/:username', access: 'admin', summary: 'Delete a user (not yourself).', returns: '204' },
  { method: 'GET', path: '/health', access: 'public', summary: 'The process is alive.', returns: '200 {status:"ok"}' },
  { method: 'GET', path: '/ready', access: 'public', summary: 'The users database is reachable.', returns: '200 or 503 {status, database}' },
  { method: 'GET', path: '/', access: 'public', summary: 'This page.', returns: 'HTML' },
];

/** The user as shown to clients: never the hash. */
function publicUser(user: UserRecord): { id: string; username: string; email: string; role: Role; createdAt: string } {
  return { id: user.id, username: user.username, email: user.email, role: user.role, createdAt: user.createdAt.toISOString() };
}

/** Builds auth-server's express app. */
export function createAuthApp(options: AuthAppOptions): Express {
  const { users, tokens, now } = options;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const dummyHash = createDummyHash();
  const app = createBaseApp();

  const authenticate = async (req: Request): Promise<TokenClaims> => tokens.verify(bearerToken(req));
  const requireAdmin: RequestHandler = async (req, res, next) => {
    const claims = await authenticate(req);
    if (claims.role !== 'admin') throw new ApiError(403, 'FORBIDDEN', 'this needs the admin role');
    res.locals['claims'] = claims;
    next();
  };

  const createUser = async (input: { username: string; email: string; password: string }, role: Role): Promise<UserRecord> => {
    const user: UserRecord = { id: randomUUID(), username: input.username, email: input.email, passwordHash: await hashPassword(input.password), role, createdAt: now() };
    try {
      await users.create(user);
    } catch (err) {
      if (err instanceof DuplicateKeyError) throw new ApiError(409, 'USERNAME_TAKEN', `username ${input.username} is already taken`, { field: 'username' });
      throw err;
    }
    return user;
  };

  app.get('/', (_req, res) => {
    res.set('Content-Security-Policy', DOCS_CSP).type('html').send(renderApiDocs('auth-server API', 'Accounts and tokens for the distctl product platform.', AUTH_ENDPOINTS));
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
      res.status(503).json({ status: 'unavailable', database: 'unreachable', error: { code: 'DATABASE_UNAVAILABLE', message: err.message } });
    }
  });

  app.post('/register', async (req, res) => {
    const input = parseBody(registerSchema, jsonObjectBody(req));
    res.status(201).json(publicUser(await createUser(input, 'user')));
  });

  const loginKey = (req: Request): string => {
    const body: unknown = req.body;
    const username = typeof body === 'object' && body !== null && typeof (body as { username?: unknown }).username === 'string' ? (body as { username: string }).username.trim() : '';
    // Per client AND username: when web-server proxies logins, every client shares its IP,
    // so a per-IP key alone would let one user's typos lock everyone out.
    return `${clientKey(req)}|${username}`;
  };

  app.post('/login', failedLoginLimiter(options.loginLimit ?? DEFAULT_LOGIN_LIMIT, loginKey), async (req, res) => {
    const input = parseBody(loginSchema, jsonObjectBody(req));
    const user = await users.findByUsername(input.username);
    // Compare even when the user does not exist, so both failures cost the same time.
    const matches = await checkPassword(input.password, user?.passwordHash ?? dummyHash);
    if (!user || !matches) throw new ApiError(401, 'INVALID_CREDENTIALS', 'invalid username or password');
    const token = await tokens.sign({ userId: user.id, username: user.username, role: user.role });
    res.json({ token, username: user.username, role: user.role, expiresIn: 3600 });
  });

  app.get('/verify', async (req, res) => {
    const claims = await authenticate(req);
    // A deleted user's token stops verifying at once, not an hour later.
    const user = await users.findByUsername(claims.username);
    if (!user || user.id !== claims.userId) throw new ApiError(401, 'INVALID_TOKEN', 'the user of this token no longer exists');
    res.json({ id: user.id, username: user.username, role: user.role });
  });

  app.get('/users', requireAdmin, async (_req, res) => {
    res.json({ users: (await users.list()).map(publicUser) });
  });

  app.post('/users', requireAdmin, async (req, res) => {
    const input = parseBody(createUserSchema, jsonObjectBody(req));
    res.status(201).json(publicUser(await createUser(input, input.role)));
  });

  app.delete('/users/:username', requireAdmin, async (req, res) => {
    const username = String(req.params['username']);
    const claims = res.locals['claims'] as TokenClaims;
    if (username === claims.username) throw new ApiError(400, 'CANNOT_DELETE_SELF', 'an admin cannot delete their own account', { field: 'username' });
    if (!(await users.delete(username))) throw new ApiError(404, 'USER_NOT_FOUND', `no user named ${username}`);
    res.status(204).end();
  });

  app.use(notFoundHandler);
  app.use(errorHandler(log));
  return app;
}

