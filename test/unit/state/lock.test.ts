import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DistctlError } from '../../../src/errors/index.js';
import { lockDeployment, lockFile } from '../../../src/state/lock.js';

/** A state root of its own per test; the deployment's state directory and its lock file are in it. */
let root: string;
let dir: string;
let lock: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'distctl-lock-'));
  dir = join(root, 'demo');
  lock = join(root, 'locks', 'demo.lock');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('lockDeployment', () => {
  it('lets one command at a time change a deployment, naming the holder', async () => {
    const release = await lockDeployment(dir, 'up');
    const error = await lockDeployment(dir, 'deploy').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DistctlError);
    expect((error as DistctlError).code).toBe('DEPLOYMENT_BUSY');
    expect((error as DistctlError).message).toMatch(
      new RegExp(`^another distctl \\(pid ${process.pid}, \`up\`, since `),
    );
    await release();
    const again = await lockDeployment(dir, 'deploy');
    await again();
    expect((await stat(dirname(lock))).mode & 0o777).toBe(0o700);
  });

  it('keeps its file in the locks directory beside the state directory, not inside it', () => {
    expect(lockFile('/var/lib/distctl/distctl')).toBe('/var/lib/distctl/locks/distctl.lock');
    expect(lockFile(dir)).toBe(lock);
  });

  it('takes a lock whose file a dead process left, and keeps the file (0600) on release', async () => {
    await mkdir(dirname(lock), { recursive: true });
    await writeFile(lock, JSON.stringify({ pid: 999_999, command: 'up', since: 'earlier' }));
    const release = await lockDeployment(dir, 'down');
    expect(JSON.parse(await readFile(lock, 'utf8'))).toMatchObject({ pid: process.pid, command: 'down' });
    await release();
    expect((await stat(lock)).mode & 0o777).toBe(0o600);
  });

  it('is released by the kernel when its holder is killed', async () => {
    // Another process holds the lock through flock(1) on the same file, as a killed distctl's child would.
    await mkdir(dirname(lock), { recursive: true });
    await writeFile(lock, '', { mode: 0o600 });
    const holder = spawn('flock', ['--exclusive', lock, 'sh', '-c', 'echo locked && exec cat'], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    expect((await lockDeployment(dir, 'up').catch((caught: unknown) => caught)) as DistctlError).toMatchObject({
      code: 'DEPLOYMENT_BUSY',
    });
    const exited = new Promise<void>((resolve) => holder.once('exit', () => resolve()));
    holder.kill('SIGKILL');
    await exited;
    const release = await lockDeployment(dir, 'up');
    await release();
  });
});
