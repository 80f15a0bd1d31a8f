/** Security headers on every response of both services: JSON, errors, API pages, dashboard pages and assets. */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startStack } from './helpers.js';

let stack: Awaited<ReturnType<typeof startStack>>;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack.close();
});

function expectHardened(headers: Headers): void {
  expect(headers.get('x-content-type-options')).toBe('nosniff');
  expect(headers.get('referrer-policy')).toBe('no-referrer');
  expect(headers.get('content-security-policy')).toMatch(/(^|; )frame-ancestors 'none'(;|$)/);
  expect(headers.get('content-security-policy')).toMatch(/^default-src 'none'/);
}

describe('security headers', () => {
  it.each([
    ['auth', 'GET', '/', undefined],
    ['auth', 'GET', '/health', undefined],
    ['auth', 'GET', '/no-such-route', undefined],
    ['auth', 'POST', '/login', '{"username":'],
    ['auth', 'GET', '/users', undefined],
    ['web', 'GET', '/docs', undefined],
    ['web', 'GET', '/health', undefined],
    ['web', 'GET', '/ready', undefined],
    ['web', 'GET', '/products', undefined],
    ['web', 'POST', '/products', 'x'.repeat(20_000)],
    ['web', 'GET', '/', undefined],
    ['web', 'GET', '/app/', undefined],
    ['web', 'GET', '/app/login', undefined],
    ['web', 'GET', '/static/app.js', undefined],
    ['web', 'GET', '/static/app.css', undefined],
  ] as const)(
    '%s %s %s carries nosniff, a CSP with frame-ancestors none, and Referrer-Policy',
    async (service, method, path, raw) => {
      const server = service === 'auth' ? stack.auth : stack.web;
      const response = await fetch(`${server.url}${path}`, {
        method,
        redirect: 'manual',
        ...(raw === undefined ? {} : { body: raw, headers: { 'content-type': 'application/json' } }),
      });
      await response.arrayBuffer();
      expectHardened(response.headers);
    },
  );

  it('gives JSON answers a policy that loads nothing', async () => {
    const res = await call(stack.web, 'GET', '/health');
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
  });

  it.each([
    ['auth', '/'],
    ['web', '/docs'],
  ] as const)('the %s API page allows its one inline style by hash and no script', async (service, path) => {
    const res = await call(service === 'auth' ? stack.auth : stack.web, 'GET', path);
    const style = /<style>([^<]*)<\/style>/.exec(String(res.body))?.[1] ?? '';
    const hash = createHash('sha256').update(style).digest('base64');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain(`style-src 'sha256-${hash}'`);
    expect(csp).not.toMatch(/unsafe-inline|script-src/);
  });
});
