import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
    expect((error as DistctlError).message).toMatch(new RegExp(`^another distctl \\(pid ${process.pid}, \`up\`, since `));
    await release();
    const again = await lockDeployment(dir, 'deploy');
    await again();
  });

  it('takes over a lock whose process is gone', async () => {
    await writeFile(join(dir, 'lock'), JSON.stringify({ pid: 999_999, command: 'up', since: 'earlier' }));
    const release = await lockDeployment(dir, 'down', (pid) => pid !== 999_999);
    expect(JSON.parse(await readFile(join(dir, 'lock'), 'utf8'))).toMatchObject({ pid: process.pid, command: 'down' });
    await release();
  });
});
