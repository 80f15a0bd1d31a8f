/**
 * Accounts across both services: revocation of deleted or demoted users'
 * tokens (immediate on auth-server, within REVOCATION_CACHE_MS on
 * web-server), the last admin, login throttles nobody can turn against
 * another client, and usernames/passwords normalised as the docs say.
 */
import { request } from 'node:http';
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureAdmin } from '../../../src/services/auth/bootstrap.js';
import type { RunningServer } from '../../../src/services/shared/http.js';
import { REVOCATION_CACHE_MS } from '../../../src/services/web/token-check.js';
import { call, SECRET, startStack, testClock } from './helpers.js';

type Stack = Awaited<ReturnType<typeof startStack>>;
let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function start(options: Parameters<typeof startStack>[0] = {}): Promise<Stack> {
  stack = await startStack(options);
  await ensureAdmin(stack.users, 'root', 'root-password', () => new Date());
  return stack;
}

async function login(server: RunningServer, username: string, password: string): Promise<string> {
  const res = await call(server, 'POST', server === stack?.web ? '/auth/login' : '/login', {
    body: { username, password },
  });
  expect(res.status).toBe(200);
  return res.body.token as string;
}

/** A JSON request sent from a chosen loopback source address (127.0.0.0/8 is all local on Linux). */
function callFrom(
  source: string,
  server: RunningServer,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    const url = new URL(`${server.url}${path}`);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method,
        localAddress: source,
        headers: { ...(payload ? { 'content-type': 'application/json' } : {}), ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const product = { name: 'Arroz', price: 1, stock: 1, category: 'granos' };

describe('revocation', () => {
  it('a deleted user cannot create products: refused by web-server within REVOCATION_CACHE_MS, by auth-server at once', async () => {
    const clock = testClock(new Date());
    const { web, auth } = await start({ now: clock.now });
    await call(web, 'POST', '/auth/register', {
      body: { username: 'ana', email: 'ana@example.com', password: 'ana-password' },
    });
    const ana = await login(web, 'ana', 'ana-password');
    const root = await login(web, 'root', 'root-password');
    expect((await call(web, 'POST', '/products', { token: ana, body: product })).status).toBe(201);
    expect((await call(web, 'DELETE', '/users/ana', { token: root })).status).toBe(204);

    expect((await call(auth, 'GET', '/verify', { token: ana })).body.error.code).toBe('TOKEN_REVOKED');
    // web-server's answer for ana's token is cached for at most REVOCATION_CACHE_MS (the stated bound)...
    expect((await call(web, 'POST', '/products', { token: ana, body: product })).status).toBe(201);
    clock.advance(REVOCATION_CACHE_MS);
    // ...and not a millisecond longer.
    const refused = await call(web, 'POST', '/products', { token: ana, body: product });
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('TOKEN_REVOKED');
    expect(REVOCATION_CACHE_MS).toBeLessThanOrEqual(5000);
  });

  it('a deleted admin can neither create an admin nor delete the remaining ones', async () => {
    const { auth } = await start();
    const root = await login(auth, 'root', 'root-password');
    await call(auth, 'POST', '/users', {
      token: root,
      body: { username: 'mallory', email: 'm@example.com', password: 'mallory-pass', role: 'admin' },
    });
    const mallory = await login(auth, 'mallory', 'mallory-pass');
    expect((await call(auth, 'DELETE', '/users/mallory', { token: root })).status).toBe(204);
    const backdoor = await call(auth, 'POST', '/users', {
      token: mallory,
      body: { username: 'backdoor', email: 'b@example.com', password: 'backdoor-pass', role: 'admin' },
    });
    expect(backdoor.status).toBe(401);
    expect((await call(auth, 'DELETE', '/users/root', { token: mallory })).status).toBe(401);
    expect(
      (await call(auth, 'GET', '/users', { token: root })).body.users.map((u: { username: string }) => u.username),
    ).toEqual(['root']);
  });

  it('a demoted admin loses the admin role at once on auth-server, and every old token within the bound on web-server', async () => {
    const clock = testClock(new Date());
    const { auth, web } = await start({ now: clock.now });
    const root = await login(auth, 'root', 'root-password');
    await call(auth, 'POST', '/users', {
      token: root,
      body: { username: 'bob', email: 'b@example.com', password: 'bob-password', role: 'admin' },
    });
    const bob = await login(web, 'bob', 'bob-password');
    expect((await call(web, 'GET', '/me', { token: bob })).body.role).toBe('admin');
    const demoted = await call(web, 'PUT', '/users/bob', { token: root, body: { role: 'user' } });
    expect(demoted).toMatchObject({ status: 200, body: { username: 'bob', role: 'user' } });
    expect((await call(auth, 'GET', '/users', { token: bob })).body.error.code).toBe('TOKEN_REVOKED');
    clock.advance(REVOCATION_CACHE_MS);
    expect((await call(web, 'GET', '/me', { token: bob })).status).toBe(401);
    const fresh = await login(web, 'bob', 'bob-password');
    expect((await call(web, 'GET', '/me', { token: fresh })).body.role).toBe('user');
    expect((await call(web, 'GET', '/users', { token: fresh })).status).toBe(403);
  });

  it("the admin guard uses the stored role, not the token's role claim", async () => {
    const { auth, users } = await start();
    await call(auth, 'POST', '/register', {
      body: { username: 'eve', email: 'e@example.com', password: 'eve-password' },
    });
    const eve = (await users.findByUsername('eve'))!;
    // A correctly signed token whose claim says admin, for a user the store says is not.
    const forged = await new SignJWT({ username: 'eve', role: 'admin', ver: eve.tokenVersion })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(eve.id)
      .setIssuer('distctl-auth')
      .setAudience('distctl')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET));
    const res = await call(auth, 'GET', '/users', { token: forged });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('FORBIDDEN');
  });

  it.each([
    ['a role claim other than admin or user', { username: 'eve', role: 'superuser', ver: 0 }],
    ['no role claim', { username: 'eve', ver: 0 }],
    ['no token version', { username: 'eve', role: 'user' }],
  ])('refuses a token with %s', async (_label, claims) => {
    const { auth, web, users } = await start();
    await call(auth, 'POST', '/register', {
      body: { username: 'eve', email: 'e@example.com', password: 'eve-password' },
    });
    const eve = (await users.findByUsername('eve'))!;
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(eve.id)
      .setIssuer('distctl-auth')
      .setAudience('distctl')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET));
    expect((await call(auth, 'GET', '/verify', { token })).body.error.code).toBe('INVALID_TOKEN');
    expect((await call(web, 'GET', '/products', { token })).body.error.code).toBe('INVALID_TOKEN');
  });
});

describe('the last admin', () => {
  it('cannot be demoted, and cannot be deleted by the admin who remains', async () => {
    const { auth } = await start();
    const root = await login(auth, 'root', 'root-password');
    const self = await call(auth, 'PUT', '/users/root', { token: root, body: { role: 'user' } });
    expect(self.status).toBe(409);
    expect(self.body.error.code).toBe('LAST_ADMIN');
    await call(auth, 'POST', '/users', {
      token: root,
      body: { username: 'bob', email: 'b@example.com', password: 'bob-password', role: 'admin' },
    });
    const bob = await login(auth, 'bob', 'bob-password');
    expect((await call(auth, 'DELETE', '/users/root', { token: bob })).status).toBe(204);
    const last = await call(auth, 'PUT', '/users/bob', { token: bob, body: { role: 'user' } });
    expect(last.body.error.code).toBe('LAST_ADMIN');
    expect((await call(auth, 'GET', '/users', { token: bob })).body.users.map((u: { role: string }) => u.role)).toEqual(
      ['admin'],
    );
  });

  it('two admins deleting each other at the same moment: exactly one succeeds', async () => {
    const { auth, users } = await start();
    const root = await login(auth, 'root', 'root-password');
    await call(auth, 'POST', '/users', {
      token: root,
      body: { username: 'bob', email: 'b@example.com', password: 'bob-password', role: 'admin' },
    });
    const bob = await login(auth, 'bob', 'bob-password');
    const [a, b] = await Promise.all([
      call(auth, 'DELETE', '/users/bob', { token: root }),
      call(auth, 'DELETE', '/users/root', { token: bob }),
    ]);
    expect([a.status, b.status].sort((x, y) => x - y)).toEqual([204, 401]);
    expect(await users.countAdmins()).toBe(1);
  });
});

describe('login throttles nobody can aim at someone else', () => {
  it('five bad passwords for ana from one visitor through web-server do not lock ana out for another', async () => {
    const { web } = await start();
    await call(web, 'POST', '/auth/register', {
      body: { username: 'ana', email: 'ana@example.com', password: 'ana-password' },
    });
    for (let i = 0; i < 5; i += 1) {
      expect(
        (await callFrom('127.0.0.2', web, 'POST', '/auth/login', { username: 'ana', password: `guess-${i}-x` })).status,
      ).toBe(401);
    }
    expect(
      (await callFrom('127.0.0.2', web, 'POST', '/auth/login', { username: 'ana', password: 'ana-password' })).status,
    ).toBe(429);
    const victim = await callFrom('127.0.0.3', web, 'POST', '/auth/login', {
      username: 'ana',
      password: 'ana-password',
    });
    expect(victim.status).toBe(200);
  });

  it('ignores X-Forwarded-For from any address but the trusted web-server', async () => {
    const { auth } = await start({ auth: { loginLimit: { limit: 2, windowMs: 60_000 } } });
    for (let i = 0; i < 2; i += 1) {
      const res = await callFrom(
        '127.0.0.2',
        auth,
        'POST',
        '/login',
        { username: 'root', password: 'wrong-pass' },
        { 'x-forwarded-for': `192.0.2.${i}` },
      );
      expect(res.status).toBe(401);
    }
    const spoofed = await callFrom(
      '127.0.0.2',
      auth,
      'POST',
      '/login',
      { username: 'root', password: 'root-password' },
      { 'x-forwarded-for': '192.0.2.99' },
    );
    expect(spoofed.status).toBe(429);
    // From the trusted address the forwarded client counts: another client is not affected.
    const trusted = await callFrom(
      '127.0.0.1',
      auth,
      'POST',
      '/login',
      { username: 'root', password: 'root-password' },
      { 'x-forwarded-for': '192.0.2.99' },
    );
    expect(trusted.status).toBe(200);
  });

  it('a successful login clears the failure count of that client and account', async () => {
    const { auth } = await start({ auth: { loginLimit: { limit: 3, windowMs: 60_000 } } });
    for (let round = 0; round < 2; round += 1) {
      for (let i = 0; i < 2; i += 1)
        expect(
          (await call(auth, 'POST', '/login', { body: { username: 'root', password: 'wrong-pass' } })).status,
        ).toBe(401);
      expect(
        (await call(auth, 'POST', '/login', { body: { username: 'root', password: 'root-password' } })).status,
      ).toBe(200);
    }
    for (let i = 0; i < 3; i += 1)
      expect((await call(auth, 'POST', '/login', { body: { username: 'ROOT', password: 'wrong-pass' } })).status).toBe(
        401,
      );
    expect((await call(auth, 'POST', '/login', { body: { username: 'root', password: 'root-password' } })).status).toBe(
      429,
    );
  });

  it('throttles /register per client', async () => {
    const { web } = await start({ auth: { registerLimit: { limit: 2, windowMs: 60_000 } } });
    const register = (from: string, n: number) =>
      callFrom(from, web, 'POST', '/auth/register', {
        username: `user${from.slice(-1)}${n}`,
        email: `u${n}@example.com`,
        password: 'long-password',
      });
    expect((await register('127.0.0.2', 1)).status).toBe(201);
    expect((await register('127.0.0.2', 2)).status).toBe(201);
    const third = await register('127.0.0.2', 3);
    expect(third.status).toBe(429);
    expect(third.body.error.code).toBe('TOO_MANY_ATTEMPTS');
    expect((await register('127.0.0.3', 1)).status).toBe(201);
  });

  it('caps logins per client per minute, whatever the usernames', async () => {
    const { auth } = await start({ auth: { clientLoginLimit: { limit: 3, windowMs: 60_000 } } });
    for (const name of ['a1', 'b2', 'c3'])
      expect((await call(auth, 'POST', '/login', { body: { username: name, password: 'whatever-1' } })).status).toBe(
        401,
      );
    expect((await call(auth, 'POST', '/login', { body: { username: 'd4', password: 'whatever-1' } })).status).toBe(429);
  });

  it('checks at most loginConcurrency passwords of one client at once, and compares unknown users too', async () => {
    const checks: { hash: string; finish: (ok: boolean) => void }[] = [];
    const checkPassword = (_password: string, hash: string) =>
      new Promise<boolean>((finish) => checks.push({ hash, finish }));
    const { auth, users } = await start({ auth: { loginConcurrency: 1, checkPassword } });
    const first = call(auth, 'POST', '/login', { body: { username: 'nobody', password: 'whatever-1' } });
    await expect.poll(() => checks.length).toBe(1);
    const second = await call(auth, 'POST', '/login', { body: { username: 'root', password: 'root-password' } });
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('1');
    expect(checks).toHaveLength(1);
    // The unknown user's login was compared against a real bcrypt hash: same cost as a known user.
    expect(checks[0]!.hash).toMatch(/^\$2[aby]\$10\$/);
    expect(checks[0]!.hash).not.toBe((await users.findByUsername('root'))!.passwordHash);
    checks[0]!.finish(false);
    expect((await first).status).toBe(401);
    const third = call(auth, 'POST', '/login', { body: { username: 'root', password: 'root-password' } });
    await expect.poll(() => checks.length).toBe(2);
    checks[1]!.finish(true);
    expect((await third).status).toBe(200);
  });
});

describe('passwords and usernames', () => {
  it("login applies register's 72-byte limit: a longer password sharing the first 72 bytes does not log in", async () => {
    const { auth } = await start();
    const password = 'ñ'.repeat(36); // 72 bytes
    expect(
      (await call(auth, 'POST', '/register', { body: { username: 'ana', email: 'a@example.com', password } })).status,
    ).toBe(201);
    const longer = await call(auth, 'POST', '/login', {
      body: { username: 'ana', password: `${password}${'x'.repeat(28)}` },
    });
    expect(longer.status).toBe(400);
    expect(longer.body.error).toMatchObject({ code: 'VALIDATION_FAILED', field: 'password' });
    expect((await call(auth, 'POST', '/login', { body: { username: 'ana', password } })).status).toBe(200);
  });

  it('Ana, ana, ANA and full-width ＡＮＡ are one account', async () => {
    const { auth } = await start();
    const register = (username: string) =>
      call(auth, 'POST', '/register', { body: { username, email: 'a@example.com', password: 'ana-password' } });
    expect((await register('Ana')).status).toBe(201);
    for (const other of ['ana', 'ANA', '\uFF21\uFF2E\uFF21']) {
      const res = await register(other);
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('USERNAME_TAKEN');
    }
    const res = await call(auth, 'POST', '/login', { body: { username: 'aNA', password: 'ana-password' } });
    expect(res.body).toMatchObject({ username: 'Ana', role: 'user' });
  });
});
