import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSecretStore, randomSecret } from '../../../src/secrets/store.js';

describe('SecretStore', () => {
  let root = '';
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'distctl-secrets-'));
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  it('generates a value once and returns the same value ever after, also from a new instance', async () => {
    const dir = join(root, 'deployment', 'secrets');
    const store = await openSecretStore(dir);
    const first = await store.get('jwt-secret');
    expect(await store.get('jwt-secret')).toBe(first);
    expect(await (await openSecretStore(dir)).get('jwt-secret')).toBe(first);
    expect(await readFile(join(dir, 'jwt-secret'), 'utf8')).toBe(first);
    expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('keeps the directory at 0700 and files at 0600, leaving no temporary files', async () => {
    const dir = join(root, 's');
    const store = await openSecretStore(dir);
    await store.get('a');
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'a'))).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['a']);
  });

  it('tightens a directory and files that were left readable by others', async () => {
    const dir = join(root, 'loose');
    await (await openSecretStore(dir)).get('a');
    await chmod(dir, 0o755);
    await chmod(join(dir, 'a'), 0o644);
    await (await openSecretStore(dir)).get('a');
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'a'))).mode & 0o777).toBe(0o600);
  });

  it('hands concurrent callers the same value', async () => {
    const store = await openSecretStore(join(root, 'c'));
    const values = await Promise.all(Array.from({ length: 8 }, () => store.get('shared')));
    expect(new Set(values).size).toBe(1);
  });

  it('uses a custom generator only the first time', async () => {
    const store = await openSecretStore(join(root, 'g'));
    let calls = 0;
    const generate = (): string => `value-${++calls}`;
    expect(await store.get('k', generate)).toBe('value-1');
    expect(await store.get('k', generate)).toBe('value-1');
    expect(calls).toBe(1);
  });

  it('rejects names that would escape the directory', async () => {
    const store = await openSecretStore(join(root, 'n'));
    await expect(store.get('../escape')).rejects.toThrow(/not a valid secret name/);
    await expect(store.get('.hidden')).rejects.toThrow(/not a valid secret name/);
  });

  it('refuses a store path that is a file', async () => {
    const file = join(root, 'file');
    await writeFile(file, 'x');
    await expect(openSecretStore(file)).rejects.toThrow();
  });

  it('generates distinct random values', () => {
    expect(randomSecret()).not.toBe(randomSecret());
  });
});
