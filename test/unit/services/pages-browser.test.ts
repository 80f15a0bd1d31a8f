/**
 * The dashboard in a real headless Chromium against web-server + auth-server
 * on loopback with in-memory shards: log in, create a product, see it in the
 * table with its shard, errors, the partial-listing banner and edit conflicts
 * in words, and no Content-Security-Policy violation. Each test has its own
 * services, browser context and page, so no test depends on another's state.
 * Needs Debian's `chromium` (CHROMIUM_BIN overrides the path); without it the
 * file says so and skips. DASHBOARD_SCREENSHOTS=<dir> saves a PNG of pages visited.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureAdmin } from '../../../src/services/auth/bootstrap.js';
import { call, startStack } from './helpers.js';

const chromiumBin = process.env['CHROMIUM_BIN'] ?? '/usr/bin/chromium';
const available = existsSync(chromiumBin);
if (!available)
  console.log(
    `dashboard browser test skipped: no Chromium at ${chromiumBin} (apt-get install chromium, or set CHROMIUM_BIN)`,
  );

const screenshots = process.env['DASHBOARD_SCREENSHOTS'];

describe.skipIf(!available)('the dashboard in headless Chromium', () => {
  let browser: Browser;
  let stack: Awaited<ReturnType<typeof startStack>>;
  let context: BrowserContext;
  let page: Page;
  let cspViolations: string[];

  async function snap(name: string): Promise<void> {
    if (!screenshots) return;
    mkdirSync(screenshots, { recursive: true });
    await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
  }

  /** Logs in as root through the login page and waits for the product list. */
  async function logIn(): Promise<void> {
    await page.goto(`${stack.web.url}/app/login`);
    await page.getByLabel('Username').fill('root');
    await page.getByLabel('Password').fill('root-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL('**/app/');
    await expect.poll(() => page.locator('#who').textContent()).toBe('root (admin)');
  }

  /** The token the page holds (expressions as strings: they run in the page, and this project has no DOM types). */
  async function pageToken(): Promise<string> {
    return String(await page.evaluate("sessionStorage.getItem('distctl.token')"));
  }

  async function createProducts(products: readonly (readonly [string, number])[]): Promise<string[]> {
    const token = await pageToken();
    const ids: string[] = [];
    for (const [name, price] of products) {
      const res = await call(stack.web, 'POST', '/products', { token, body: { name, price, stock: 1, category: 'c' } });
      expect(res.status).toBe(201);
      ids.push(res.body.id as string);
    }
    return ids;
  }

  beforeAll(async () => {
    // playwright gives the browser a fresh temporary profile of its own and removes it on close.
    browser = await chromium.launch({
      executablePath: chromiumBin,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    stack = await startStack();
    await ensureAdmin(stack.users, 'root', 'root-password', () => new Date());
    context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
    page = await context.newPage();
    cspViolations = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
    });
  }, 30_000);
  afterEach(async () => {
    expect(cspViolations).toEqual([]);
    await context?.close();
    await stack?.close();
  });

  it('sends a visitor without a session to the login page, and refuses a wrong password in words', async () => {
    await page.goto(`${stack.web.url}/`);
    await page.waitForURL('**/app/login');
    await page.getByLabel('Username').fill('root');
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => page.locator('#notice').textContent()).toMatch(/^Not logged in: .+/);
    await snap('login-error');
  });

  it('logs in, creates a product and shows it in the table on its shard, as text', async () => {
    await logIn();
    expect(await page.locator('#nav-users').isVisible()).toBe(true);
    await page.getByRole('link', { name: 'Add product' }).first().click();
    await page.waitForURL('**/app/products/new');
    await page.getByLabel('Name').fill('Ñandú <b>bold</b>');
    await page.getByLabel('Price').fill('2.5');
    await page.getByLabel('Stock').fill('3');
    await page.getByLabel('Category').fill('aves');
    await page.getByRole('button', { name: 'Create product' }).click();
    await page.waitForURL('**/app/');
    await expect.poll(() => page.locator('#notice').textContent()).toBe('Created "Ñandú <b>bold</b>" on shard rsB.');
    const row = page.locator('#product-rows tr', { hasText: 'Ñandú' });
    await expect
      .poll(() => row.locator('td').allTextContents())
      .toEqual(['Ñandú <b>bold</b>', '2.50', '3', 'aves', 'rsB', 'Delete']);
    expect(await page.locator('#product-rows b').count()).toBe(0);
    await snap('dashboard');
  });

  it('sorts by a column and keeps the state in the address', async () => {
    await logIn();
    await createProducts([
      ['Arroz', 1],
      ['Ñandú', 2.5],
      ['Miel', 7],
      ['Zumo', 4],
    ]);
    await page.reload();
    await page.getByRole('button', { name: 'Price' }).click();
    await expect
      .poll(() => page.locator('#product-rows tr td:first-child').allTextContents())
      .toEqual(['Arroz', 'Ñandú', 'Zumo', 'Miel']);
    await page.getByRole('button', { name: 'Price' }).click();
    await expect
      .poll(() => page.locator('#product-rows tr td:first-child').allTextContents())
      .toEqual(['Miel', 'Zumo', 'Ñandú', 'Arroz']);
    expect(page.url()).toContain('sort=price&order=desc');
    expect(
      await page.locator('th', { has: page.getByRole('button', { name: 'Price' }) }).getAttribute('aria-sort'),
    ).toBe('descending');
  });

  it('shows a banner naming the missing shard when a listing is partial', async () => {
    await logIn();
    await createProducts([
      ['Arroz', 1],
      ['Miel', 7],
      ['Zumo', 4],
    ]);
    stack.rsB.down = true;
    await page.goto(`${stack.web.url}/app/?sort=price&order=desc`);
    await expect
      .poll(() => page.locator('#partial').textContent())
      .toMatch(/^Partial results: shard rsB did not answer/);
    expect(await page.locator('#partial').isVisible()).toBe(true);
    await expect.poll(() => page.locator('#product-rows td:first-child').allTextContents()).toEqual(['Miel', 'Arroz']);
    await snap('dashboard-partial');
    stack.rsB.down = false;
    await page.reload();
    await expect
      .poll(() => page.locator('#product-rows td:first-child').allTextContents())
      .toEqual(['Miel', 'Zumo', 'Arroz']);
    expect(await page.locator('#partial').isVisible()).toBe(false);
  });

  it('edits a product into the other shard and reports a refused field on the field', async () => {
    await logIn();
    await createProducts([['Arroz', 1]]);
    await page.reload();
    await page.getByRole('link', { name: 'Arroz' }).click();
    await page.waitForURL('**/app/products/*/edit');
    await expect.poll(() => page.locator('#current-shard').textContent()).toBe('rsA');
    await page.getByLabel('Name').fill('   ');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(() => page.locator('#notice').textContent()).toBe('Not accepted: name: must not be empty.');
    expect(await page.getByLabel('Name').getAttribute('aria-invalid')).toBe('true');
    await snap('edit-error');
    await page.getByLabel('Name').fill('Pan');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.waitForURL((url) => url.pathname === '/app/');
    await expect.poll(() => page.locator('#notice').textContent()).toBe('Saved "Pan" (on shard rsB).');
  });

  it('shows an edit conflict in words with the current values, and saves on the second try', async () => {
    await logIn();
    const [id] = await createProducts([['Arroz', 1]]);
    await page.goto(`${stack.web.url}/app/products/${id}/edit`);
    await expect.poll(() => page.getByLabel('Price').inputValue()).toBe('1');
    // Someone else changes the price while the form is open.
    expect(
      (await call(stack.web, 'PUT', `/products/${id}`, { token: await pageToken(), body: { price: 3 } })).status,
    ).toBe(200);
    await page.getByLabel('Stock').fill('50');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect
      .poll(() => page.locator('#notice').textContent())
      .toMatch(/^Not saved: someone else changed this product/);
    expect(await page.getByLabel('Price').inputValue()).toBe('3');
    expect(await page.getByLabel('Stock').inputValue()).toBe('1');
    await snap('edit-conflict');
    await page.getByLabel('Stock').fill('50');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.waitForURL((url) => url.pathname === '/app/');
    expect((await call(stack.web, 'GET', `/products/${id}`, { token: await pageToken() })).body).toMatchObject({
      price: 3,
      stock: 50,
    });
  });

  it('lists and creates users for an admin', async () => {
    await logIn();
    await page.getByRole('link', { name: 'Users' }).click();
    await page.waitForURL('**/app/users');
    await expect.poll(() => page.locator('#user-rows tr td:first-child').allTextContents()).toEqual(['root']);
    await page.getByLabel('Username').fill('bob');
    await page.getByLabel('Email').fill('bob@example.com');
    await page.getByLabel('Password').fill('bob-password');
    await page.getByLabel('Role').selectOption('admin');
    await page.getByRole('button', { name: 'Create user' }).click();
    await expect.poll(() => page.locator('#notice').textContent()).toBe('Created user "bob" (admin).');
    await expect.poll(() => page.locator('#user-rows tr td:first-child').allTextContents()).toEqual(['bob', 'root']);
    await snap('users');
  });

  it('sends an invalid session back to the login page', async () => {
    await logIn();
    await page.evaluate("sessionStorage.setItem('distctl.token', 'not-a-token')");
    await page.reload();
    await page.waitForURL('**/app/login?reason=expired');
    await expect
      .poll(() => page.locator('#notice').textContent())
      .toBe('Your session has expired or is no longer valid; log in again.');
  });
});
