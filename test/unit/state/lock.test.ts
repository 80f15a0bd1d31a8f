import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DistctlError } from '../../../src/errors/index.js';
import { lockDeployment } from '../../../src/state/lock.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distctl-lock-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
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
  });

  it('takes a lock whose file a dead process left, and keeps the file (0600) on release', async () => {
    await writeFile(join(dir, 'lock'), JSON.stringify({ pid: 999_999, command: 'up', since: 'earlier' }));
    const release = await lockDeployment(dir, 'down');
    expect(JSON.parse(await readFile(join(dir, 'lock'), 'utf8'))).toMatchObject({ pid: process.pid, command: 'down' });
    await release();
    expect((await stat(join(dir, 'lock'))).mode & 0o777).toBe(0o600);
  });

  it('is released by the kernel when its holder is killed', async () => {
    // Another process holds the lock through flock(1) on the same file, as a killed distctl's child would.
    await writeFile(join(dir, 'lock'), '', { mode: 0o600 });
    const holder = spawn('flock', ['--exclusive', join(dir, 'lock'), 'sh', '-c', 'echo locked && exec cat'], {
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
