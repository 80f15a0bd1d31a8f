import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DistctlError } from '../../../src/errors/index.js';
import { openSecretStore, SecretStore } from '../../../src/secrets/store.js';

// Root reads every file, so a permission error is simulated at the fs seam.
const denied = vi.hoisted(() => ({ paths: new Set<string>() }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const refuse = (path: unknown) => {
    const error = Object.assign(new Error(`EACCES: permission denied, '${String(path)}'`), { code: 'EACCES' });
    return Promise.reject(error);
  };
  return {
    ...real,
    stat: (path: string, ...rest: unknown[]) =>
      [...denied.paths].some((p) => String(path).startsWith(p))
        ? refuse(path)
        : (real.stat as (...a: unknown[]) => unknown)(path, ...rest),
    mkdir: (path: string, ...rest: unknown[]) =>
      [...denied.paths].some((p) => String(path).startsWith(p))
        ? refuse(path)
        : (real.mkdir as (...a: unknown[]) => unknown)(path, ...rest),
  };
});

describe('SecretStore.openReadOnly (status, plan, doctor)', () => {
  let root = '';
  beforeEach(async () => {
    root = await fs.mkdtemp(join(tmpdir(), 'distctl-secrets-ro-'));
  });
  afterEach(async () => {
    denied.paths.clear();
    await fs.rm(root, { recursive: true, force: true });
  });

  it('creates nothing: a deployment that never ran `up` has no secret and no directory', async () => {
    const dir = join(root, 'state', 'plat', 'secrets');
    const store = SecretStore.openReadOnly(dir);
    expect(await store.peek('mongodb-admin-password')).toBeUndefined();
    expect(existsSync(join(root, 'state'))).toBe(false);
    await expect(store.get('jwt-secret')).rejects.toThrow(/read-only/);
    expect(existsSync(join(root, 'state'))).toBe(false);
  });

  it('reads what `up` stored without re-moding it', async () => {
    const dir = join(root, 'secrets');
    const value = await (await openSecretStore(dir)).get('jwt-secret');
    await fs.chmod(join(dir, 'jwt-secret'), 0o640);
    expect(await SecretStore.openReadOnly(dir).peek('jwt-secret')).toBe(value);
    expect((await fs.stat(join(dir, 'jwt-secret'))).mode & 0o777).toBe(0o640);
  });

  it('turns a permission error into a clear message that says whose directory it is (not an internal error)', async () => {
    const dir = join(root, 'secrets');
    denied.paths.add(dir);
    const error = await SecretStore.openReadOnly(dir)
      .peek('jwt-secret')
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DistctlError);
    expect((error as DistctlError).code).toBe('STATE_PERMISSION_DENIED');
    expect((error as DistctlError).message).toContain(`permission denied on the deployment's state directory ${dir}`);
    expect((error as DistctlError).hint).toContain('sudo');
    const opening = await openSecretStore(dir).catch((caught: unknown) => caught);
    expect((opening as DistctlError).code).toBe('STATE_PERMISSION_DENIED');
  });
});
