import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { DistctlError } from '../errors/index.js';

/** Who holds a deployment's lock. */
interface LockOwner {
  readonly pid: number;
  readonly command: string;
  readonly since: string;
}

/**
 * Takes the deployment's lock for a command that changes it (up, deploy,
 * expose, down), so two runs never converge the same deployment at once. A
 * lock left by a process that no longer exists is taken over. Returns the
 * release function.
 */
export async function lockDeployment(stateDir: string, command: string, isAlive: (pid: number) => boolean = processAlive): Promise<() => Promise<void>> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, 'lock');
  const owner: LockOwner = { pid: process.pid, command, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, JSON.stringify(owner), { flag: 'wx', mode: 0o600 });
      return async () => {
        await rm(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = await readOwner(path);
    if (holder && isAlive(holder.pid)) {
      throw new DistctlError('DEPLOYMENT_BUSY', `another distctl (pid ${holder.pid}, \`${holder.command}\`, since ${holder.since}) is changing this deployment`, {
        hint: `Wait for it to finish. If no such process runs any more, remove ${path}.`,
      });
    }
    await rm(path, { force: true });
  }
  throw new DistctlError('DEPLOYMENT_LOCK_FAILED', `could not take the deployment lock ${path}`, { hint: 'Another distctl may be starting at the same moment; run the command again.' });
}

/** The lock file's content as written by this module; anything else reads as "unknown owner". */
const LockOwnerRecord = z.object({ pid: z.number(), command: z.string(), since: z.string() });

async function readOwner(path: string): Promise<LockOwner | null> {
  try {
    return LockOwnerRecord.safeParse(JSON.parse(await readFile(path, 'utf8'))).data ?? null;
  } catch {
    return null;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
