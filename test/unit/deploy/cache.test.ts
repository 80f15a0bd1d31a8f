import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bundleService } from '../../../src/deploy/bundle.js';
import { hostNode } from '../../../src/deploy/node-runtime.js';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distctl-cache-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the bundle cache', () => {
  /** A services tree with a one-line auth service, and the cache directory. */
  async function tree(): Promise<{ root: string; cache: string; entry: string }> {
    const root = join(dir, 'services');
    await mkdir(join(root, 'auth'), { recursive: true });
    const entry = join(root, 'auth', 'main.ts');
    await writeFile(entry, "console.log('auth v1');\n");
    return { root, cache: join(dir, 'cache'), entry };
  }

  /** A cache's one record, as written. */
  interface Record {
    inputs: [string, number, number][];
    hash: string;
  }

  async function recordFile(cache: string): Promise<string> {
    return join(cache, (await readdir(cache)).find((file) => file.endsWith('.json')) ?? '');
  }

  /**
   * Replaces the cached code and its record (the code file's size and mtime, and the hash: `hash` when given)
   * so that a bundle served from the cache is recognisable.
   */
  async function markCached(cache: string, hash?: string): Promise<void> {
    const record = await recordFile(cache);
    const code = record.replace(/\.json$/, '.mjs');
    const marked = 'console.log("served from the cache");\n';
    await writeFile(code, marked);
    const { size, mtimeMs } = await stat(code);
    const cached = JSON.parse(await readFile(record, 'utf8')) as Record;
    const inputs = cached.inputs.map(([path, ...rest]) => (path === code ? [path, size, mtimeMs] : [path, ...rest]));
    await writeFile(record, JSON.stringify({ inputs, hash: hash ?? sha256(marked) }));
  }

  it('serves an unchanged service from the cache, and bundles again once a source file changes', async () => {
    const { root, cache, entry } = await tree();
    const first = await bundleService('auth', root, { dir: cache });
    expect(first.code).toContain('auth v1');
    await markCached(cache);

    expect((await bundleService('auth', root, { dir: cache })).code).toBe('console.log("served from the cache");\n');

    await writeFile(entry, "console.log('auth v2');\n");
    const changed = await bundleService('auth', root, { dir: cache });
    expect(changed.code).toContain('auth v2');
    expect(changed.hash).toBe(sha256(changed.code));
  });

  it('bundles again after a new mtime alone, or when the cached code does not match its record', async () => {
    const { root, cache, entry } = await tree();
    await bundleService('auth', root, { dir: cache });
    await markCached(cache);
    await utimes(entry, new Date(), new Date(Date.now() + 5_000));
    expect((await bundleService('auth', root, { dir: cache })).code).toContain('auth v1');

    const files = await readdir(cache);
    await writeFile(join(cache, files.find((file) => file.endsWith('.mjs')) ?? ''), 'tampered');
    expect((await bundleService('auth', root, { dir: cache })).code).toContain('auth v1');
  });

  it("trusts an unchanged code file's recorded hash instead of hashing its megabytes on every run", async () => {
    const { root, cache } = await tree();
    await bundleService('auth', root, { dir: cache });
    await markCached(cache, 'f'.repeat(64));
    const served = await bundleService('auth', root, { dir: cache });
    expect(served).toEqual({ kind: 'auth', code: 'console.log("served from the cache");\n', hash: 'f'.repeat(64) });
  });

  it('bundles again when the record does not list the code file (written by an older distctl)', async () => {
    const { root, cache } = await tree();
    await bundleService('auth', root, { dir: cache });
    await markCached(cache);
    const record = await recordFile(cache);
    const cached = JSON.parse(await readFile(record, 'utf8')) as Record;
    const inputs = cached.inputs.filter(([path]) => !path.endsWith('.mjs'));
    expect(inputs).toHaveLength(cached.inputs.length - 1);
    await writeFile(record, JSON.stringify({ ...cached, inputs }));
    expect((await bundleService('auth', root, { dir: cache })).code).toContain('auth v1');
  });

  it('read only (plan): serves what the cache holds, and writes nothing when it holds nothing', async () => {
    const { root, cache } = await tree();
    expect((await bundleService('auth', root, { dir: cache, readOnly: true })).code).toContain('auth v1');
    expect(await readdir(dir)).toEqual(['services']);

    await bundleService('auth', root, { dir: cache });
    await markCached(cache);
    expect((await bundleService('auth', root, { dir: cache, readOnly: true })).code).toBe(
      'console.log("served from the cache");\n',
    );
  });

  it('without a cache directory, always bundles and writes nothing', async () => {
    const { root } = await tree();
    expect((await bundleService('auth', root)).code).toContain('auth v1');
    expect(await readdir(dir)).toEqual(['services']);
  });
});

describe('the Node digest cache', () => {
  it("reuses a recorded digest while the binary's size and mtime stay, and hashes again after a change", async () => {
    const binary = join(dir, 'node');
    await writeFile(binary, 'node build one');
    const cache = join(dir, 'cache');
    expect((await hostNode(binary, 'v20.20.2', { dir: cache })).sha256).toBe(sha256('node build one'));

    const file = join(cache, 'file-digests.json');
    const recorded = JSON.parse(await readFile(file, 'utf8')) as Record<string, string>;
    expect(Object.values(recorded)).toEqual([sha256('node build one')]);
    await writeFile(
      file,
      JSON.stringify(Object.fromEntries(Object.keys(recorded).map((key) => [key, 'f'.repeat(64)]))),
    );
    expect((await hostNode(binary, 'v20.20.2', { dir: cache })).sha256).toBe('f'.repeat(64));

    await writeFile(binary, 'node build two, longer');
    expect((await hostNode(binary, 'v20.20.2', { dir: cache })).sha256).toBe(sha256('node build two, longer'));
  });
});
