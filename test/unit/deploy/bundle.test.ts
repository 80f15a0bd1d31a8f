// The bundles distctl pushes must run under plain `node` with nothing but the
// environment contract: no node_modules next to them, no TypeScript loader.
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleService } from '../../../src/deploy/bundle.js';
import { DistctlError } from '../../../src/errors/index.js';
import { announcedPort, deadPeer, type DeadPeer } from '../../support/ports.js';

let dir: string;
const children: ChildProcess[] = [];
const peers: DeadPeer[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distctl-bundle-'));
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(peers.map((peer) => peer.close()));
  await rm(dir, { recursive: true, force: true });
});

/** Starts `node file` from an empty directory with exactly `env`, and collects its output. */
function start(
  file: string,
  env: Record<string, string>,
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [file], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function getJson(url: string, deadlineMs: number): Promise<{ status: number; body: unknown }> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      return { status: response.status, body: await response.json() };
    } catch (error) {
      if (Date.now() > until) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

const JWT_SECRET = 'x'.repeat(48);

describe('service bundles', () => {
  it('the web service bundles into one ES module that serves /health under plain node', async () => {
    const bundle = await bundleService('web');
    expect(bundle.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(bundle.code).not.toMatch(/from ["']express["']|require\(["']express["']\)/);
    const file = join(dir, 'web-main.mjs');
    await writeFile(file, bundle.code);
    // The shards and the auth-server are down: peers that hold their ports and drop every connection.
    const [db1, db2, auth] = await Promise.all([deadPeer(), deadPeer(), deadPeer()]);
    peers.push(db1, db2, auth);
    const [deadPort1, deadPort2, deadAuth] = [db1.port, db2.port, auth.port];
    const service = start(file, {
      PORT: '0',
      HOST: '127.0.0.1',
      JWT_SECRET,
      AUTH_SERVER_URL: `http://127.0.0.1:${deadAuth}`,
      SHARD_MAP: JSON.stringify({
        defaultShard: 'rsA',
        ranges: [
          { from: 'A', to: 'M', shard: 'rsA' },
          { from: 'N', to: 'Z', shard: 'rsB' },
        ],
        shards: { rsA: { urlEnv: 'DB1_URL' }, rsB: { urlEnv: 'DB2_URL' } },
      }),
      DB1_URL: `mongodb://127.0.0.1:${deadPort1}/products_db?replicaSet=rsA`,
      DB2_URL: `mongodb://127.0.0.1:${deadPort2}/products_db?replicaSet=rsB`,
    });
    const port = await announcedPort(service.child.stdout!).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${service.output()}`);
    });
    const health = await getJson(`http://127.0.0.1:${port}/health`, 10_000).catch((error: unknown) => {
      throw new Error(`bundle did not serve /health: ${String(error)}\n${service.output()}`);
    });
    expect(health).toEqual({ status: 200, body: { status: 'ok' } });
    const ready = await getJson(`http://127.0.0.1:${port}/ready`, 10_000);
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ shards: { rsA: 'unreachable', rsB: 'unreachable' }, authServer: 'unreachable' });
    service.child.kill('SIGTERM');
    expect(await service.exited).toBe(0);
  });

  it('the auth service bundle stops with one line on stderr when its environment is incomplete', async () => {
    const bundle = await bundleService('auth');
    const file = join(dir, 'auth-main.mjs');
    await writeFile(file, bundle.code);
    const service = start(file, { PORT: '5000' });
    expect(await service.exited).toBe(1);
    expect(service.output()).toMatch(/^auth-server: cannot start: JWT_SECRET must be set/);
  });

  it('an unchanged copy of the sources elsewhere bundles byte-identical; a changed one does not', async () => {
    const repo = fileURLToPath(new URL('../../../', import.meta.url));
    // Inside the checkout, so the copy's imports resolve from node_modules like the originals'.
    const copy = join(repo, 'tmp', `unit-bundle-${process.pid}`);
    try {
      for (const part of ['services', 'errors', 'derive'])
        await cp(join(repo, 'src', part), join(copy, part), { recursive: true });
      const original = await bundleService('auth');
      expect((await bundleService('auth', join(copy, 'services'))).hash).toBe(original.hash);
      const main = join(copy, 'services', 'auth', 'main.ts');
      await writeFile(
        main,
        (await readFile(main, 'utf8')).replace('auth-server listening on', 'auth-server (changed) listening on'),
      );
      expect((await bundleService('auth', join(copy, 'services'))).hash).not.toBe(original.hash);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  it('bundling is deterministic and fails with the file and line of a source error', async () => {
    expect((await bundleService('web')).hash).toBe((await bundleService('web')).hash);
    const broken = join(dir, 'broken');
    await mkdir(join(broken, 'auth'), { recursive: true });
    await writeFile(
      join(broken, 'auth', 'main.ts'),
      "import { nothing } from './missing.js';\nconsole.log(nothing);\n",
    );
    const error = await bundleService('auth', broken).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DistctlError);
    expect((error as DistctlError).code).toBe('SERVICE_BUNDLE_FAILED');
    expect((error as DistctlError).details.join('\n')).toMatch(/main\.ts:1:\d+: Could not resolve "\.\/missing\.js"/);
    const missing = await bundleService('web', broken).catch((caught: unknown) => caught);
    expect((missing as DistctlError).code).toBe('SERVICE_SOURCE_MISSING');
  });
});
