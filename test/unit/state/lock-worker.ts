/**
 * A separate process for the lock race test: reads commands on stdin, one a
 * line — `try DIR` takes the deployment lock of DIR and answers `held` or
 * `busy CODE`; `remove DIR` deletes DIR as `down` deletes a deployment's
 * state, lock held, and answers `removed`; `release` releases the lock and
 * answers `released`.
 */
import { rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { DistctlError } from '../../../src/errors/index.js';
import { lockDeployment } from '../../../src/state/lock.js';

let release: (() => Promise<void>) | null = null;
for await (const line of createInterface({ input: process.stdin })) {
  const [verb, dir] = line.split(' ');
  if (verb === 'try' && dir) {
    try {
      release = await lockDeployment(dir, 'race');
      process.stdout.write('held\n');
    } catch (error) {
      process.stdout.write(`busy ${error instanceof DistctlError ? error.code : String(error)}\n`);
    }
  } else if (verb === 'remove' && dir) {
    await rm(dir, { recursive: true, force: true });
    process.stdout.write('removed\n');
  } else if (verb === 'release' && release) {
    await release();
    release = null;
    process.stdout.write('released\n');
  }
}
