/** The web dashboard: pages and assets over a real loopback socket, and the page logic run in Node. */
import { Script } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PAGE_SIZE } from '../../../src/services/web/app.js';
import { MAX_LISTING_DEPTH } from '../../../src/services/web/catalog.js';
import { APP_JS } from '../../../src/services/web/pages/client-app.js';
import { CORE_JS } from '../../../src/services/web/pages/client-core.js';
import { DASHBOARD_PAGES, type DashboardPage } from '../../../src/services/web/pages/html.js';
import { PAGE_CSP } from '../../../src/services/web/pages/index.js';
import { call, startStack } from './helpers.js';

let stack: Awaited<ReturnType<typeof startStack>>;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack.close();
});

/** A concrete URL for a page route (the edit page takes any id; the script asks the API for it). */
function urlOf(page: DashboardPage): string {
  return page.route.replace(':id', '0b5c1e7e-2f4e-4a57-9b5e-3c1d2e4f5a6b');
}

describe('pages', () => {
  it('GET / redirects to the dashboard', async () => {
    const response = await fetch(`${stack.web.url}/`, { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/app/');
  });

  it.each(DASHBOARD_PAGES.map((p) => [p.name, p] as const))(
    'serves %s as HTML under a strict CSP',
    async (_name, page) => {
      for (const path of page.route === '/app' ? ['/app', '/app/'] : [urlOf(page)]) {
        const res = await call(stack.web, 'GET', path);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
        expect(res.headers.get('content-security-policy')).toBe(PAGE_CSP);
        expect(res.headers.get('x-content-type-options')).toBe('nosniff');
        expect(res.body).toBe(page.html);
      }
    },
  );

  it('the CSP allows only this origin, and no inline script or style', () => {
    const directives = new Map(
      PAGE_CSP.split(';')
        .map((d) => d.trim().split(/\s+/) as [string, ...string[]])
        .map(([k, ...v]) => [k, v]),
    );
    expect(directives.get('default-src')).toEqual(["'none'"]);
    for (const name of ['script-src', 'style-src', 'connect-src']) expect(directives.get(name)).toEqual(["'self'"]);
    expect(PAGE_CSP).not.toMatch(/unsafe-inline|unsafe-eval|https?:|data:|\*/);
  });

  it.each(DASHBOARD_PAGES.map((p) => [p.name, p.html] as const))(
    '%s needs nothing inline and nothing from elsewhere',
    (_name, html) => {
      const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
      expect(scripts.map((m) => [m[1]?.trim(), m[2]])).toEqual([['src="/static/app.js" defer', '']]);
      expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=|javascript:/i);
      expect(html).not.toMatch(/(?:src|href|action)="(?!\/)/);
      expect(html).toContain('<link rel="stylesheet" href="/static/app.css">');
    },
  );

  it.each(DASHBOARD_PAGES.map((p) => [p.name, p.html] as const))('%s labels every form field', (_name, html) => {
    const labelled = new Set([...html.matchAll(/<label for="([^"]+)">[^<]+<\/label>/g)].map((m) => m[1]));
    const fields = [...html.matchAll(/<(input|select|textarea)\b([^>]*)>/g)];
    for (const [tag, , attributes = ''] of fields) {
      const id = /\bid="([^"]+)"/.exec(attributes)?.[1];
      expect(id, `${tag} without id`).toBeDefined();
      expect(labelled.has(id), `no <label for="${id}">`).toBe(true);
      expect(attributes).toMatch(/\bname="[^"]+"/);
    }
    const ids = [...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('each form has the fields its API call needs', () => {
    const fieldsOf = (name: string) => {
      const html = DASHBOARD_PAGES.find((p) => p.name === name)?.html ?? '';
      return [...html.matchAll(/<(?:input|select)\b[^>]*\bname="([^"]+)"/g)].map((m) => m[1]);
    };
    expect(fieldsOf('login')).toEqual(['username', 'password']);
    expect(fieldsOf('register')).toEqual(['username', 'email', 'password']);
    expect(fieldsOf('product-new')).toEqual(['name', 'price', 'stock', 'category']);
    expect(fieldsOf('product-edit')).toEqual(['name', 'price', 'stock', 'category']);
    expect(fieldsOf('users')).toEqual(['username', 'email', 'password', 'role']);
    expect(fieldsOf('dashboard')).toEqual(['q', 'category', 'pageSize']);
  });

  it('leaves the API as it was: unknown paths are JSON 404s, products still need a token', async () => {
    expect((await call(stack.web, 'GET', '/app/nothing-here')).body.error.code).toBe('NOT_FOUND');
    expect((await call(stack.web, 'GET', '/products')).status).toBe(401);
    expect((await call(stack.web, 'GET', '/docs')).body).toContain('/app/');
  });
});

describe('static assets', () => {
  it.each([
    ['/static/app.css', 'text/css; charset=utf-8'],
    ['/static/app.js', 'text/javascript; charset=utf-8'],
  ])('serves %s as %s, revalidated by ETag', async (path, type) => {
    const first = await fetch(`${stack.web.url}${path}`);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe(type);
    expect(first.headers.get('x-content-type-options')).toBe('nosniff');
    expect(first.headers.get('cache-control')).toBe('no-cache');
    expect((await first.text()).length).toBeGreaterThan(1000);
    const etag = first.headers.get('etag') ?? '';
    expect(etag).not.toBe('');
    // As a browser revalidates (fetch alone would add Cache-Control: no-cache to a conditional request).
    const again = await fetch(`${stack.web.url}${path}`, {
      headers: { 'if-none-match': etag, 'cache-control': 'max-age=0' },
    });
    expect(again.status).toBe(304);
  });

  it('app.js compiles, reaches only this origin and never renders data as markup', async () => {
    const served = await (await fetch(`${stack.web.url}/static/app.js`)).text();
    expect(served).toBe(APP_JS);
    expect(() => new Script(APP_JS, { filename: 'app.js' })).not.toThrow();
    expect(APP_JS).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/);
    expect(APP_JS).not.toMatch(/https?:\/\//);
    expect(APP_JS).not.toMatch(/localStorage/);
    // Every element id the script looks up exists on some page.
    const allHtml = DASHBOARD_PAGES.map((p) => p.html).join('\n');
    for (const [, id] of APP_JS.matchAll(/byId\('([^']+)'\)/g)) expect(allHtml).toContain(`id="${id}"`);
    // Every page's data-page has code in the script.
    for (const page of DASHBOARD_PAGES)
      expect(APP_JS).toMatch(new RegExp(`pages(\\.${page.name}|\\['${page.name}'\\]) = function`));
  });

  it('app.css loads no fonts or images from anywhere', async () => {
    const css = await (await fetch(`${stack.web.url}/static/app.css`)).text();
    expect(css).not.toMatch(/@import|url\(|@font-face/);
  });
});

interface ListState {
  q: string;
  category: string;
  sort: string;
  order: string;
  page: number;
  pageSize: number;
}

/** The helpers CORE_JS returns, as the browser gets them. */
interface Core {
  PAGE_SIZES: number[];
  parseListState(search: string): ListState;
  listQuery(state: ListState): string;
  nextSort(state: ListState, field: string): ListState;
  pageInfo(
    state: ListState,
    total: number,
  ): { from: number; to: number; lastPage: number; hasPrevious: boolean; hasNext: boolean; depthLimited: boolean };
  partialMessage(listing: unknown): string | null;
  describeError(
    status: number,
    body: unknown,
    retryAfter: string | null,
  ): { status: number; code: string | null; field: string | null; message: string };
  productPayload(values: Record<string, string>): Record<string, unknown>;
  formatPrice(price: number): string;
  productIdFromPath(pathname: string): string | null;
  editPath(id: string): string;
}

// The shipped text itself is what is tested, not a TypeScript twin of it.
const core = new Function(CORE_JS)() as Core;

describe('page logic (the same text app.js runs)', () => {
  it('reads the table state from the address, with defaults for what is missing or not offered', () => {
    expect(core.parseListState('')).toEqual({ q: '', category: '', sort: 'name', order: 'asc', page: 1, pageSize: 20 });
    expect(core.parseListState('?q=%20arr%20&category=granos&sort=price&order=desc&page=3&pageSize=50')).toEqual({
      q: 'arr',
      category: 'granos',
      sort: 'price',
      order: 'desc',
      page: 3,
      pageSize: 50,
    });
    expect(core.parseListState('?sort=color&order=up&page=-2&pageSize=7')).toEqual({
      q: '',
      category: '',
      sort: 'name',
      order: 'asc',
      page: 1,
      pageSize: 20,
    });
    // Deeper than the API allows: the last page it will serve.
    expect(core.parseListState('?page=999999&pageSize=100').page).toBe(MAX_LISTING_DEPTH / 100);
  });

  it('offers page sizes the API accepts', () => {
    expect(Math.max(...core.PAGE_SIZES)).toBeLessThanOrEqual(MAX_PAGE_SIZE);
    const html = DASHBOARD_PAGES.find((p) => p.name === 'dashboard')?.html ?? '';
    const options = /<select id="page-size"[^>]*>(.*?)<\/select>/.exec(html)?.[1] ?? '';
    expect([...options.matchAll(/<option>(\d+)<\/option>/g)].map((m) => Number(m[1]))).toEqual([...core.PAGE_SIZES]);
  });

  it('builds the listing query, round-tripping through the address', () => {
    const state = { q: 'ñame & co', category: '', sort: 'stock', order: 'desc', page: 2, pageSize: 10 };
    const query = core.listQuery(state);
    expect(query).toBe('q=%C3%B1ame+%26+co&sort=stock&order=desc&page=2&pageSize=10');
    expect(core.parseListState(`?${query}`)).toEqual(state);
  });

  it('sorts: the same column flips, another column starts ascending, both go back to page 1', () => {
    const state = core.parseListState('?sort=price&order=asc&page=4');
    expect(core.nextSort(state, 'price')).toMatchObject({ sort: 'price', order: 'desc', page: 1 });
    expect(core.nextSort(core.nextSort(state, 'price'), 'price')).toMatchObject({ order: 'asc' });
    expect(core.nextSort({ ...state, order: 'desc' }, 'stock')).toMatchObject({ sort: 'stock', order: 'asc', page: 1 });
  });

  it('paginates within the total and the API depth limit', () => {
    const at = (page: number, pageSize = 20) => ({ ...core.parseListState(''), page, pageSize });
    expect(core.pageInfo(at(1), 0)).toEqual({
      from: 0,
      to: 0,
      lastPage: 1,
      hasPrevious: false,
      hasNext: false,
      depthLimited: false,
    });
    expect(core.pageInfo(at(1), 45)).toMatchObject({ from: 1, to: 20, lastPage: 3, hasPrevious: false, hasNext: true });
    expect(core.pageInfo(at(3), 45)).toMatchObject({ from: 41, to: 45, hasPrevious: true, hasNext: false });
    const deep = core.pageInfo(at(MAX_LISTING_DEPTH / 100, 100), MAX_LISTING_DEPTH + 500);
    expect(deep).toMatchObject({ hasNext: false, depthLimited: true, lastPage: MAX_LISTING_DEPTH / 100 + 5 });
  });

  it('names the missing shards of a partial listing', () => {
    expect(core.partialMessage({ partial: false, missingShards: [] })).toBeNull();
    expect(core.partialMessage({ partial: true, missingShards: ['rsB'] })).toMatch(
      /^Partial results: shard rsB did not answer, so its products are missing/,
    );
    expect(core.partialMessage({ partial: true, missingShards: ['rsA', 'rsB'] })).toMatch(
      /shards rsA, rsB did not answer, so their products/,
    );
  });

  it('puts every kind of API failure into words, keeping the field of a 400', async () => {
    const login = await call(stack.web, 'POST', '/auth/login', {
      body: { username: 'nobody', password: 'whatever-pass' },
    });
    const token = (await registerAndLogin()).token;
    const invalid = await call(stack.web, 'POST', '/products', {
      token,
      body: { name: 'Arroz', price: -1, stock: 1, category: 'c' },
    });
    const forbidden = await call(stack.web, 'GET', '/users', { token });
    const missing = await call(stack.web, 'GET', '/products/no-such-id', { token });
    stack.rsB.down = true;
    const down = await call(stack.web, 'POST', '/products', {
      token,
      body: { name: 'Pan', price: 1, stock: 1, category: 'c' },
    }).finally(() => {
      stack.rsB.down = false;
    });

    expect(core.describeError(invalid.status, invalid.body, null)).toEqual({
      status: 400,
      code: 'VALIDATION_FAILED',
      field: 'price',
      message: 'Not accepted: price: must be a number ≥ 0.',
    });
    expect(core.describeError(login.status, login.body, null).message).toMatch(/^Not logged in: .+\.$/);
    expect(core.describeError(forbidden.status, forbidden.body, null).message).toMatch(/^Not allowed: .*admin/);
    expect(core.describeError(missing.status, missing.body, null).message).toBe(
      'Not found: no product with id no-such-id.',
    );
    const unavailable = core.describeError(down.status, down.body, null);
    expect(unavailable.code).toBe('DATABASE_UNAVAILABLE');
    expect(unavailable.message).toMatch(
      /^Temporarily unavailable \(database rsB unreachable\): could not create the product: rsB unreachable/,
    );
    expect(
      core.describeError(429, { error: { code: 'TOO_MANY_ATTEMPTS', message: 'too many failed logins' } }, '42')
        .message,
    ).toBe('Too many failed attempts (too many failed logins); try again in 42 seconds.');
    expect(core.describeError(0, { error: { message: 'Failed to fetch' } }, null).message).toBe(
      'Could not reach the web-server (Failed to fetch). Check the connection and retry.',
    );
    expect(core.describeError(502, 'Bad gateway', null).message).toBe('The server answered 502.');
    expect(
      core.describeError(409, { error: { code: 'VERSION_CONFLICT', message: 'changed', current: {} } }, null).message,
    ).toBe(
      'Not saved: someone else changed this product while you were editing it. The form now shows its current values; make your change again and save.',
    );
  });

  it('turns form values into the API body, leaving non-numbers for the API to refuse', async () => {
    expect(core.productPayload({ name: ' Arroz ', price: '1.50', stock: '10', category: ' granos ' })).toEqual({
      name: 'Arroz',
      price: 1.5,
      stock: 10,
      category: 'granos',
    });
    const typo = core.productPayload({ name: 'Arroz', price: '1,5', stock: '', category: 'granos' });
    expect(typo).toEqual({ name: 'Arroz', price: '1,5', stock: '', category: 'granos' });
    const { token } = await registerAndLogin();
    const refused = await call(stack.web, 'POST', '/products', { token, body: typo });
    expect(core.describeError(refused.status, refused.body, null)).toMatchObject({
      field: 'price',
      message: 'Not accepted: price: must be a number.',
    });
  });

  it('formats prices without rounding them away and maps edit paths both ways', () => {
    expect([1.5, 2, 1.255, 0].map(core.formatPrice)).toEqual(['1.50', '2.00', '1.255', '0.00']);
    const id = 'a/b c';
    expect(core.editPath(id)).toBe('/app/products/a%2Fb%20c/edit');
    expect(core.productIdFromPath(core.editPath(id))).toBe(id);
    expect(core.productIdFromPath('/app/products/new')).toBeNull();
    expect(core.productIdFromPath('/app/products/%E0%A4%A/edit')).toBeNull();
  });
});

let account: Promise<{ token: string }> | undefined;
/** One user for the tests that need a token, registered once. */
function registerAndLogin(): Promise<{ token: string }> {
  account ??= (async () => {
    expect(
      (
        await call(stack.web, 'POST', '/auth/register', {
          body: { username: 'pagetester', email: 'p@example.com', password: 'page-tester-pass' },
        })
      ).status,
    ).toBe(201);
    const login = await call(stack.web, 'POST', '/auth/login', {
      body: { username: 'pagetester', password: 'page-tester-pass' },
    });
    return { token: login.body.token as string };
  })();
  return account;
}
