/** auth-server over a real loopback socket with an in-memory users store. */
import { SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuthApp } from '../../../src/services/auth/app.js';
import { bootstrapAdmin, ensureAdmin } from '../../../src/services/auth/bootstrap.js';
import { MemoryUserStore, type UserStore } from '../../../src/services/auth/users.js';
import { StoreUnavailableError } from '../../../src/services/shared/errors.js';
import { listen, type RunningServer } from '../../../src/services/shared/http.js';
import { call, SECRET, testClock, tokenService } from './helpers.js';

const clock = testClock();
let users: MemoryUserStore;
let server: RunningServer;

async function start(store: UserStore = users, loginLimit = { limit: 3, windowMs: 60_000 }): Promise<RunningServer> {
  return listen(
    createAuthApp({ users: store, tokens: tokenService(clock.now), now: clock.now, loginLimit, log: () => undefined }),
    0,
    '127.0.0.1',
  );
}

beforeEach(async () => {
  users = new MemoryUserStore();
  server = await start();
});
afterEach(async () => {
  await server.close();
});

const ana = { username: 'ana', email: 'ana@example.com', password: 'correct horse' };

async function adminToken(): Promise<string> {
  await ensureAdmin(users, 'root', 'root-password', clock.now);
  return (await call(server, 'POST', '/login', { body: { username: 'root', password: 'root-password' } })).body
    .token as string;
}

describe('register and login', () => {
  it('registers a user (role user, no hash in the answer) and logs in', async () => {
    const registered = await call(server, 'POST', '/register', { body: ana });
    expect(registered.status).toBe(201);
    expect(registered.body).toMatchObject({ username: 'ana', email: 'ana@example.com', role: 'user' });
    expect(JSON.stringify(registered.body)).not.toMatch(/\$2[aby]\$/);
    expect((await users.findByUsername('ana'))?.passwordHash).toMatch(/^\$2[aby]\$10\$/);

    const login = await call(server, 'POST', '/login', { body: { username: 'ana', password: ana.password } });
    expect(login.status).toBe(200);
    expect(login.body).toMatchObject({ username: 'ana', role: 'user', expiresIn: 3600 });
    const verified = await call(server, 'GET', '/verify', { token: login.body.token });
    expect(verified).toMatchObject({ status: 200, body: { username: 'ana', role: 'user' } });
  });

  it('refuses a taken username with 409', async () => {
    await call(server, 'POST', '/register', { body: ana });
    const again = await call(server, 'POST', '/register', { body: { ...ana, email: 'other@example.com' } });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'USERNAME_TAKEN', field: 'username' });
  });

  it.each([
    [{ ...ana, username: 'a' }, 'username'],
    [{ ...ana, email: 'not-an-email' }, 'email'],
    [{ ...ana, password: 'short' }, 'password'],
    [{ ...ana, password: 'ñ'.repeat(37) }, 'password'], // 74 bytes: over bcrypt's 72
    [{ username: 'ana', email: 'ana@example.com' }, 'password'],
    [{ ...ana, role: 'admin' }, 'role'], // register cannot choose a role
  ])('rejects invalid registration %# with 400 naming the field', async (body, field) => {
    const res = await call(server, 'POST', '/register', { body });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'VALIDATION_FAILED', field });
  });

  it('accepts a password of exactly 72 bytes', async () => {
    const res = await call(server, 'POST', '/register', { body: { ...ana, password: 'ñ'.repeat(36) } });
    expect(res.status).toBe(201);
  });

  it('answers malformed JSON with 400 and oversized bodies with 413', async () => {
    expect((await call(server, 'POST', '/register', { raw: '{"username":' })).body.error.code).toBe('MALFORMED_JSON');
    const big = await call(server, 'POST', '/register', {
      raw: JSON.stringify({ ...ana, email: `${'x'.repeat(20_000)}@example.com` }),
    });
    expect(big.status).toBe(413);
  });

  it('gives the same answer for an unknown user and a wrong password', async () => {
    await call(server, 'POST', '/register', { body: ana });
    const unknown = await call(server, 'POST', '/login', { body: { username: 'nobody', password: 'whatever1' } });
    const wrong = await call(server, 'POST', '/login', { body: { username: 'ana', password: 'whatever1' } });
    expect(unknown.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
  });

  it('rate-limits repeated failures with 429 and Retry-After, without counting successes', async () => {
    await call(server, 'POST', '/register', { body: ana });
    for (let i = 0; i < 3; i += 1) {
      expect((await call(server, 'POST', '/login', { body: { username: 'ana', password: ana.password } })).status).toBe(
        200,
      );
    }
    for (let i = 0; i < 3; i += 1) {
      expect((await call(server, 'POST', '/login', { body: { username: 'ana', password: 'wrong-pass' } })).status).toBe(
        401,
      );
    }
    const limited = await call(server, 'POST', '/login', { body: { username: 'ana', password: ana.password } });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('TOO_MANY_ATTEMPTS');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    // Another username from the same client is not locked out by ana's failures.
    expect((await call(server, 'POST', '/login', { body: { username: 'bob', password: 'wrong-pass' } })).status).toBe(
      401,
    );
  });
});

describe('tokens', () => {
  const key = new TextEncoder().encode(SECRET);
  const claims = { username: 'ana', role: 'user', ver: 0 };

  async function verifyStatus(token: string): Promise<{ status: number; code: string }> {
    await users
      .create({
        id: 'u1',
        username: 'ana',
        email: 'a@b.c',
        passwordHash: 'x',
        role: 'user',
        createdAt: clock.now(),
        tokenVersion: 0,
      })
      .catch(() => undefined);
    const res = await call(server, 'GET', '/verify', { token });
    return { status: res.status, code: res.body?.error?.code };
  }

  it('accepts a well-formed token', async () => {
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u1')
      .setIssuer('distctl-auth')
      .setAudience('distctl')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(key);
    expect((await verifyStatus(token)).status).toBe(200);
  });

  it('rejects an expired token with TOKEN_EXPIRED', async () => {
    const token = await tokenService(clock.now).sign({ userId: 'u1', username: 'ana', role: 'user', tokenVersion: 0 });
    clock.advance(3601 * 1000);
    expect(await verifyStatus(token)).toEqual({ status: 401, code: 'TOKEN_EXPIRED' });
  });

  it.each([
    ['wrong algorithm (HS512)', { alg: 'HS512' }, 'distctl-auth', 'distctl', SECRET],
    ['wrong audience', { alg: 'HS256' }, 'distctl-auth', 'someone-else', SECRET],
    ['wrong issuer', { alg: 'HS256' }, 'evil', 'distctl', SECRET],
    ['wrong secret', { alg: 'HS256' }, 'distctl-auth', 'distctl', 'another-secret-that-is-32-chars-long!!'],
  ])('rejects a token with %s', async (_label, header, issuer, audience, secret) => {
    const token = await new SignJWT(claims)
      .setProtectedHeader(header)
      .setSubject('u1')
      .setIssuer(issuer)
      .setAudience(audience)
      .setIssuedAt(Math.floor(clock.now().getTime() / 1000))
      .setExpirationTime(Math.floor(clock.now().getTime() / 1000) + 600)
      .sign(new TextEncoder().encode(secret));
    expect(await verifyStatus(token)).toEqual({ status: 401, code: 'INVALID_TOKEN' });
  });

  it('rejects alg "none" and garbage', async () => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, sub: 'u1', iss: 'distctl-auth', aud: 'distctl', exp: 9_999_999_999 })}.`;
    expect((await verifyStatus(unsigned)).status).toBe(401);
    expect((await verifyStatus('not.a.token')).status).toBe(401);
    expect((await call(server, 'GET', '/verify')).body.error.code).toBe('UNAUTHENTICATED');
  });

  it("stops verifying a deleted user's token", async () => {
    await call(server, 'POST', '/register', { body: ana });
    const token = (await call(server, 'POST', '/login', { body: { username: 'ana', password: ana.password } })).body
      .token;
    await users.delete('ana');
    expect((await call(server, 'GET', '/verify', { token })).status).toBe(401);
  });
});

describe('user management', () => {
  it('lets an admin list, create and delete users', async () => {
    const token = await adminToken();
    const created = await call(server, 'POST', '/users', {
      token,
      body: { username: 'bob', email: 'bob@example.com', password: 'bob-password', role: 'admin' },
    });
    expect(created).toMatchObject({ status: 201, body: { username: 'bob', role: 'admin' } });
    const listed = await call(server, 'GET', '/users', { token });
    expect(listed.body.users.map((u: { username: string }) => u.username)).toEqual(['bob', 'root']);
    expect((await call(server, 'DELETE', '/users/bob', { token })).status).toBe(204);
    expect((await call(server, 'DELETE', '/users/bob', { token })).status).toBe(404);
    expect((await call(server, 'DELETE', '/users/root', { token })).body.error.code).toBe('CANNOT_DELETE_SELF');
  });

  it('answers 401 without a token and 403 for a non-admin', async () => {
    expect((await call(server, 'GET', '/users')).status).toBe(401);
    await call(server, 'POST', '/register', { body: ana });
    const token = (await call(server, 'POST', '/login', { body: { username: 'ana', password: ana.password } })).body
      .token;
    const res = await call(server, 'GET', '/users', { token });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('FORBIDDEN');
  });
});

describe('health, readiness, docs and outages', () => {
  class DownStore extends MemoryUserStore {
    down = true;
    private check(): void {
      if (this.down) throw new StoreUnavailableError('auth_db', new Error('server selection timed out'));
    }
    override async findByUsername(username: string) {
      this.check();
      return super.findByUsername(username);
    }
    override async create(...args: Parameters<MemoryUserStore['create']>) {
      this.check();
      return super.create(...args);
    }
    override async ping() {
      this.check();
    }
  }

  it('serves health, an HTML doc page, and JSON 404s', async () => {
    expect((await call(server, 'GET', '/health')).body).toEqual({ status: 'ok' });
    const docs = await call(server, 'GET', '/');
    expect(docs.headers.get('content-type')).toMatch(/text\/html/);
    expect(docs.body).toMatch(/POST.*\/login/s);
    expect((await call(server, 'GET', '/nope')).body.error.code).toBe('NOT_FOUND');
  });

  it('stays up with the users db down: /ready and logins answer 503, /health 200', async () => {
    const store = new DownStore();
    const down = await start(store);
    try {
      expect((await call(down, 'GET', '/health')).status).toBe(200);
      const ready = await call(down, 'GET', '/ready');
      expect(ready).toMatchObject({ status: 503, body: { status: 'unavailable', database: 'unreachable' } });
      const login = await call(down, 'POST', '/login', { body: { username: 'ana', password: 'whatever1' } });
      expect(login.status).toBe(503);
      expect(login.body.error).toMatchObject({ code: 'DATABASE_UNAVAILABLE', unavailable: ['auth_db'] });
      store.down = false;
      expect((await call(down, 'GET', '/ready')).status).toBe(200);
    } finally {
      await down.close();
    }
  });

  it('bootstraps the admin, retrying while the db is down, and promotes an existing user', async () => {
    const store = new DownStore();
    const lines: string[] = [];
    const run = bootstrapAdmin(
      store,
      { username: 'root', password: 'root-password' },
      { now: clock.now, retryMs: 10, log: (l) => lines.push(l) },
    );
    await new Promise((r) => setTimeout(r, 40));
    store.down = false;
    expect(await run.done).toBe('created');
    expect(lines.some((l) => /retrying/.test(l))).toBe(true);
    expect((await store.findByUsername('root'))?.role).toBe('admin');
    expect(await ensureAdmin(store, 'root', 'root-password', clock.now)).toBe('present');

    await store.create({
      id: 'x',
      username: 'ops',
      email: 'o@x.y',
      passwordHash: 'h',
      role: 'user',
      createdAt: clock.now(),
      tokenVersion: 0,
    });
    expect(await ensureAdmin(store, 'ops', 'whatever-pass', clock.now)).toBe('promoted');
    expect((await store.findByUsername('ops'))?.passwordHash).toBe('h');
  });
});
